"""The contract every payment gateway adapter keeps.

A small exception vocabulary (after django-oscar): `UnableToTakePayment` carries a sentence the
customer may read; `PaymentError` is for the operator's log; `WebhookRejected` answers 400.

Typed values in and out: billing builds a `CheckoutRequest` (or a `CheckoutRef`) from the Order
and an adapter answers with a `CheckoutStart` or a `PaymentUpdate`; an adapter never receives a
model and never returns a vendor object. Each adapter class declares its configuration (a frozen
`GatewayConfig` subclass read from settings, with its own `problems()` for production) and its
capabilities (class attributes billing reads instead of asking for a kind by name). Adding a
kind is one folder `gateways/<kind>/` and one line in the registry; the shared behaviour each
kind owes is `boxoffice.billing.gateways.contract.GatewayContract`.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, ClassVar

from django.conf import settings

if TYPE_CHECKING:  # the customer's words may be lazy translations (gettext_lazy)
    from django_stubs_ext import StrOrPromise

# The field declaration panel kinds use: the back-office form, the TOML keys of `boxoffice
# apply`/`export` and the validation of a GatewayAccount all come from `config_fields`.
from boxoffice.panels.adapters.base import ConfigField, FieldError

__all__ = ["ConfigField", "FieldError"]


class UnableToTakePayment(Exception):
    """The gateway refused or could not be reached; the message is safe to show the customer."""


class PaymentError(Exception):
    """Something unexpected on our side or the gateway's; logged, not shown."""


class WebhookRejected(Exception):
    """A notification that failed verification (signature, timestamp, format)."""


@dataclass(frozen=True)
class CheckoutRequest:
    """What a gateway needs to take the payment of one order (built by billing from the Order)."""

    order_reference: str
    amount: Decimal
    currency: str  # ISO 4217, upper case
    description: str  # what the customer buys, e.g. "Demo TV — Monthly"
    customer_email: str
    success_url: str = ""
    cancel_url: str = ""
    # The checkout this one replaces (the customer pays again from the status page), or "".
    previous_gateway_reference: str = ""
    metadata: Mapping[str, str] = field(default_factory=dict)
    # > 0: sell it as a subscription charged every `recurring_days` days (only a gateway with
    # `recurring` is asked to); 0: one payment.
    recurring_days: int = 0


@dataclass(frozen=True)
class CheckoutRef:
    """An order's current checkout at the gateway: what status and close ask about."""

    order_reference: str
    gateway_reference: str


@dataclass(frozen=True)
class CheckoutStart:
    """What to do after the order is created: send the customer to `redirect_url` (the
    gateway's hosted page), or show `instructions` (bank transfer) on our status page."""

    redirect_url: str = ""
    instructions: str = ""
    gateway_reference: str = ""


@dataclass(frozen=True)
class VerifiedEvent:
    event_id: str
    event_type: str
    payload: dict


# SUBSCRIPTION: the event is about a subscription or one of its invoices; it only names them
# (`gateway_subscription_id`, `gateway_invoice_id`): billing re-fetches both from the gateway
# before it writes anything (`subscription_fetch`, `invoice_fetch`).
SUBSCRIPTION = "subscription"

# A dispute's end (`DISPUTED` first): won, the money is back; lost, it stays taken.
DISPUTE_WON, DISPUTE_LOST = "dispute_won", "dispute_lost"

# Payment states a notification can move an order to. PARTIAL: less than the price arrived and
# the gateway says so (underpaid crypto invoices); billing records it and a person decides.
PENDING, CONFIRMED, FAILED, EXPIRED, REFUNDED, DISPUTED, PARTIAL = (
    "pending",
    "confirmed",
    "failed",
    "expired",
    "refunded",
    "disputed",
    "partial",
)


@dataclass(frozen=True)
class PaymentUpdate:
    status: str  # one of the states above
    order_reference: str = ""  # our Order.reference, when the event names it
    gateway_reference: str = ""  # e.g. the Checkout Session id
    gateway_payment_id: str = (
        ""  # e.g. the PaymentIntent id (refunds and disputes find the order by it)
    )
    amount: Decimal | None = None
    currency: str = ""
    gateway_subscription_id: str = ""
    gateway_invoice_id: str = ""


# Why an invoice of a subscription was issued, as billing tells them apart.
FIRST, CYCLE, CHANGE, OTHER = "first", "cycle", "change", "other"
# One period's payment the gateway does not say is the first or a renewal (a PayPal sale):
# billing tells them apart, FIRST while the subscription's first order is unpaid or was paid by
# this very payment, CYCLE otherwise.
SALE = "sale"


