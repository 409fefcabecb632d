"""Gateway kinds: kind -> adapter class. Adding a kind = one folder + one line here.

Everything else reads the registry: the model fields' choices (`kind_choices`, callable, so a new
kind needs no migration), the checkout's methods (`enabled_gateways`), webhook routing
(`webhook_gateway`), the production checks (`gateway_config_problems`) and the places that
depend on what a kind can do (`kinds_with`)."""

from __future__ import annotations

from django.conf import settings

from boxoffice.billing.gateways.base import GatewayAdapter
from boxoffice.billing.gateways.btcpay.adapter import BTCPayGateway
from boxoffice.billing.gateways.manual.adapter import ManualGateway
from boxoffice.billing.gateways.nowpayments.adapter import NOWPaymentsGateway
from boxoffice.billing.gateways.paypal.adapter import PayPalGateway
from boxoffice.billing.gateways.stripe.adapter import StripeGateway

GATEWAYS: dict[str, type[GatewayAdapter]] = {
    StripeGateway.kind: StripeGateway,
    PayPalGateway.kind: PayPalGateway,
    ManualGateway.kind: ManualGateway,
    BTCPayGateway.kind: BTCPayGateway,
    NOWPaymentsGateway.kind: NOWPaymentsGateway,
}


def kind_choices() -> list[tuple[str, str]]:
    """[(kind, label)] of every known kind, for model fields and admin filters."""
    return [(kind, cls.label) for kind, cls in GATEWAYS.items()]


def gateway_class(kind: str) -> type[GatewayAdapter]:
    try:
        return GATEWAYS[kind]
    except KeyError:
        raise ValueError(f"unknown payment gateway {kind!r}") from None


def gateway_for(kind: str) -> GatewayAdapter:
    """The adapter for `kind`, configured from settings now."""
    return gateway_class(kind)()


def enabled_gateways() -> list[tuple[str, str]]:
    """[(kind, label)] the checkout offers, in the configured order."""
    return [(k, GATEWAYS[k].label) for k in settings.PAYMENT_GATEWAYS if k in GATEWAYS]


def webhook_gateway(kind: str) -> GatewayAdapter | None:
    """The adapter that verifies notifications posted to /billing/webhooks/<kind>/, or None.
    Only enabled gateways: a disabled one's secret may still be set (or be a default) and must
    not be able to confirm payments."""
    if kind not in GATEWAYS or kind not in settings.PAYMENT_GATEWAYS:
        return None
    return gateway_for(kind)


def kinds_with(capability: str) -> list[str]:
    """Every known kind whose class declares `capability` true (e.g. "confirmed_by_operator")."""
    return [kind for kind, cls in GATEWAYS.items() if getattr(cls, capability)]


def gateway_config_problems(settings) -> list[str]:
    """Every problem of every gateway in PAYMENT_GATEWAYS; an unknown kind is one too."""
    problems = []
    if not settings.PAYMENT_GATEWAYS:
        problems.append(
            f"PAYMENT_GATEWAYS is empty: customers could not pay. Name one or more of "
            f"{', '.join(GATEWAYS)}."
        )
    for kind in settings.PAYMENT_GATEWAYS:
        if kind not in GATEWAYS:
            problems.append(
                f"PAYMENT_GATEWAYS names an unknown gateway {kind!r}: use only "
                f"{', '.join(GATEWAYS)}."
            )
            continue
        problems.extend(GATEWAYS[kind].config_problems(settings))
    return problems
