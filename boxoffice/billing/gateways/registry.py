"""Gateway kinds: kind -> adapter class. Adding a kind = one folder + one line here."""

from __future__ import annotations

from django.conf import settings

from boxoffice.billing.gateways.base import GatewayAdapter
from boxoffice.billing.gateways.manual.adapter import ManualGateway
from boxoffice.billing.gateways.stripe.adapter import StripeGateway

GATEWAYS: dict[str, type[GatewayAdapter]] = {
    StripeGateway.kind: StripeGateway,
    ManualGateway.kind: ManualGateway,
}

KIND_CHOICES = [(kind, cls.label) for kind, cls in GATEWAYS.items()]


def gateway_for(kind: str) -> GatewayAdapter:
    try:
        return GATEWAYS[kind]()
    except KeyError:
        raise ValueError(f"unknown payment gateway {kind!r}") from None


def enabled_gateways() -> list[tuple[str, str]]:
    """[(kind, label)] the checkout offers, in the configured order."""
    return [(k, GATEWAYS[k].label) for k in settings.PAYMENT_GATEWAYS if k in GATEWAYS]


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