@dataclass(frozen=True)
class SubscriptionState:
    """A subscription as the gateway has it now (re-fetched, never a webhook's copy)."""

    gateway_subscription_id: str
    status: str  # the gateway's own word: active, past_due, unpaid, canceled, incomplete...
    order_reference: str = ""  # our first order, from the subscription's metadata
    gateway_customer_id: str = ""
    current_period_end: datetime | None = None
    cancel_at_period_end: bool = False
    ended: bool = False  # no further charge will ever come


@dataclass(frozen=True)
class InvoiceState:
    """One invoice of a subscription as the gateway has it now."""

    gateway_invoice_id: str
    gateway_subscription_id: str
    reason: str  # FIRST, CYCLE, CHANGE or OTHER
    paid: bool
    # A charge was tried and failed, and the invoice is still payable (a retry may come).
    charge_failed: bool
    amount: Decimal | None  # what was paid (paid) or is due
    currency: str
    period_end: datetime | None  # the end of the service period this invoice pays for
    attempts: int = 0
    order_reference: str = ""  # from the subscription's metadata snapshot on the invoice
    # The gateway's payment that paid it (Stripe: the PaymentIntent), which its refunds and
    # disputes name; "" when unpaid or unknown.
    gateway_payment_id: str = ""


@dataclass(frozen=True)
class GatewayConfig:
    """A gateway's settings, read once per adapter from Django settings (or the environment
    through them). Secret fields are declared with `field(repr=False)`: a config printed in a
    log or a traceback shows no secret."""

    # The fields a back-office GatewayAccount (and a `[[gateway]]` table) sets, each one a
    # dataclass field of the same name; `secret=True` ones are stored encrypted.
    config_fields: ClassVar[tuple[ConfigField, ...]] = ()
    # Declared text fields the back office edits as several lines (bank details).
    multiline: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def from_settings(cls, settings) -> GatewayConfig:
        return cls()

    @classmethod
    def from_account(cls, values: Mapping[str, Any], settings) -> GatewayConfig:
        """The config a GatewayAccount row holds (`values`: its declared fields, secrets
        decrypted); a field it leaves empty takes the dataclass default, not the environment."""
        declared = {f.name for f in cls.config_fields}
        return cls(**{k: v for k, v in values.items() if k in declared and v is not None})

    def problems(self, settings) -> list[str]:
        """What keeps this gateway from taking real money safely: one sentence per problem,
        naming the variable and what to do. A production start refuses to go on while an
        enabled gateway has any (boxoffice.runtime.production)."""
        return []


