"""What the customer's order-status page shows, derived from the rows."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.utils import timezone

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
            "Waiting for your payment",
            "As soon as your payment is confirmed we set up your line and show your login here.",
            bank_instructions=bank,
        )
    if order.status == S.PAYMENT_PENDING:
        partial = order_partial_received(order)
        if partial is not None:  # underpaid crypto: a person decides, the customer is told
            return OrderProgress(
                "payment_pending",
                "Part of your payment arrived",
                f"We received {partial.amount} {partial.currency} of {order.amount} "
                f"{order.currency}. We will e-mail you how to complete your order; there is "
                "nothing to pay again until then.",
            )
        adapter = order_gateway(order) if bank else None
        if adapter is not None:
            return OrderProgress(
                "payment_pending",
                adapter.instructions_headline or "Waiting for your payment",
                adapter.instructions_detail
                or "We e-mail you the moment your payment arrives; this page updates by itself.",
                bank_instructions=bank,
            )
        return OrderProgress(
            "payment_pending",
            "We are processing your payment",
            "Your payment method needs a little longer to confirm. Nothing more to do: this page "
            "updates by itself, and we e-mail you as soon as it is confirmed.",
        )
    if order.status == S.CANCELLED:
        return OrderProgress(
            "failed",
            "This order is cancelled",
            "Nothing was charged. You are welcome to choose a plan again whenever you like.",
            finished=True,
        )
    if order.status in (S.FAILED, S.EXPIRED):
        return OrderProgress(
            "failed",
            "The payment did not go through",
            "You have not been charged for this order. You can choose a plan and try again.",
            finished=True,
        )
    if order.status in (S.REFUNDED, S.DISPUTED):
        return OrderProgress(
            "failed",
            "This order was refunded" if order.status == S.REFUNDED else "This payment is disputed",
            f"Questions? Write to {settings.SUPPORT_EMAIL}.",
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
                "Your line is ready",
                "We have also e-mailed these details to you.",
                line=line,
                access=line_access_for(line),
                finished=True,
            )
        hours = settings.ORDER_STATUS_CREDENTIALS_HOURS
        headline, detail = {
            Line.Status.ACTIVE: (
                "Your line is ready",
                f"For your safety this page shows the login details only for {hours} hours. "
                "Sign in to My account to see them; they are also in the e-mail we sent you.",
            ),
            Line.Status.SUSPENDED: (
                "This line is suspended",
                "Sign in to My account to see why, or write to us.",
            ),
            Line.Status.EXPIRED: (
                "This subscription has expired",
                "Sign in to My account to renew it.",
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
            "Your payment is safe; we are setting up your line by hand",
            "Something needs a person's attention. We will e-mail your login as soon as it is ready.",
        )
    if line is not None and line.panel.is_down:
        # Known at once (the circuit is open), so said at once rather than after the delay notice.
        return OrderProgress(
            "delayed",
            "Your payment is safe; your line is on its way",
            "Our TV server is not answering right now. We keep trying, and your line is set up "
            "automatically as soon as it is back: your login will appear here and arrive by "
            "e-mail. There is nothing you need to do.",
        )
    waited = timezone.now() - (order.paid_at or order.created_at)
    if waited > timedelta(seconds=settings.PROVISIONING["DELAY_NOTICE_SECONDS"]):
        return OrderProgress(
            "delayed",
            "Your payment is safe; your line is on its way",
            "Our TV server is taking longer than usual. Your login will appear here and arrive by "
            "e-mail by itself; there is nothing you need to do.",
        )
    return OrderProgress(
        "provisioning",
        "Payment received: setting up your line",
        "This usually takes a few seconds.",
    )


def _renewal_progress(order: Order) -> OrderProgress:
    """A paid renewal: its extend operation says where it is. This page never shows a login
    (the customer has it; the portal shows it)."""
    op = order.operations.filter(kind=PanelOperation.Kind.EXTEND).order_by("pk").first()
    if op is not None and op.status == PanelOperation.Status.SUCCEEDED:
        expiry = timezone.localtime(op.line.expires_at) if op.line.expires_at else None
        until = f" It now runs until {expiry:%d %B %Y, %H:%M}." if expiry else ""
        return OrderProgress(
            "active",
            "Your subscription is renewed",
            f"Thank you: the same login keeps working.{until}",
            finished=True,
        )
    if order.needs_review or (op is not None and op.status == PanelOperation.Status.NEEDS_REVIEW):
        return OrderProgress(
            "review",
            "Your payment is safe; we are renewing your line by hand",
            "Something needs a person's attention. We e-mail you as soon as it is done.",
        )
    return OrderProgress(
        "provisioning",
        "Payment received: renewing your line",
        "This usually takes a few seconds. Your line keeps its login.",
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
            "Your subscription is upgraded",
            f"Your line is now on {line.plan.name} with {line.connections} connection"
            f"{'s' if line.connections != 1 else ''}, the same login and the same expiry.",
            finished=True,
        )
    if order.needs_review or (op is not None and op.status == PanelOperation.Status.NEEDS_REVIEW):
        return OrderProgress(
            "review",
            "Your payment is safe; we are changing your line by hand",
            "Something needs a person's attention. We e-mail you as soon as it is done.",
        )
    return OrderProgress(
        "provisioning",
        "Payment received: upgrading your line",
        "This usually takes a few seconds. Your line keeps its login and expiry.",
    )


def _conversion_progress(order: Order) -> OrderProgress:
    """A paid trial conversion: done when the panel has lifted the trial flag."""
    op = order.operations.filter(kind=PanelOperation.Kind.END_TRIAL).first()
    if op is not None and op.status == PanelOperation.Status.SUCCEEDED:
        return OrderProgress(
            "active",
            "Your subscription is active",
            "Your trial line is now a paid one, with the same username and password.",
            finished=True,
            sign_in_for_login=True,
        )
    if order.needs_review or (op is not None and op.status == PanelOperation.Status.NEEDS_REVIEW):
        return OrderProgress(
            "review",
            "Your payment is safe; we are switching your line by hand",
            "Something needs a person's attention. We will e-mail you as soon as it is done.",
        )
    return OrderProgress(
        "provisioning",
        "Payment received: switching your trial to the paid plan",
        "This usually takes a few seconds; your player keeps working meanwhile.",
    )
