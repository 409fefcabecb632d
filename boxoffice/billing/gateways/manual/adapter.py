"""Bank transfer: the customer pays with a reference; the operator confirms in the back office.

Everything particular to bank transfers lives here: the account details and their wording
(`instructions`), the status page's words while a transfer is awaited, and the capability that
sends its pending orders to the back office's confirm-transfer page (`confirmed_by_operator`).
It sends no notifications: nothing but an operator moves its payments."""

from __future__ import annotations

from dataclasses import dataclass

from django.utils.translation import gettext_lazy as _

from boxoffice.billing.gateways.base import (
    CheckoutRequest,
    CheckoutStart,
    ConfigField,
    GatewayAdapter,
    GatewayConfig,
)
from boxoffice.lib import local_defaults


@dataclass(frozen=True)
class ManualConfig(GatewayConfig):
    # The account customers pay into, one line per detail (holder, IBAN, BIC...).
    details: str = ""

    config_fields = (
        ConfigField(
            "details",
            "Bank account",
            help="What customers pay into, one detail a line (holder, IBAN, BIC...)",
        ),
    )
    multiline = ("details",)

    @classmethod
    def from_account(cls, values, settings) -> ManualConfig:
        return cls(details=str(values.get("details") or "").strip())

    @classmethod
    def from_settings(cls, settings) -> ManualConfig:
        return cls(details=settings.BANK_TRANSFER_DETAILS.strip())

    def problems(self, settings) -> list[str]:
        if not self.details:
            return [
                "BANK_TRANSFER_DETAILS is not set: set it to the account customers pay into "
                r"(lines separated by \n), or remove manual from PAYMENT_GATEWAYS."
            ]
        if self.details == local_defaults.BANK_TRANSFER_DETAILS.strip():
            return [
                "BANK_TRANSFER_DETAILS is the demo bank account: set it to the account customers "
                r"pay into (lines separated by \n), or remove manual from PAYMENT_GATEWAYS."
            ]
        return []


class ManualGateway(GatewayAdapter):
    kind = "manual"
    label = _("Bank transfer")
    config_class = ManualConfig
    config: ManualConfig

    confirmed_by_operator = True
    instructions_headline = _("Waiting for your bank transfer")
    instructions_detail = _(
        "Transfers take one to three working days. We e-mail you the moment it arrives."
    )

    def start_checkout(self, request: CheckoutRequest) -> CheckoutStart:
        return CheckoutStart(
            redirect_url=request.success_url, instructions=self.instructions(request)
        )

    def instructions(self, request: CheckoutRequest) -> str:
        return (
            f"Please transfer {request.amount} {request.currency} to:\n{self.config.details}\n"
            f"Reference: {request.order_reference}\n"
            "Use exactly this reference so we can match your payment. Your line is created as "
            "soon as the transfer arrives; we e-mail you the login details."
        )
