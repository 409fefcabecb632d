"""Checkout: an order begun for a plan (a trial reserved at once), a renewal checkout for a line,
and the customer back from the gateway's page (confirm on return, pay again, cancel)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from boxoffice.audit.services import audit_record
from boxoffice.billing.coupons import coupon_normalise, coupon_redeem
from boxoffice.billing.emails import (
    bank_transfer_instructions_email_send,
)
from boxoffice.billing.gateways import base as gw
from boxoffice.billing.gateways.base import (
    GatewayAdapter,
    UnableToTakePayment,
)
from boxoffice.billing.gateways.registry import gateway_for
from boxoffice.billing.models import Order
from boxoffice.billing.plan_changes import (
    Quote,
    addon_quote,
    is_upgrade,
    plan_change_targets,
    renewal_terms,
    upgrade_quote,
)
from boxoffice.billing.services import (
    checkout_ref,
    checkout_request,
    order_create,
    order_gateway,
    order_mark_paid,
    payment_update_apply,
)
from boxoffice.billing.subscriptions import subscription_event_apply, subscription_event_fetch
from boxoffice.billing.trials import trial_claim
from boxoffice.catalog.models import Plan
from boxoffice.customers.models import Customer
from boxoffice.customers.services import customer_create, customer_language_set
from boxoffice.provisioning.lifecycle import (
    line_offered_for_renewal,
)
from boxoffice.provisioning.models import Line
from boxoffice.provisioning.plan_changes import line_plan_change_refusal
from boxoffice.provisioning.routing import order_preflight

logger = logging.getLogger(__name__)


# --- Checkout --------------------------------------------------------------------------------


@dataclass(frozen=True)
class CheckoutData:
    email: str
    name: str
    preferred_username: str
    preferred_password: str
    device: str  # "app" | "mag"
    mac_address: str  # normalised "00:1A:79:AB:CD:EF" or ""
    country: str  # ISO alpha-2 upper or ""
    gateway: str
    currency: str = ""  # the one the page showed the price in ("": the plan's own)
    coupon: str = ""  # a discount code (billing/coupons.py), or ""
    language: str = ""  # the page's language, chosen by the customer ("": the account's)


@dataclass(frozen=True)
class CheckoutResult:
    order: Order
    redirect_url: str


def checkout_begin(
    *,
    plan: Plan,
    data: CheckoutData,
    status_url_for: Callable[[Order], str],
    customer: Customer | None = None,
    client_address: str = "",
    converting: Line | None = None,
) -> CheckoutResult:
    """Create the order and hand the customer to the payment method they chose.

    `customer` is the signed-in customer; without one the address must be new here, and a
    passwordless account is made for it (raises CustomerExists otherwise: whoever uses a known
    address signs in first, so an order never joins an account its buyer does not control).

    A trial plan is free: no gateway, the trial is claimed for the e-mail, the box's MAC and
    `client_address` (TrialRefused, and nothing is created, when one had a trial within the
    window) and the order is paid at once, reserving its line the usual way. `converting`: the
    customer's trial line this paid order turns into a paid one (`Order.Kind.CONVERSION`).

    A new line must have a panel to go to: the pre-flight (`order_preflight`) raises
    CannotSellNow before any order, account or gateway session exists, and alerts the
    operator once. A conversion keeps its trial line's panel."""
    if converting is None:
        order_preflight(plan=plan, country=data.country, device=data.device)
    if plan.is_trial:
        if converting is not None:
            raise ValueError("a trial cannot convert a line")
        return _trial_checkout(
            plan=plan,
            data=data,
            status_url_for=status_url_for,
            customer=customer,
            client_address=client_address,
        )
    adapter = gateway_for(data.gateway)
    kind = Order.Kind.NEW if converting is None else Order.Kind.CONVERSION
    with transaction.atomic():
        order = _order_from_checkout(
            plan=plan,
            data=data,
            customer=customer,
            gateway=data.gateway,
            kind=kind,
            target_line=converting,
        )
        # A refused code (used up meanwhile) rolls the whole order back: CouponRefused.
        list_price = plan.price_in(order.currency)[0]
        if data.coupon and _coupon_applied(
            order=order, code=data.coupon, kind=kind, price=list_price
        ):
            return CheckoutResult(order=order, redirect_url=status_url_for(order))
    return _checkout_start(order=order, adapter=adapter, status_url_for=status_url_for)


def _coupon_applied(*, order: Order, code: str, kind: str, price: Decimal) -> bool:
    """Redeem `code` on the new order (its transaction); True when nothing is left to pay and
    the order was paid at once (a 100 % code), so no gateway is involved."""
    coupon_redeem(code=code, order=order, kind=kind, price=price)
    if order.amount > 0:
        return False
    order_mark_paid(order=order, note=f"coupon {coupon_normalise(code)}: nothing to pay")
    return True