class GatewayAdapter(abc.ABC):
    kind: ClassVar[str]
    label: ClassVar[StrOrPromise]  # shown to the customer at checkout
    config_class: ClassVar[type[GatewayConfig]] = GatewayConfig

    # Capabilities: what this kind does, read by billing (never `if kind == ...`).
    # Checkout sends the customer to the gateway's own page, from which they can come back
    # without paying: the status page then offers to pay again, change plan or cancel.
    hosted_page: ClassVar[bool] = False
    # The gateway tells us about payments by signed notifications (`verify_webhook`).
    notifications: ClassVar[bool] = False
    # Back on our status page, the customer's payment is settled by asking the gateway
    # (`checkout_status`): Stripe confirms on return, PayPal captures on return.
    captures_on_return: ClassVar[bool] = False
    # The gateway reports underpayments (`PaymentUpdate(status=PARTIAL)`): they go to review.
    partial_payments: ClassVar[bool] = False
    # The gateway tells us about refunds made on its side (`PaymentUpdate(status=REFUNDED)`).
    reports_refunds: ClassVar[bool] = False
    # Billing can refund through the gateway from the back office (`refund`).
    refunds: ClassVar[bool] = False
    # An operator confirms the money by hand (the back office's confirm-transfer page).
    confirmed_by_operator: ClassVar[bool] = False
    # The gateway charges a subscription every period by itself (`recurring_days` checkouts,
    # `subscription_fetch`, `invoice_fetch`, `subscription_cancel_at_period_end`,
    # `payment_method_update_url`); plans with `auto_renew` are sold so only through it.
    recurring: ClassVar[bool] = False
    # Where `payment_method_update_url` leads when it is not a one-time page for replacing the
    # subscription's card (PayPal: the buyer's own account), said to the customer before it; "".
    payment_method_help: ClassVar[StrOrPromise] = ""
    # The status page's words while the customer follows `instructions` (bank transfer).
    instructions_headline: ClassVar[StrOrPromise] = ""
    instructions_detail: ClassVar[StrOrPromise] = ""

    def __init__(self, config: GatewayConfig | None = None):
        if config is None:
            config = self.config_class.from_settings(settings)
        self.config = config

    @classmethod
    def config_problems(cls, settings) -> list[str]:
        """What in `settings` keeps this gateway from taking real money safely: one sentence per
        problem, naming the variable and what to do. A production start refuses to go on while
        an enabled gateway has any (boxoffice.runtime.production)."""
        return cls.config_class.from_settings(settings).problems(settings)

    @classmethod
    def capabilities(cls) -> dict[str, Any]:
        return {
            name: getattr(cls, name)
            for name in (
                "hosted_page",
                "notifications",
                "captures_on_return",
                "partial_payments",
                "reports_refunds",
                "refunds",
                "confirmed_by_operator",
                "recurring",
            )
        }

    @abc.abstractmethod
    def start_checkout(self, request: CheckoutRequest) -> CheckoutStart: ...

    def instructions(self, request: CheckoutRequest) -> str:
        """What the customer must do to pay, shown on the status page and mailed at checkout
        (bank transfer details); "" for gateways that take the payment on their own page."""
        return ""

    def checkout_status(self, ref: CheckoutRef) -> PaymentUpdate | None:
        """What the gateway says now about the order's current checkout, verified with the
        gateway itself (the customer is back on our status page). None when it cannot tell or
        nothing is settled yet. Network I/O: call outside any transaction."""
        return None

    def checkout_close(self, ref: CheckoutRef) -> PaymentUpdate | None:
        """Close the order's open checkout so it can no longer be paid. Returns the update when
        it turns out the customer paid meanwhile; raises UnableToTakePayment when the gateway
        cannot be reached (the checkout may still be payable). Network I/O."""
        return None

    def refund(
        self,
        *,
        gateway_payment_id: str,
        amount: Decimal,
        currency: str,
        idempotency_key: str = "",
    ) -> PaymentUpdate:
        """Give `amount` back through the gateway (only where `refunds` is True). Network I/O.
        `idempotency_key`: the same key asks again about the same refund (a retry after a lost
        answer must not refund twice). Returns the update its refund notification would carry
        (amount: the total refunded so far, as gateways report it)."""
        raise PaymentError(f"{self.label} cannot refund from here")

    # --- subscriptions (only where `recurring` is True; network I/O, outside transactions) ----

    def subscription_fetch(self, gateway_subscription_id: str) -> SubscriptionState:
        raise PaymentError(f"{self.label} has no subscriptions")

    def invoice_fetch(self, gateway_invoice_id: str) -> InvoiceState:
        raise PaymentError(f"{self.label} has no subscriptions")

    def subscription_cancel_at_period_end(
        self, gateway_subscription_id: str, *, cancel: bool, reason: str = ""
    ) -> SubscriptionState:
        """Stop (or, `cancel=False`, resume) the charges after the period already paid."""
        raise PaymentError(f"{self.label} has no subscriptions")

    def payment_method_update_url(
        self, *, gateway_customer_id: str, gateway_subscription_id: str, return_url: str
    ) -> str:
        """A one-time address at the gateway where the customer replaces the card charged for
        the subscription. A bearer credential: make one per click, never store or log it."""
        raise PaymentError(f"{self.label} has no subscriptions")

    def verify_webhook(self, *, body: bytes, headers: Mapping[str, str]) -> VerifiedEvent:
        raise WebhookRejected(f"{self.label} sends no webhooks")

    def event_refetch(self, event: VerifiedEvent) -> VerifiedEvent:
        """The stored event with the object it is about read anew from the gateway, for
        `parse_event` (a notification's payload may be stale or incomplete: crypto gateways say
        little in it). Network I/O: billing calls it outside any transaction, before applying
        the event; what it raises retries the event with backoff. Default: as received."""
        return event

    def parse_event(self, event: VerifiedEvent) -> PaymentUpdate | None:
        """The payment change an event means, or None for events we do not act on."""
        return None

    def event_update(
        self, event: VerifiedEvent, *, checkout_open: Callable[[str], bool] = lambda ref: False
    ) -> PaymentUpdate | None:
        """The payment change a stored event means when it is processed, asking the gateway
        where the payload alone cannot say (PayPal captures an approved order, and reads a
        completed capture back). Network I/O: billing calls it outside any transaction, before
        the event is applied; what it raises leaves the event to be retried.

        `checkout_open(gateway_reference)`: whether that checkout is still the open checkout of
        an unpaid order here. An adapter that takes money while processing asks it first, so a
        checkout the customer left, replaced or cancelled is never charged.

        By default what `parse_event` reads from the payload."""
        return self.parse_event(event)
