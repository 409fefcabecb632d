"""Bank transfer: the customer pays with a reference; the operator confirms in the back office."""

from __future__ import annotations

from django.conf import settings

from boxoffice.billing.gateways.base import CheckoutStart, GatewayAdapter
from boxoffice.lib import local_defaults


class ManualGateway(GatewayAdapter):
    kind = "manual"
    label = "Bank transfer"

    @classmethod
    def config_problems(cls, settings) -> list[str]:
        details = settings.BANK_TRANSFER_DETAILS.strip()
        if not details:
            return [
                "BANK_TRANSFER_DETAILS is not set: set it to the account customers pay into "
                r"(lines separated by \n), or remove manual from PAYMENT_GATEWAYS."
            ]
        if details == local_defaults.BANK_TRANSFER_DETAILS.strip():
            return [
                "BANK_TRANSFER_DETAILS is the demo bank account: set it to the account customers "
                r"pay into (lines separated by \n), or remove manual from PAYMENT_GATEWAYS."
            ]
        return []

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