def _order_from_checkout(
    *, plan: Plan, data: CheckoutData, customer: Customer | None, **extra
) -> Order:
    """The order the checkout form describes, for the signed-in customer or a new passwordless
    one (the caller's transaction)."""
    if customer is None:
        customer = customer_create(
            email=data.email, name=data.name, country=data.country, locale=data.language
        )
    elif data.language:
        customer_language_set(customer=customer, language=data.language)
    return order_create(
        customer=customer,
        name=data.name,
        plan=plan,
        preferred_username=data.preferred_username,
        preferred_password=data.preferred_password,
        device=data.device,
        mac_address=data.mac_address,
        country=data.country,
        currency=data.currency,
        language=data.language,
        **extra,
    )


class LineNotRenewableHere(Exception):
    """This line cannot be renewed from a checkout (terminated, or not created yet)."""


def renewal_checkout_begin(
    *, line: Line, gateway: str, status_url_for: Callable[[Order], str], coupon: str = ""
) -> CheckoutResult:
    """A renewal order for `line` (its customer, plan, device: nothing to type again) and the
    hand-off to the chosen payment method. Paid, it extends that same line on its panel.
    Raises LineNotRenewableHere, or UnableToTakePayment / ValueError from the gateway."""
    if not line_offered_for_renewal(line):
        raise LineNotRenewableHere(
            f"{line.username} is {line.get_status_display().lower()}: it cannot be renewed "
            "from here. Write to us and we will help."
        )
    adapter = gateway_for(gateway)
    # The next period: a scheduled downgrade's plan, with the add-on connections it keeps.
    terms = renewal_terms(line)
    with transaction.atomic():
        order = _line_order_create(
            line=line,
            plan=terms.plan,
            gateway=gateway,
            kind=Order.Kind.RENEWAL,
            amount=terms.amount,
            currency=terms.currency,
            quote=terms.as_json(line),
        )
        if coupon and _coupon_applied(
            order=order, code=coupon, kind=Order.Kind.RENEWAL, price=terms.amount
        ):
            return CheckoutResult(order=order, redirect_url=status_url_for(order))
    return _checkout_start(order=order, adapter=adapter, status_url_for=status_url_for)


def _line_order_create(*, line: Line, plan: Plan, gateway: str, kind: str, **extra) -> Order:
    """An order about an existing line: its customer, device and name, nothing to type."""
    first = line.order
    return order_create(
        customer=line.customer,
        name=first.name if first is not None else line.customer.name,
        plan=plan,
        gateway=gateway,
        device=line.device,
        mac_address=line.mac_address,
        country=first.country if first is not None else "",
        kind=kind,
        target_line=line,
        **extra,
    )


class PlanChangeRefused(Exception):
    """This upgrade or add-on cannot be bought for this line; the message says why."""


class QuoteChanged(PlanChangeRefused):
    """The figures computed now are higher than those the customer saw (a cent, by rounding,
    as time passed): nothing is charged without showing them again."""

    def __init__(self, message: str, *, quote: Quote):
        super().__init__(message)
        self.quote = quote


def _quote_within(quote: Quote, shown: Decimal | None) -> None:
    # Time only shortens the remaining period, so the price falls; rounding each figure can
    # still add a cent. Never charge more than the page showed.
    if shown is not None and quote.pay > shown:
        raise QuoteChanged(
            f"The price changed since you opened this page: it is now {quote.pay} "
            f"{quote.currency}. Check it and continue again.",
            quote=quote,
        )


def upgrade_checkout_begin(
    *,
    line: Line,
    plan: Plan,
    gateway: str,
    status_url_for: Callable[[Order], str],
    shown: Decimal | None = None,
) -> CheckoutResult:
    """An upgrade order for `line` to `plan`, its figures computed now and frozen on the order
    (billing/plan_changes.py), and the hand-off to the chosen payment method. Nothing to pay
    (seconds left) is paid at once. `shown`: what the customer saw; never charged more
    (QuoteChanged). Raises PlanChangeRefused, UnableToTakePayment."""
    problem = line_plan_change_refusal(line, operation="change_plan")
    if problem:
        raise PlanChangeRefused(f"{line.username} cannot be upgraded now: {problem}.")
    if plan not in plan_change_targets(line=line) or not is_upgrade(line=line, plan=plan):
        raise PlanChangeRefused("That plan is not an upgrade offered for this line.")
    quote = upgrade_quote(line=line, plan=plan)
    _quote_within(quote, shown)
    return _quoted_checkout(
        line=line,
        plan=plan,
        gateway=gateway,
        quote=quote,
        kind=Order.Kind.UPGRADE,
        status_url_for=status_url_for,
    )


