"""Gateway kinds: kind -> adapter class. Adding a kind = one folder + one line here.

Everything else reads the registry: the model fields' choices (`kind_choices`, callable, so a new
kind needs no migration), the checkout's methods (`enabled_gateways`), webhook routing
(`webhook_gateway`), the production checks (`gateway_config_problems`) and the places that
depend on what a kind can do (`kinds_with`).

Where a kind's config comes from: its back-office GatewayAccount when one exists (billing
installs the reader, `accounts_source_set`: this package never imports models), else Django
settings (the environment) as before. Which kinds are offered: PAYMENT_GATEWAYS when that
environment variable is set; otherwise the enabled accounts in their order when any account
exists; otherwise the settings' default (stripe, manual)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from django.conf import settings

if TYPE_CHECKING:  # gateway labels are lazy translations
    from django_stubs_ext import StrOrPromise

from boxoffice.billing.gateways.base import GatewayAdapter, GatewayConfig
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


def kind_choices() -> list[tuple[str, StrOrPromise]]:
    """[(kind, label)] of every known kind, for model fields and admin filters."""
    return [(kind, cls.label) for kind, cls in GATEWAYS.items()]


def gateway_class(kind: str) -> type[GatewayAdapter]:
    try:
        return GATEWAYS[kind]
    except KeyError:
        raise ValueError(f"unknown payment gateway {kind!r}") from None


@dataclass(frozen=True)
class Account:
    """What a back-office GatewayAccount says, as plain values (built by billing)."""

    kind: str
    enabled: bool = True
    position: int = 0
    label: str = ""
    # The kind's declared fields, secrets decrypted: never in a repr.
    values: Mapping[str, object] = field(default_factory=dict, repr=False)
    # The stored secrets could not be decrypted (FIELD_ENCRYPTION_KEYS lost the key).
    unreadable: bool = False

    def config(self, settings) -> GatewayConfig:
        return gateway_class(self.kind).config_class.from_account(self.values, settings)


_accounts_source: Callable[[], dict[str, Account]] = dict


def accounts_source_set(source: Callable[[], dict[str, Account]]) -> None:
    """Install the reader of the back office's accounts: kind -> Account (billing's
    AppConfig.ready does)."""
    global _accounts_source
    _accounts_source = source


def accounts() -> dict[str, Account]:
    return {k: a for k, a in _accounts_source().items() if k in GATEWAYS}


def gateway_config(kind: str, settings=settings) -> GatewayConfig:
    """The config in force for `kind`: its account's when it has one, else the settings'."""
    account = accounts().get(kind)
    cls = gateway_class(kind)
    if account is None:
        return cls.config_class.from_settings(settings)
    return account.config(settings)


def gateway_for(kind: str) -> GatewayAdapter:
    """The adapter for `kind`, configured now (its account, else settings)."""
    return gateway_class(kind)(gateway_config(kind))


def enabled_kinds(settings=settings, found: dict[str, Account] | None = None) -> list[str]:
    """The kinds offered, in order (see the module's docstring for the rule)."""
    found = accounts() if found is None else found
    if getattr(settings, "PAYMENT_GATEWAYS_FROM_ENV", False) or not found:
        return [k for k in settings.PAYMENT_GATEWAYS if k in GATEWAYS]
    ordered = sorted(found.values(), key=lambda a: (a.position, a.kind))
    return [a.kind for a in ordered if a.enabled]


def enabled_gateways() -> list[tuple[str, StrOrPromise]]:
    """[(kind, label)] the checkout offers, in the configured order."""
    found = accounts()
    return [
        (k, (found[k].label if k in found else "") or GATEWAYS[k].label)
        for k in enabled_kinds(settings, found)
    ]


def webhook_gateway(kind: str) -> GatewayAdapter | None:
    """The adapter that verifies notifications posted to /billing/webhooks/<kind>/, or None.
    Only enabled gateways: a disabled one's secret may still be set (or be a default) and must
    not be able to confirm payments."""
    if kind not in GATEWAYS or kind not in enabled_kinds():
        return None
    return gateway_for(kind)


def kinds_with(capability: str) -> list[str]:
    """Every known kind whose class declares `capability` true (e.g. "confirmed_by_operator")."""
    return [kind for kind, cls in GATEWAYS.items() if getattr(cls, capability)]


def gateway_config_problems(settings, *, with_accounts: bool = True) -> list[str]:
    """Every problem of every enabled gateway's config in force; an unknown kind is one too.
    `with_accounts=False` (a process starting, before the database may be read): the
    settings' gateways only; `boxoffice check` and the back office read the accounts too."""
    problems = []
    found = accounts() if with_accounts else {}
    from_settings = getattr(settings, "PAYMENT_GATEWAYS_FROM_ENV", False) or not found
    if from_settings and not settings.PAYMENT_GATEWAYS:
        problems.append(
            f"PAYMENT_GATEWAYS is empty: customers could not pay. Name one or more of "
            f"{', '.join(GATEWAYS)}."
        )
    for kind in settings.PAYMENT_GATEWAYS if from_settings else ():
        if kind not in GATEWAYS:
            problems.append(
                f"PAYMENT_GATEWAYS names an unknown gateway {kind!r}: use only "
                f"{', '.join(GATEWAYS)}."
            )
    kinds = enabled_kinds(settings, found)
    if not from_settings and not kinds:
        problems.append(
            "No payment gateway is enabled in the back office: customers could not pay. "
            "Enable one (Billing > Payment gateways), or name them in PAYMENT_GATEWAYS."
        )
    for kind in kinds:
        account = found.get(kind)
        if account is None:
            problems.extend(GATEWAYS[kind].config_problems(settings))
        else:
            problems.extend(account_problems(account, settings))
    return problems


def account_problems(account: Account, settings) -> list[str]:
    """The problems of a back-office account's config, each naming the account."""
    where = f"Payment gateway {GATEWAYS[account.kind].label} (back office)"
    if account.unreadable:
        return [
            f"{where}: its stored secrets cannot be decrypted with FIELD_ENCRYPTION_KEYS: "
            "restore the key, or type the secrets again in the back office."
        ]
    return [f"{where}: {p}" for p in account.config(settings).problems(settings)]
