"""`[[gateway]]` tables of `boxoffice apply`/`export`: the back office's payment gateways as code.

A table's keys are `kind` (one table per kind), `enabled`, `position`, `label` and the fields its
kind's config class declares (`config_fields`); a secret field is given as `<field>_env`, the
name of an environment variable that holds it, with the panels' rules (named for its field,
none of the site's own settings: catalog.config_as_code.secret_env_refusal). Fields a table
leaves out keep their stored values; an exported file applied again changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

from boxoffice.billing.gateways.base import GatewayConfig
from boxoffice.billing.gateways.registry import GATEWAYS
from boxoffice.billing.models import GatewayAccount
from boxoffice.catalog import config_as_code as catalog_config
from boxoffice.catalog.config_as_code import (
    ApplyResult,
    Locator,
    Section,
    check_keys,
    config_fields_stage,
    model_problems,
    toml_value,
)

COMMON_GATEWAY_KEYS = ("kind", "enabled", "position", "label")


def gateway_keys(config_class: type[GatewayConfig] | None) -> set[str]:
    """The keys a [[gateway]] of this kind may have (any kind's, if the kind is unknown)."""
    classes = [config_class] if config_class else [g.config_class for g in GATEWAYS.values()]
    keys = set(COMMON_GATEWAY_KEYS)
    for cls in classes:
        for f in cls.config_fields:
            keys.add(f.name)
            if f.secret:
                keys.add(f"{f.name}_env")
    return keys


@dataclass
class _Staged:
    account: GatewayAccount
    is_new: bool
    changed: bool


def gateways_stage(items: list, loc: Locator, problems: list[str]) -> list[_Staged]:
    staged: list[_Staged] = []
    existing = {a.kind: a for a in GatewayAccount.objects.all()}
    seen: set[str] = set()
    for i, item in enumerate(items):
        where = ("gateway", i)
        if not isinstance(item, dict):
            problems.append(f"{loc.at(*where)}: each gateway must be a [[gateway]] table")
            continue
        kind = item.get("kind")
        cls = GATEWAYS.get(kind) if isinstance(kind, str) else None
        check_keys(where, item, gateway_keys(cls.config_class if cls else None), loc, problems)
        if cls is None or not isinstance(kind, str):
            problems.append(
                f"{loc.at(*where, 'kind')}: kind {kind!r} is unknown (known: {', '.join(GATEWAYS)})"
            )
            continue
        if kind in seen:
            problems.append(f"{loc.at(*where, 'kind')}: gateway {kind!r} is defined twice")
            continue
        seen.add(kind)
        account = existing.get(kind) or GatewayAccount(kind=kind)
        staged.append(_gateway_stage(account, cls.config_class, item, where, loc, problems))
    return staged


def _gateway_stage(
    account: GatewayAccount,
    config_class: type[GatewayConfig],
    item: dict,
    where: tuple,
    loc: Locator,
    problems: list[str],
) -> _Staged:
    is_new = account.pk is None
    before = _snapshot(account)
    for key in COMMON_GATEWAY_KEYS[1:]:
        if key in item:
            setattr(account, key, item[key])
    account.settings, account.secrets = dict(account.settings), dict(account.secrets)
    config_fields_stage(
        account, config_class.config_fields, item, where, loc, problems, what="gateway"
    )
    model_problems(account, where, loc, problems, exclude=["kind"])
    return _Staged(account, is_new, before != _snapshot(account))


def _snapshot(account: GatewayAccount) -> tuple:
    common = tuple(getattr(account, k) for k in COMMON_GATEWAY_KEYS)
    return (*common, dict(account.settings), dict(account.secrets))


def gateways_save(staged: list[_Staged], result: ApplyResult) -> None:
    for one in staged:
        label = f"gateway {one.account.kind}"
        if one.is_new or one.changed:
            one.account.save()
            (result.created if one.is_new else result.updated).append(label)
        else:
            result.unchanged.append(label)


def gateway_secret_env_name(kind: str, field_name: str) -> str:
    """The environment variable an exported file names for a gateway's secret field
    (GATEWAY_STRIPE_SECRET_KEY: not STRIPE_SECRET_KEY, which is one of the site's settings)."""
    return f"GATEWAY_{kind.upper()}_{field_name.upper()}"


def gateways_export() -> list[str]:
    out: list[str] = []
    for account in GatewayAccount.objects.order_by("position", "kind"):
        cls = GATEWAYS.get(account.kind)
        if cls is None:
            continue  # a retired kind: nothing a file could apply
        out.append("[[gateway]]")
        for key in COMMON_GATEWAY_KEYS:
            out.append(f"{key} = {toml_value(getattr(account, key))}")
        for f in cls.config_class.config_fields:
            if f.secret:
                env = gateway_secret_env_name(account.kind, f.name)
                out.append(f"{f.name}_env = {toml_value(env)}")
            elif f.name in account.settings:
                out.append(f"{f.name} = {toml_value(account.settings[f.name])}")
        out.append("")
    return out


GATEWAY_SECTION = Section(
    key="gateway", stage=gateways_stage, save=gateways_save, export=gateways_export
)
SECTIONS = (GATEWAY_SECTION,)


def config_apply(*, text: str, dry_run: bool = False, check_panels: bool = False) -> ApplyResult:
    """Panels, plans and payment gateways from one file (catalog.config_as_code);
    `check_panels` asks each mapped panel for its bouquets/packages and warns about ids it
    does not have."""
    return catalog_config.config_apply(
        text=text, dry_run=dry_run, sections=SECTIONS, check_panels=check_panels
    )


def config_export() -> str:
    return catalog_config.config_export(sections=SECTIONS)