def addon_checkout_begin(
    *,
    line: Line,
    count: int,
    gateway: str,
    status_url_for: Callable[[Order], str],
    shown: Decimal | None = None,
) -> CheckoutResult:
    """An add-on order: `count` more extra connections for the line's remaining time."""
    problem = line_plan_change_refusal(line, operation="set_connections")
    if problem:
        raise PlanChangeRefused(f"{line.username} cannot get extra connections now: {problem}.")
    try:
        quote = addon_quote(line=line, count=count)
    except ValueError as exc:
        raise PlanChangeRefused(f"{exc}.") from None
    _quote_within(quote, shown)
    return _quoted_checkout(
        line=line,
        plan=line.plan,
        gateway=gateway,
        quote=quote,
        kind=Order.Kind.ADDON,
        status_url_for=status_url_for,
    )


def _quoted_checkout(
    *,
    line: Line,
    plan: Plan,
    gateway: str,
    quote: Quote,
    kind: str,
    status_url_for: Callable[[Order], str],
) -> CheckoutResult:
    adapter = gateway_for(gateway) if quote.pay > 0 else None
    with transaction.atomic():
        order = _line_order_create(
            line=line,
            plan=plan,
            gateway=gateway,
            kind=kind,
            amount=quote.pay,
            quote=quote.as_json(),
        )
        audit_record(subject=order, action="order.quoted", data=quote.as_json())
        if adapter is None:
            # The last seconds of a period: nothing to charge, the change is made at once.
            order_mark_paid(order=order, note="nothing to pay", amount=Decimal("0"))
    if adapter is None:
        return CheckoutResult(order=order, redirect_url=status_url_for(order))
    return _checkout_start(order=order, adapter=adapter, status_url_for=status_url_for)


def balance_checkout_begin(
    *, order: Order, gateway: str, status_url_for: Callable[[Order], str]
) -> CheckoutResult | None:
    """The customer pays a balance order (the rest of an underpaid one) with the gateway they
    chose. None when its payment has begun already (a second click): the status page shows it."""
    if order.kind != Order.Kind.BALANCE:
        raise OrderNotRestartable(order.reference)
    adapter = gateway_for(gateway)
    with transaction.atomic():
        chosen = Order.objects.filter(
            pk=order.pk, gateway="", status=Order.Status.AWAITING_PAYMENT
        ).update(gateway=gateway, updated_at=timezone.now())
    if not chosen:
        return None
    order.refresh_from_db()
    audit_record(subject=order, action="order.balance_checkout", actor="customer")
    return _checkout_start(order=order, adapter=adapter, status_url_for=status_url_for)


def _checkout_start(
    *, order: Order, adapter: GatewayAdapter, status_url_for: Callable[[Order], str]
) -> CheckoutResult:
    status_url = status_url_for(order)
    try:
        start = adapter.start_checkout(
            checkout_request(order, success_url=status_url, cancel_url=status_url)
        )
    except UnableToTakePayment:
        Order.objects.filter(pk=order.pk).update(
            status=Order.Status.CANCELLED, review_reason="payment could not start"
        )
        audit_record(
            subject=order, action="order.cancelled", data={"reason": "gateway refused checkout"}
        )
        raise
    with transaction.atomic():
        order.gateway_reference = start.gateway_reference
        fields = ["gateway_reference", "updated_at"]
        if start.instructions:
            # Waiting for a transfer is a pending payment: the review-queue timeout applies.
            order.status = Order.Status.PAYMENT_PENDING
            order.pending_since = timezone.now()
            fields += ["status", "pending_since"]
        order.save(update_fields=fields)
        if start.instructions:
            # The instructions are owed from now on: their row commits with the pending state
            # (rendered here, sent after commit; the outbox retries a refused hand-off).

            bank_transfer_instructions_email_send(order=order, instructions=start.instructions)
    return CheckoutResult(order=order, redirect_url=start.redirect_url or status_url)


def _trial_checkout(
    *,
    plan: Plan,
    data: CheckoutData,
    status_url_for: Callable[[Order], str],
    customer: Customer | None,
    client_address: str,
) -> CheckoutResult:
    # One transaction: a refused trial leaves no account, no order and no claim behind.
    with transaction.atomic():
        order = _order_from_checkout(plan=plan, data=data, customer=customer)
        customer = order.customer
        trial_claim(
            order=order,
            email=customer.email,
            mac_address=data.mac_address,
            client_address=client_address,
        )
        # Nothing to pay: the order is paid now and its line reserved the usual way.
        order_mark_paid(order=order, note="free trial", amount=Decimal("0"))
    return CheckoutResult(order=order, redirect_url=status_url_for(order))


# --- The customer back from the gateway's page -------------------------------------------------

# Orders the customer may pay again, or cancel, from the status page.
_RESTARTABLE = (Order.Status.AWAITING_PAYMENT, Order.Status.FAILED, Order.Status.EXPIRED)


