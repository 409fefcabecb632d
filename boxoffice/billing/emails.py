"""The mails about paying an order: a payment the gateway has not confirmed yet, and how to pay
by bank transfer. Templates: `billing/email/<kind>.{html,txt}`."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

from django.conf import settings
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from boxoffice.billing.models import Order
from boxoffice.messaging.emails import email_send, format_expiry, greeting_name, site_link
from boxoffice.messaging.models import Message
from boxoffice.messaging.services import stale_check_register
from boxoffice.messaging.templating import Category, mail_register


def order_status_url(order: Order) -> str:
    return site_link(reverse("storefront:order_status", kwargs={"token": order.status_token}))


def _order_email_send(
    *,
    order: Order,
    kind: str,
    dedupe_key: str,
    subject: str,
    in_worker: bool = False,
    **extra: Any,
) -> Message:
    """A mail about an order, with the context every order mail shares."""
    return email_send(
        kind=kind,
        dedupe_key=dedupe_key,
        to_email=order.customer.email,
        template=f"billing/email/{kind}",
        subject=subject,
        context=lambda: {
            "name": greeting_name(order.name),
            "order": order,
            "plan": order.plan,
            "status_url": order_status_url(order),
            **extra,
        },
        customer=order.customer,
        order=order,
        in_worker=in_worker,
    )


def subscription_payment_failed_email_send(
    *, order: Order, dedupe_key: str, card_url: str, expires: str, in_worker: bool = True
) -> Message:
    """A renewal charge of an auto-renewing line failed: told at once, with a link where the
    customer replaces the card (a page of ours that opens the gateway's portal per click).
    Once per invoice: the gateway's retries of it do not mail again."""
    return _order_email_send(
        order=order,
        kind="subscription_payment_failed",
        dedupe_key=dedupe_key,
        subject=f"Your {settings.SITE_NAME} renewal payment did not go through",
        in_worker=in_worker,
        card_url=card_url,
        expires=expires,
        amount=f"{order.amount} {order.currency}",
        grace_days=order.plan.grace_days,
    )


def payment_pending_email_send(*, order: Order, in_worker: bool = False) -> Message:
    """The gateway acknowledged the payment but has not confirmed it yet."""
    return _order_email_send(
        order=order,
        kind="payment_pending",
        dedupe_key=f"payment_pending:order:{order.pk}",
        subject=f"We are processing your payment ({order.reference})",
        in_worker=in_worker,
    )


def bank_transfer_instructions_email_send(*, order: Order, instructions: str) -> Message:
    """How to pay an order by bank transfer (the operator confirms the money by hand). Owed at
    checkout, in the customer's request: SMTP happens in a worker."""
    return _order_email_send(
        order=order,
        in_worker=True,
        kind="bank_transfer_instructions",
        dedupe_key=f"bank:order:{order.pk}",
        subject=f"How to pay your order {order.reference} by bank transfer",
        amount=f"{order.amount} {order.currency}",
        instructions=instructions.strip(),
    )


def balance_pay_url(balance: Order) -> str:
    """Where the customer pays a balance order, with the gateway of their choice."""
    return site_link(reverse("storefront:order_balance", kwargs={"token": balance.status_token}))


def balance_due_email_send(*, balance: Order, original: Order, received: str, due: str) -> Message:
    """An underpaid order's rest is asked for: what came, what is missing and the pay link.
    Written in the operator's request: SMTP happens in a worker."""
    return _order_email_send(
        order=balance,
        kind="balance_due",
        dedupe_key=f"balance_due:order:{balance.pk}",
        subject=f"Your payment for {original.reference} was short: pay the rest",
        in_worker=True,
        original=original,
        received=received,
        due=due,
        remaining=f"{balance.amount} {balance.currency}",
        pay_url=balance_pay_url(balance),
    )


@stale_check_register("balance_due")
def _balance_due_is_stale(message: Message) -> str:
    if message.order is not None and message.order.status != Order.Status.AWAITING_PAYMENT:
        return f"the balance order is {message.order.get_status_display().lower()} now"
    return ""


# Checked again right before SMTP: a notice that is no longer true is dropped, not sent.
@stale_check_register("payment_pending")
def _payment_pending_is_stale(message: Message) -> str:
    if message.order is not None and message.order.status != Order.Status.PAYMENT_PENDING:
        return f"the order is {message.order.get_status_display().lower()} now"
    return ""


@stale_check_register("subscription_payment_failed")
def _payment_failed_is_stale(message: Message) -> str:
    if message.order is not None and message.order.status == Order.Status.PAID:
        return "the retry of the payment went through"
    return ""


@stale_check_register("bank_transfer_instructions")
def _bank_instructions_are_stale(message: Message) -> str:
    if message.order is not None and message.order.status not in (
        Order.Status.AWAITING_PAYMENT,
        Order.Status.PAYMENT_PENDING,
    ):
        return f"the order is {message.order.get_status_display().lower()} now"
    return ""


# --- the back office's editable templates (messaging/templating.py): sample data, no customer --

_ORDER_VARIABLES = (
    "name",
    "order.reference",
    "order.amount",
    "order.currency",
    "plan.name",
    "status_url",
)


def _sample_order_context(**extra: Any) -> dict[str, Any]:
    return {
        "name": "Alex",
        "order": SimpleNamespace(reference="BX-7Q2M9K", amount=Decimal("59.00"), currency="EUR"),
        "plan": SimpleNamespace(name="Premium 12 months"),
        "status_url": "https://tv.example.net/order/sample-token/",
        **extra,
    }


def _register(kind: str, label: Any, subject: Any, *variables: str, **sample: Any) -> None:
    mail_register(
        name=f"billing/email/{kind}",
        label=label,
        category=Category.TRANSACTIONAL,
        subject=subject,
        variables=(*_ORDER_VARIABLES, *variables),
        sample=lambda: _sample_order_context(**sample),
    )


_register(
    "subscription_payment_failed",
    _("Renewal payment failed"),
    _("Your {{ SITE_NAME }} renewal payment did not go through"),
    "card_url",
    "expires",
    "amount",
    "grace_days",
    card_url="https://tv.example.net/card/sample/",
    expires=format_expiry(datetime(2027, 12, 1, 12, 0, tzinfo=UTC)),
    amount="59.00 EUR",
    grace_days=3,
)
_register(
    "payment_pending",
    _("Payment being processed"),
    _("We are processing your payment ({{ order.reference }})"),
)
_register(
    "bank_transfer_instructions",
    _("Bank transfer instructions"),
    _("How to pay your order {{ order.reference }} by bank transfer"),
    "amount",
    "instructions",
    amount="59.00 EUR",
    instructions="IBAN DE89 3704 0044 0532 0130 00\nBIC COBADEFFXXX\nReference: BX-7Q2M9K",
)
_register(
    "balance_due",
    _("Underpaid order: balance due"),
    _("Your payment for {{ original.reference }} was short: pay the rest"),
    "original.reference",
    "received",
    "due",
    "remaining",
    "pay_url",
    original=SimpleNamespace(reference="BX-7Q2M9K"),
    received="50.00 EUR",
    due="59.00 EUR",
    remaining="9.00 EUR",
    pay_url="https://tv.example.net/order/sample-token/balance/",
)
_register(
    "payment_receipt",
    _("Payment receipt (invoice attached)"),
    _("Payment received: invoice {{ invoice.number }}"),
    "invoice.number",
    "invoice.total",
    "invoice.currency",
    "invoice.order.reference",
    "portal_url",
    invoice=SimpleNamespace(
        number="2026-000042",
        total=Decimal("59.00"),
        currency="EUR",
        order=SimpleNamespace(reference="BX-7Q2M9K"),
    ),
    portal_url="https://tv.example.net/portal/",
)
