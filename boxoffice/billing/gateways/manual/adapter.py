"""Bank transfer: the customer pays with a reference; the operator confirms in the back office."""

from __future__ import annotations

from django.conf import settings

from boxoffice.billing.gateways.base import CheckoutStart, GatewayAdapter


class ManualGateway(GatewayAdapter):
    kind = "manual"
    label = "Bank transfer"

    def start_checkout(self, *, order, success_url: str, cancel_url: str) -> CheckoutStart:
        return CheckoutStart(redirect_url=success_url, instructions=bank_instructions(order))


def bank_instructions(order) -> str:
    details = settings.BANK_TRANSFER_DETAILS.strip()
    return (
        f"Please transfer {order.amount} {order.currency} to:\n{details}\n"
        f"Reference: {order.reference}\n"
        "Use exactly this reference so we can match your payment. Your line is created as soon as "
        "the transfer arrives; we e-mail you the login details."
    )
