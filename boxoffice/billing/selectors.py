"""What the customer's order-status page shows, derived from the rows."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from boxoffice.billing.models import Order
from boxoffice.billing.services import (
    order_gateway,
    order_partial_received,
    order_payment_instructions,
)
from boxoffice.panels.adapters.base import LineAccess
from boxoffice.panels.services import line_access_for
from boxoffice.provisioning.models import Line, PanelOperation


@dataclass(frozen=True)
class OrderProgress:
    stage: str  # awaiting_payment | payment_pending | provisioning | delayed | active | failed | review
    headline: str
    detail: str
    line: Line | None = None
    access: LineAccess | None = None
    # What the customer must do to pay (the gateway's `instructions`, e.g. bank details).
    bank_instructions: str = ""
    finished: bool = False
    # The line exists but this page no longer shows its login: the customer signs in for it.
    sign_in_for_login: bool = False


def status_page_shows_login(*, order: Order, line: Line) -> bool:
    """The public status page (its address is the only key) shows a line's login while the
    order is fresh, and never once the line is suspended or expired or the money went back."""
    if order.status != Order.Status.PAID or line.status != Line.Status.ACTIVE:
        return False
    ready_at = line.activated_at or order.paid_at or order.created_at
    window = timedelta(hours=settings.ORDER_STATUS_CREDENTIALS_HOURS)
    return timezone.now() - ready_at <= window


def order_progress(order: Order) -> OrderProgress:
    S = Order.Status
    bank = order_payment_instructions(order)
    if order.status == S.AWAITING_PAYMENT:
        return OrderProgress(
            "awaiting_payment",
            _("Waiting for your payment"),
            _("As soon as your payment is confirmed we set up your line and show your login here."),
            bank_instructions=bank,
        )
    if order.status == S.PAYMENT_PENDING:
        partial = order_partial_received(order)
        if partial is not None:  # underpaid crypto: a person decides, the customer is told
            return OrderProgress(
                "payment_pending",
                _("Part of your payment arrived"),
                _(
                    "We received %(received)s of %(total)s. We will e-mail you how to "
                    "complete your order; there is nothing to pay again until then."
                )
                % {
                    "received": f"{partial.amount} {partial.currency}",
                    "total": f"{order.amount} {order.currency}",
                },
            )
        adapter = order_gateway(order) if bank else None
        if adapter is not None:
            return OrderProgress(
                "payment_pending",
                adapter.instructions_headline or _("Waiting for your payment"),
                adapter.instructions_detail
                or _("We e-mail you the moment your payment arrives; this page updates by itself."),
                bank_instructions=bank,
            )
        return OrderProgress(
            "payment_pending",
            _("We are processing your payment"),
            _(
                "Your payment method needs a little longer to confirm. Nothing more to do: this page "
                "updates by itself, and we e-mail you as soon as it is confirmed."
            ),
        )
    if order.status == S.CANCELLED:
        return OrderProgress(
            "failed",
            _("This order is cancelled"),
            _("Nothing was charged. You are welcome to choose a plan again whenever you like."),
            finished=True,
        )
    if order.status in (S.FAILED, S.EXPIRED):
        return OrderProgress(
            "failed",
            _("The payment did not go through"),
            _("You have not been charged for this order. You can choose a plan and try again."),
            finished=True,
        )
    if order.status in (S.REFUNDED, S.DISPUTED):
        return OrderProgress(
            "failed",
            _("This order was refunded")
            if order.status == S.REFUNDED
            else _("This payment is disputed"),
            _("Questions? Write to %(email)s.") % {"email": settings.SUPPORT_EMAIL},
            finished=True,
        )
    if order.kind == Order.Kind.CONVERSION:
        return _conversion_progress(order)
    if order.kind == Order.Kind.RENEWAL:
        return _renewal_progress(order)
    if order.kind in (Order.Kind.UPGRADE, Order.Kind.ADDON):
        return _plan_change_progress(order)
    line = order.lines.select_related("panel", "plan").first()
    if line and line.status in (Line.Status.ACTIVE, Line.Status.SUSPENDED, Line.Status.EXPIRED):
        if line.status == Line.Status.ACTIVE and status_page_shows_login(order=order, line=line):
            return OrderProgress(
                "active",
                _("Your line is ready"),
                _("We have also e-mailed these details to you."),
                line=line,
                access=line_access_for(line),
                finished=True,
            )
        hours = settings.ORDER_STATUS_CREDENTIALS_HOURS
        headline, detail = {
            Line.Status.ACTIVE: (
                "Your line is ready",
                ngettext(
                    "For your safety this page shows the login details only for %(hours)d "
                    "hour. Sign in to My account to see them; they are also in the e-mail we "
                    "sent you.",
                    "For your safety this page shows the login details only for %(hours)d "
                    "hours. Sign in to My account to see them; they are also in the e-mail we "
                    "sent you.",
                    hours,
                )
                % {"hours": hours},
            ),
            Line.Status.SUSPENDED: (
                _("This line is suspended"),
                _("Sign in to My account to see why, or write to us."),
            ),
            Line.Status.EXPIRED: (
                _("This subscription has expired"),
                _("Sign in to My account to renew it."),
            ),
        }[line.status]
        return OrderProgress(
            "active", headline, detail, line=line, finished=True, sign_in_for_login=True
        )
    stuck = (
        line is not None
        and line.operations.filter(status=PanelOperation.Status.NEEDS_REVIEW).exists()
    )
    if order.needs_review or stuck:
        return OrderProgress(
            "review",
            _("Your payment is safe; we are setting up your line by hand"),
            _(
                "Something needs a person's attention. We will e-mail your login as soon as it is ready."
            ),
        )
    if line is not None and line.panel.is_down:
        # Known at once (the circuit is open), so said at once rather than after the delay notice.
        return OrderProgress(
            "delayed",
            _("Your payment is safe; your line is on its way"),
            _(
                "Our TV server is not answering right now. We keep trying, and your line is set up "
                "automatically as soon as it is back: your login will appear here and arrive by "
                "e-mail. There is nothing you need to do."
            ),
        )
    waited = timezone.now() - (order.paid_at or order.created_at)
    if waited > timedelta(seconds=settings.PROVISIONING["DELAY_NOTICE_SECONDS"]):
        return OrderProgress(
            "delayed",
            _("Your payment is safe; your line is on its way"),
            _(
                "Our TV server is taking longer than usual. Your login will appear here and arrive by "
                "e-mail by itself; there is nothing you need to do."
            ),
        )
    return OrderProgress(
        "provisioning",
        _("Payment received: setting up your line"),
        _("This usually takes a few seconds."),
    )


def _renewal_progress(order: Order) -> OrderProgress:
    """A paid renewal: its extend operation says where it is. This page never shows a login
    (the customer has it; the portal shows it)."""
    op = order.operations.filter(kind=PanelOperation.Kind.EXTEND).order_by("pk").first()
    if op is not None and op.status == PanelOperation.Status.SUCCEEDED:
        expiry = timezone.localtime(op.line.expires_at) if op.line.expires_at else None
        until = (
            " " + _("It now runs until %(date)s.") % {"date": date_format(expiry, "d F Y, H:i")}
            if expiry
            else ""
        )
        return OrderProgress(
            "active",
            _("Your subscription is renewed"),
            _("Thank you: the same login keeps working.") + until,
            finished=True,
        )
    if order.needs_review or (op is not None and op.status == PanelOperation.Status.NEEDS_REVIEW):
        return OrderProgress(
            "review",
            _("Your payment is safe; we are renewing your line by hand"),
            _("Something needs a person's attention. We e-mail you as soon as it is done."),
        )
    return OrderProgress(
        "provisioning",
        _("Payment received: renewing your line"),
        _("This usually takes a few seconds. Your line keeps its login."),
    )


def _plan_change_progress(order: Order) -> OrderProgress:
    """A paid upgrade or add-on: done when the panel has the new plan or connections."""
    op = (
        order.operations.filter(
            kind__in=[PanelOperation.Kind.CHANGE_PLAN, PanelOperation.Kind.SET_CONNECTIONS]
        )
        .select_related("line__plan")
        .first()
    )
    if op is not None and op.status == PanelOperation.Status.SUCCEEDED:
        line = op.line
        return OrderProgress(
            "active",
            _("Your subscription is upgraded"),
            ngettext(
                "Your line is now on %(plan)s with %(count)d connection, the same login and the "
                "same expiry.",
                "Your line is now on %(plan)s with %(count)d connections, the same login and "
                "the same expiry.",
                line.connections,
            )
            % {"plan": line.plan.name, "count": line.connections},
            finished=True,
        )
    if order.needs_review or (op is not None and op.status == PanelOperation.Status.NEEDS_REVIEW):
        return OrderProgress(
            "review",
            _("Your payment is safe; we are changing your line by hand"),
            _("Something needs a person's attention. We e-mail you as soon as it is done."),
        )
    return OrderProgress(
        "provisioning",
        _("Payment received: upgrading your line"),
        _("This usually takes a few seconds. Your line keeps its login and expiry."),
    )


def _conversion_progress(order: Order) -> OrderProgress:
    """A paid trial conversion: done when the panel has lifted the trial flag."""
    op = order.operations.filter(kind=PanelOperation.Kind.END_TRIAL).first()
    if op is not None and op.status == PanelOperation.Status.SUCCEEDED:
        return OrderProgress(
            "active",
            _("Your subscription is active"),
            _("Your trial line is now a paid one, with the same username and password."),
            finished=True,
            sign_in_for_login=True,
        )
    if order.needs_review or (op is not None and op.status == PanelOperation.Status.NEEDS_REVIEW):
        return OrderProgress(
            "review",
            _("Your payment is safe; we are switching your line by hand"),
            _("Something needs a person's attention. We will e-mail you as soon as it is done."),
        )
    return OrderProgress(
        "provisioning",
        _("Payment received: switching your trial to the paid plan"),
        _("This usually takes a few seconds; your player keeps working meanwhile."),
    )