class OrderNotRestartable(Exception):
    """The order is paid, being paid or closed: nothing to pay or cancel any more."""


def order_confirm_on_return(*, order: Order) -> str:
    """The customer is back on the status page: ask the gateway (outside any transaction) about
    the order's checkout and apply what it says through the path the webhook takes, so a paid
    order shows as paid on the first screen. The webhook, when it lands, changes nothing."""
    if order.status not in (Order.Status.AWAITING_PAYMENT, Order.Status.PAYMENT_PENDING):
        return "ignored"
    adapter = order_gateway(order)
    if adapter is None or not adapter.captures_on_return:
        return "unknown"
    update = adapter.checkout_status(checkout_ref(order))
    if update is not None and update.status == gw.SUBSCRIPTION:
        return _subscription_confirm_on_return(order=order, update=update)
    if update is None or update.status not in (gw.CONFIRMED, gw.PENDING):
        return "unknown"
    if update.order_reference and update.order_reference != order.reference:
        return "ignored"
    result = payment_update_apply(order=order, update=update)
    audit_record(subject=order, action="order.confirmed_on_return", data={"result": result})
    order.refresh_from_db()
    return result


def _subscription_confirm_on_return(*, order: Order, update: gw.PaymentUpdate) -> str:
    """A subscription checkout completed: its subscription and first invoice re-fetched
    (outside any transaction) and applied as their webhook would be; the webhook then finds
    everything done."""
    if update.order_reference and update.order_reference != order.reference:
        return "ignored"
    try:
        fetched = subscription_event_fetch(gateway=order.gateway, update=update)
    except gw.PaymentError as exc:
        logger.warning("subscription of %s not fetched on return: %s", order.reference, exc)
        return "unknown"
    with transaction.atomic():
        result = subscription_event_apply(
            gateway=order.gateway, update=update, fetched=fetched, source_event=None
        )
    audit_record(subject=order, action="order.confirmed_on_return", data={"result": result})
    order.refresh_from_db()
    return "confirmed" if order.status == Order.Status.PAID else result


def _checkout_close(order: Order) -> bool:
    """Close the order's open checkout; True when it turns out it was paid meanwhile (then the
    payment is applied and nothing else must happen)."""
    update = gateway_for(order.gateway).checkout_close(checkout_ref(order))
    if update is not None and update.status in (gw.CONFIRMED, gw.PENDING):
        payment_update_apply(order=order, update=update)
        return True
    return False


def order_checkout_restart(*, order: Order, status_url: str, replacing: str) -> str:
    """A fresh checkout for the same order (the customer left the payment page or the payment
    failed). `replacing` is the checkout the customer saw, so a second click does not replace
    the fresh one. Returns where to send the customer. Raises UnableToTakePayment."""
    adapter = order_gateway(order)
    if order.status not in _RESTARTABLE or adapter is None or not adapter.hosted_page:
        raise OrderNotRestartable(order.reference)
    if replacing != order.gateway_reference:
        return status_url
    if _checkout_close(order):
        return status_url
    start = adapter.start_checkout(
        checkout_request(
            order, success_url=status_url, cancel_url=status_url, replacing=order.gateway_reference
        )
    )
    with transaction.atomic():
        moved = Order.objects.filter(
            pk=order.pk, status__in=_RESTARTABLE, gateway_reference=replacing
        ).update(
            status=Order.Status.AWAITING_PAYMENT,
            gateway_reference=start.gateway_reference,
            updated_at=timezone.now(),
        )
        if moved:
            audit_record(
                subject=order,
                action="order.checkout_restarted",
                actor="customer",
                data={"replaced": replacing, "checkout": start.gateway_reference},
            )
    return (start.redirect_url or status_url) if moved else status_url


def order_cancel_by_customer(*, order: Order) -> str:
    """The customer gives up on an unpaid order: its checkout is closed first (so it cannot be
    paid after we call it cancelled). Returns "cancelled", "paid" (it was, meanwhile) or
    "ignored". Raises UnableToTakePayment when the gateway cannot be reached."""
    if order.status not in _RESTARTABLE:
        return "ignored"
    try:
        paid = _checkout_close(order)
    except ValueError:  # a gateway this installation no longer has: nothing to close there
        paid = False
    if paid:
        return "paid"
    with transaction.atomic():
        done = Order.objects.filter(pk=order.pk, status__in=_RESTARTABLE).update(
            status=Order.Status.CANCELLED, updated_at=timezone.now()
        )
        if done:
            audit_record(
                subject=order,
                action="order.cancelled",
                actor="customer",
                data={"reason": "cancelled by the customer"},
            )
    order.refresh_from_db()
    return "cancelled" if done else "ignored"
