"""Portal reads. Every query starts from the signed-in customer, so another customer's rows are
never reachable through the portal."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models import QuerySet
from django.utils import timezone

from boxoffice.billing.models import Order
from boxoffice.billing.models import Subscription as BillingSubscription
from boxoffice.billing.subscriptions import subscription_payment_method_help
from boxoffice.catalog.models import Plan
from boxoffice.customers.models import Customer
from boxoffice.panels.adapters.base import LineAccess
from boxoffice.panels.services import line_access_for
from boxoffice.provisioning.lifecycle import line_offered_for_renewal
from boxoffice.provisioning.models import Line, PanelOperation
from boxoffice.provisioning.plan_changes import (
    BUSY_KINDS,
    OPEN_STATUSES,
    line_plan_change_refusal,
)

# Badge class per line status (site.css: badge-ok, badge-warn, badge-bad).
_BADGES = {
    Line.Status.ACTIVE: "badge-ok",
    Line.Status.RESERVED: "badge-warn",
    Line.Status.SUSPENDED: "badge-bad",
    Line.Status.EXPIRED: "badge-bad",
}


@dataclass(frozen=True)
class Subscription:
    line: Line
    status_label: str
    badge: str
    days_left: int | None  # whole calendar days until expiry; negative once past
    access: LineAccess | None  # only for active lines
    # Paid, not yet on the panel: the new expiry shows only once the panel confirms.
    renewal_on_its_way: bool = False
    # A change to its plan, connections or expiry is on its way (nothing more offered now).
    changing: bool = False
    # The gateway subscription renewing this line, if it was sold as auto-renewing.
    auto: BillingSubscription | None = None

    @property
    def auto_renews(self) -> bool:
        return self.auto is not None and self.line.auto_renew and self.auto.renews

    @property
    def auto_resumable(self) -> bool:
        """Cancelled at the period end, which has not come yet: it can still be resumed."""
        auto = self.auto
        return (
            auto is not None
            and auto.cancel_at_period_end
            and not auto.status == "canceled"
            and auto.current_period_end is not None
            and auto.current_period_end > timezone.now()
        )

    @property
    def auto_cancelled(self) -> bool:
        """Cancelled for good at a gateway that cancels at once (PayPal), within what was paid:
        nothing to resume, the line runs to its end."""
        auto, expires = self.auto, self.line.expires_at
        return (
            auto is not None
            and auto.cancel_at_period_end
            and not self.auto_resumable
            and expires is not None
            and expires > timezone.now()
        )

    @property
    def payment_method_help(self) -> str:
        return subscription_payment_method_help(self.auto) if self.auto is not None else ""

    @property
    def being_set_up(self) -> bool:
        return self.line.status == Line.Status.RESERVED

    @property
    def expiry_hint(self) -> str:
        days = self.days_left
        if days is None:
            return ""
        if days == 0:
            return "today"
        if days == 1:
            return "tomorrow"
        if days == -1:
            return "yesterday"
        return f"in {days} days" if days > 0 else f"{-days} days ago"

    @property
    def is_mag(self) -> bool:
        return self.line.device == "mag"

    @property
    def renewable(self) -> bool:
        return line_offered_for_renewal(self.line)

    @property
    def plan_changeable(self) -> bool:
        """Offered "Change plan": a running paid line (plan_changes.py)."""
        return not line_plan_change_refusal(self.line, operation="change_plan", busy=self.changing)

    @property
    def extra_connections_offered(self) -> bool:
        """Offered "Add a connection": its plan sells more than the line has."""
        plan = self.line.plan
        return (
            plan.sells_extra_connections
            and self.line.extra_connections < plan.max_extra_connections
            and not line_plan_change_refusal(
                self.line, operation="set_connections", busy=self.changing
            )
        )

    @property
    def renew_label(self) -> str:
        """ "Renew early" while the line still runs, "Renew" once it has stopped."""
        running = self.line.status == Line.Status.ACTIVE and (self.days_left or 0) >= 0
        return "Renew early" if running else "Renew"


def customer_lines(*, customer: Customer) -> QuerySet[Line]:
    return (
        Line.objects.filter(customer=customer)
        .select_related("plan", "panel", "next_plan")
        .order_by("-created_at", "-id")
    )


def customer_subscriptions(
    *, customer: Customer, now: datetime | None = None
) -> list[Subscription]:
    today = timezone.localdate(now or timezone.now())
    subscriptions = []
    # One read of the open operations that change plans, connections or expiry: the paid
    # renewals on their way, and the lines nothing more is offered for until they are done.
    renewing, busy = set(), set()
    for line_id, kind, status, params in PanelOperation.objects.filter(
        line__customer=customer, kind__in=BUSY_KINDS, status__in=OPEN_STATUSES
    ).values_list("line_id", "kind", "status", "params"):
        busy.add(line_id)
        running = status in (PanelOperation.Status.PENDING, PanelOperation.Status.RUNNING)
        if kind == PanelOperation.Kind.EXTEND and running and (params or {}).get("renewal"):
            renewing.add(line_id)
    autos: dict[int, BillingSubscription] = {}
    for auto in BillingSubscription.objects.filter(customer=customer, line__isnull=False).order_by(
        "created_at"
    ):
        autos[auto.line_id] = auto  # the newest per line
    for line in customer_lines(customer=customer):
        days_left = None
        if line.expires_at:
            days_left = (timezone.localdate(line.expires_at) - today).days
        label = "Being set up" if line.status == Line.Status.RESERVED else line.get_status_display()
        subscriptions.append(
            Subscription(
                line=line,
                status_label=label,
                badge=_BADGES.get(line.status, ""),
                days_left=days_left,
                access=line_access_for(line) if line.status == Line.Status.ACTIVE else None,
                renewal_on_its_way=line.pk in renewing,
                changing=line.pk in busy,
                auto=autos.get(line.pk),
            )
        )
    return subscriptions


def customer_orders_awaiting_payment(*, customer: Customer) -> QuerySet[Order]:
    return (
        Order.objects.filter(
            customer=customer,
            status__in=[Order.Status.AWAITING_PAYMENT, Order.Status.PAYMENT_PENDING],
        )
        .select_related("plan")
        .order_by("-created_at", "-id")
    )


def trial_conversion_plans(*, line: Line) -> QuerySet[Plan]:
    """The paid plans a trial line can become: on sale and carried by the line's panel (the line
    stays where it is)."""
    return Plan.objects.filter(active=True, is_trial=False, panel_mappings__panel=line.panel_id)
