"""The contract every payment gateway adapter keeps.

A small exception vocabulary (after django-oscar): `UnableToTakePayment` carries a sentence the
customer may read; `PaymentError` is for the operator's log; `WebhookRejected` answers 400.
Adapters return gateway-neutral values, never vendor objects.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import ClassVar


class UnableToTakePayment(Exception):
    """The gateway refused or could not be reached; the message is safe to show the customer."""


class PaymentError(Exception):
    """Something unexpected on our side or the gateway's; logged, not shown."""


class WebhookRejected(Exception):
    """A notification that failed verification (signature, timestamp, format)."""


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


# Payment states a notification can move an order to.
PENDING, CONFIRMED, FAILED, EXPIRED, REFUNDED, DISPUTED = (
    "pending",
    "confirmed",
    "failed",
    "expired",
    "refunded",
    "disputed",
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


class GatewayAdapter(abc.ABC):
    kind: ClassVar[str]
    label: ClassVar[str]  # shown to the customer at checkout

    @classmethod
    def config_problems(cls, settings) -> list[str]:
        """What in `settings` keeps this gateway from taking real money safely: one sentence per
        problem, naming the variable and what to do. A production start refuses to go on while
        an enabled gateway has any (boxoffice.runtime.production)."""
        return []

    # True when checkout sends the customer to the gateway's own page, from which they can come
    # back without paying: the status page then offers to pay again, change plan or cancel.
    hosted_page: ClassVar[bool] = False

    @abc.abstractmethod
    def start_checkout(self, *, order, success_url: str, cancel_url: str) -> CheckoutStart: ...

    def checkout_status(self, *, order) -> PaymentUpdate | None:
        """What the gateway says now about the order's current checkout, verified with the
        gateway itself (the customer is back on our status page). None when it cannot tell or
        nothing is settled yet. Network I/O: call outside any transaction."""
        return None

    def checkout_close(self, *, order) -> PaymentUpdate | None:
        """Close the order's open checkout so it can no longer be paid. Returns the update when
        it turns out the customer paid meanwhile; raises UnableToTakePayment when the gateway
        cannot be reached (the checkout may still be payable). Network I/O."""
        return None

    def verify_webhook(self, *, body: bytes, headers: Mapping[str, str]) -> VerifiedEvent:
        raise WebhookRejected(f"{self.label} sends no webhooks")

    def parse_event(self, event: VerifiedEvent) -> PaymentUpdate | None:
        """The payment change an event means, or None for events we do not act on."""
        return None
