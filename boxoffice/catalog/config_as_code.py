"""`boxoffice apply FILE.toml`: panels and plans as code.

Applying is all-or-nothing and idempotent: the file is validated completely first (unknown keys
and bad values are reported with their line), then every change is made in one transaction;
applying the same file twice changes nothing. Secrets stay out of the file: for a kind's secret
field (XUI One's `api_key`), `<field>_env` names an environment variable that holds it.

A panel's keys are the columns every kind has plus the fields its kind declares
(`config_fields`); a plan's `[plan.panels."Name"]` keys are the panel kind's `plan_fields`.
Apps above the catalog add tables of their own as a `Section` (billing's `[[gateway]]`,
boxoffice.billing.config_as_code); the commands pass them in.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from boxoffice.catalog.models import Plan, PlanPanel, PlanPrice
from boxoffice.lib.env import SETTINGS_VARIABLES
from boxoffice.lib.http import http_deadline
from boxoffice.panels.adapters.base import FieldError, PanelAdapter
from boxoffice.panels.adapters.registry import ADAPTERS
from boxoffice.panels.models import Panel
from boxoffice.panels.panel_catalog import mapping_unknown_ids, panel_catalog_fetch

# How long `apply` waits for one panel when checking the plans' mappings against it.
APPLY_CHECK_SECONDS = 5.0

# The columns every kind has, in the order an export writes them; each kind adds its declared
# fields (see panel_keys).
PANEL_EXPORT_ORDER = (
    "name",
    "kind",
    "api_url",
    "public_url",
    "capacity",
    "regions",
    "enabled",
    "verify_tls",
    "timeout_seconds",
    "max_concurrency",
    "priority",
    "fallback_rank",  # routing's fallback order when no panel serves a customer's region
)
COMMON_PANEL_KEYS = set(PANEL_EXPORT_ORDER)
PLAN_EXPORT_ORDER = (
    "slug",
    "name",
    "description",
    "duration_days",
    "duration_hours",
    "connections",
    "price",
    "currency",
    "trial",
    "username_strategy",
    "allow_mag",
    "active",
    "sort_order",
    "reminder_days",
    "grace_days",
    "terminate_after_days",
    "winback_days",
    "winback_text",
    "extra_connection_price",
    "max_extra_connections",
    "auto_renew",
)
_MONEY_KEYS = ("price", "extra_connection_price")
PLAN_KEYS = {*PLAN_EXPORT_ORDER, "panels", "prices"}
TOP_KEYS = {"panel", "plan"}


class ConfigError(Exception):
    def __init__(self, problems: list[str]):
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class Section:
    """A table kind of another app: `[[key]]`. `stage(items, loc, problems)` validates every
    item (problems with their line, nothing saved) and returns what `save(staged, result)`
    writes once the whole file is valid; `export()` writes its tables."""

    key: str
    stage: Callable[[list, Any, list[str]], Any]
    save: Callable[[Any, ApplyResult], None]
    export: Callable[[], list[str]]


@dataclass
class ApplyResult:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    # What the panels said about the plans' mappings (ids they do not have, a panel that
    # could not be reached): reported, never a reason to refuse the file.
    warnings: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.created or self.updated)


class Locator:
    """Line numbers for keys, so errors point at the line to fix (tomllib keeps none)."""

    _header = re.compile(r"^\s*\[\[?\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")
    _key = re.compile(r'^\s*("[^"]+"|[A-Za-z0-9_-]+)\s*=')

    def __init__(self, text: str):
        self.lines: dict[tuple, int] = {}
        counters: dict[str, int] = {}
        path: tuple = ()
        for number, raw in enumerate(text.splitlines(), start=1):
            header = self._header.match(raw)
            if header:
                parts = [
                    p.strip().strip('"') for p in re.findall(r'"[^"]*"|[^.]+', header.group(1))
                ]
                if raw.strip().startswith("[["):
                    counters[parts[0]] = counters.get(parts[0], -1) + 1
                    path = (parts[0], counters[parts[0]])
                else:
                    index = counters.get(parts[0], 0)
                    path = (parts[0], index, *parts[1:])
                self.lines.setdefault(path, number)
                continue
            key = self._key.match(raw)
            if key:
                self.lines.setdefault((*path, key.group(1).strip('"')), number)

    def at(self, *path) -> str:
        while path:
            if path in self.lines:
                return f"line {self.lines[path]}"
            path = path[:-1]
        return "file"


def check_keys(
    where: tuple, data: dict, allowed: set[str], loc: Locator, problems: list[str]
) -> None:
    for key in data:
        if key not in allowed:
            problems.append(
                f"{loc.at(*where, key)}: unknown key {key!r} (allowed: {', '.join(sorted(allowed))})"
            )


def model_problems(instance, where: tuple, loc: Locator, problems: list[str], exclude=()) -> None:
    try:
        instance.full_clean(
            exclude=list(exclude), validate_unique=False, validate_constraints=False
        )
    except ValidationError as exc:
        for name, errors in exc.message_dict.items():
            key = {"is_trial": "trial"}.get(name, name)
            for error in errors:
                problems.append(f"{loc.at(*where, key)}: {key}: {error}")


def config_parse(text: str) -> tuple[dict, Locator]:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([f"not valid TOML: {exc}"]) from None
    return data, Locator(text)


def panel_keys(cls: type[PanelAdapter] | None) -> set[str]:
    """The keys a [[panel]] of this kind may have (any kind's, if the kind is unknown)."""
    kinds = [cls] if cls is not None else list(ADAPTERS.values())
    keys = set(COMMON_PANEL_KEYS)
    for kind in kinds:
        for f in kind.config_fields:
            keys.add(f.name)
            if f.secret:
                keys.add(f"{f.name}_env")
    return keys


def config_apply(
    *,
    text: str,
    dry_run: bool = False,
    sections: Sequence[Section] = (),
    check_panels: bool = False,
) -> ApplyResult:
    data, loc = config_parse(text)
    problems: list[str] = []
    panels_in, plans_in, extra_in = _top_level(data, loc, problems, sections)
    result = ApplyResult()
    with transaction.atomic():
        panels_by_name: dict[str, Panel] = {p.name: p for p in Panel.objects.all()}
        staged_panels = _panels_stage(panels_in, panels_by_name, loc, problems)
        staged_plans = _plans_stage(plans_in, panels_by_name, loc, problems)
        staged_extra = [s.stage(extra_in[s.key], loc, problems) for s in sections]
        if problems:
            raise ConfigError(problems)
        _panels_save(staged_panels, result)
        _plans_save(staged_plans, panels_by_name, result)
        for section, staged in zip(sections, staged_extra, strict=True):
            section.save(staged, result)
        if dry_run:
            transaction.set_rollback(True)
    if check_panels:
        # After the transaction: asking panels is network I/O.
        result.warnings += _plan_mappings_check(staged_plans, staged_panels, panels_by_name)
    return result


def _plan_mappings_check(
    staged_plans: list[_StagedPlan],
    staged_panels: list[_StagedPanel],
    panels_by_name: dict[str, Panel],
) -> list[str]:
    """Each panel a plan maps onto, asked once for its bouquets/packages: a warning per id it
    does not have, or that it could not be asked."""
    panels = {**panels_by_name, **{s.panel.name: s.panel for s in staged_panels}}
    fetched: dict[str, dict] = {}
    warnings = []
    for one in staged_plans:
        for panel_name, mapping in one.mappings.items():
            panel = panels.get(panel_name)
            if panel is None or panel.kind_class is None:
                continue
            if panel_name not in fetched:
                try:
                    with http_deadline(APPLY_CHECK_SECONDS):
                        fetched[panel_name] = panel_catalog_fetch(panel=panel)
                except (ValueError, FieldError) as exc:  # settings its kind refuses
                    fetched[panel_name] = {"error": str(exc)}
                error = fetched[panel_name].get("error")
                if error:
                    warnings.append(
                        f"panel {panel_name!r} could not be asked for its bouquets/packages, "
                        f"so plan mappings onto it were not checked: {error}"
                    )
            for problem in mapping_unknown_ids(panel, mapping, fetched[panel_name]):
                warnings.append(f"plan {one.plan.slug!r}: {problem}")
    return warnings


def _top_level(
    data: dict, loc: Locator, problems: list[str], sections: Sequence[Section] = ()
) -> tuple[list, list, dict[str, list]]:
    check_keys((), data, TOP_KEYS | {s.key for s in sections}, loc, problems)
    panels_in = data.get("panel", [])
    plans_in = data.get("plan", [])
    extra_in = {s.key: data.get(s.key, []) for s in sections}
    tables = [panels_in, plans_in, *extra_in.values()]
    if not all(isinstance(t, list) for t in tables):
        names = " and ".join(f"[[{k}]]" for k in ("panel", "plan", *extra_in))
        raise ConfigError([f"use {names} tables"])
    return panels_in, plans_in, extra_in


# --- Panels ------------------------------------------------------------------------------------


@dataclass
class _StagedPanel:
    panel: Panel
    is_new: bool
    changed: bool


def _panels_stage(
    panels_in: list, panels_by_name: dict[str, Panel], loc: Locator, problems: list[str]
) -> list[_StagedPanel]:
    staged: list[_StagedPanel] = []
    names_seen: set[str] = set()
    for i, item in enumerate(panels_in):
        where = ("panel", i)
        if not isinstance(item, dict):
            problems.append(f"{loc.at(*where)}: each panel must be a [[panel]] table")
            continue
        name = _panel_name(item, where, names_seen, loc, problems)
        if name is None:
            continue
        panel = panels_by_name.get(name) or Panel(name=name)
        one = _panel_stage(panel, item, where, loc, problems)
        panels_by_name[name] = panel
        staged.append(one)
    return staged


def _panel_name(
    item: dict, where: tuple, names_seen: set[str], loc: Locator, problems: list[str]
) -> str | None:
    kind_cls = ADAPTERS.get(item.get("kind")) if isinstance(item.get("kind"), str) else None
    check_keys(where, item, panel_keys(kind_cls), loc, problems)
    name = item.get("name")
    if not name or not isinstance(name, str):
        problems.append(f"{loc.at(*where)}: a panel needs a name")
        return None
    if name in names_seen:
        problems.append(f"{loc.at(*where, 'name')}: panel {name!r} is defined twice")
        return None
    names_seen.add(name)
    return name


def _panel_stage(
    panel: Panel, item: dict, where: tuple, loc: Locator, problems: list[str]
) -> _StagedPanel:
    is_new = panel.pk is None
    before = _panel_snapshot(panel)
    kind = item.get("kind", "")
    exclude = ["health"]
    cls = ADAPTERS.get(kind) if isinstance(kind, str) else None
    if cls is None:
        exclude.append("kind")  # reported here once, not again as "not a valid choice"
        problems.append(
            f"{loc.at(*where, 'kind')}: kind {kind!r} is unknown (known: {', '.join(ADAPTERS)})"
        )
    for key, value in item.items():
        if key in COMMON_PANEL_KEYS:
            setattr(panel, key, value)
    if cls is not None:
        _panel_settings_stage(panel, cls, item, where, loc, problems)
    model_problems(panel, where, loc, problems, exclude=exclude)
    return _StagedPanel(panel, is_new, before != _panel_snapshot(panel))


def _panel_settings_stage(
    panel: Panel, cls: type[PanelAdapter], item: dict, where: tuple, loc, problems: list[str]
) -> None:
    """The kind's declared fields from the file (secrets possibly from the environment); the
    ones the file leaves out keep their stored values. The model's clean validates them."""
    declared = {f.name for f in cls.config_fields}  # a changed kind drops the old kind's
    panel.settings = {k: v for k, v in panel.settings.items() if k in declared}
    panel.secrets = {k: v for k, v in panel.secrets.items() if k in declared}
    config_fields_stage(panel, cls.config_fields, item, where, loc, problems)


def config_fields_stage(
    target, fields, item: dict, where: tuple, loc, problems: list[str], what: str = "panel"
) -> None:
    """Set each declared field the file names on `target` (a Panel or a GatewayAccount, by its
    `setting_set`); a secret may come as `<field>_env`, the name of an environment variable,
    refused where it could copy the site's own secrets (`secret_env_refusal`)."""
    for f in fields:
        value = item.get(f.name)
        env_key = f"{f.name}_env"
        if f.secret and env_key in item:
            env_name = item[env_key]
            refusal = secret_env_refusal(env_name, f.name, what=what)
            if refusal:
                problems.append(f"{loc.at(*where, env_key)}: {refusal}")
                continue
            value = os.environ.get(env_name)
            if value is None:
                problems.append(
                    f"{loc.at(*where, env_key)}: environment variable {env_name} is not set"
                )
                continue
        if value is not None:
            target.setting_set(f.name, value)


_ENV_NAME = re.compile(r"[A-Z][A-Z0-9_]{0,99}")


def secret_env_refusal(env_name: object, field_name: str, what: str = "panel") -> str:
    """Why `<field>_env = env_name` may not fill a panel's secret field, or "". A file must not
    copy the site's own secrets (SECRET_KEY, FIELD_ENCRYPTION_KEYS, DATABASE_URL, the gateways'
    keys…) into a panel, whose client would send them to the address the same file names: the
    variable must be named for the field (`…_<FIELD>`, e.g. DEMO_PANEL_API_KEY for `api_key`)
    and be none of the variables the settings read."""
    suffix = f"_{field_name.upper()}"
    if not isinstance(env_name, str) or not _ENV_NAME.fullmatch(env_name):
        return "name an environment variable in capitals, digits and _ (e.g. MY_PANEL_API_KEY)"
    if not env_name.endswith(suffix) or env_name == suffix.lstrip("_"):
        return f"the variable's name must end in {suffix} (e.g. MY_PANEL{suffix}), not {env_name}"
    if env_name in SETTINGS_VARIABLES:
        return (
            f"{env_name} is one of Boxoffice's own settings: a {what} secret needs a variable "
            "of its own"
        )
    return ""


def _panels_save(staged: list[_StagedPanel], result: ApplyResult) -> None:
    for one in staged:
        label = f"panel {one.panel.name}"
        if one.is_new or one.changed:
            one.panel.save()
            (result.created if one.is_new else result.updated).append(label)
        else:
            result.unchanged.append(label)


# --- Plans -------------------------------------------------------------------------------------


@dataclass
class _StagedPlan:
    plan: Plan
    is_new: bool
    changed: bool
    mappings: dict[str, dict]
    prices: dict[str, Decimal] | None = None  # None: the file says nothing about them


def _plans_stage(
    plans_in: list, panels_by_name: dict[str, Panel], loc: Locator, problems: list[str]
) -> list[_StagedPlan]:
    staged: list[_StagedPlan] = []
    slugs_seen: set[str] = set()
    for i, item in enumerate(plans_in):
        where = ("plan", i)
        if not isinstance(item, dict):
            problems.append(f"{loc.at(*where)}: each plan must be a [[plan]] table")
            continue
        check_keys(where, item, PLAN_KEYS, loc, problems)
        slug = item.get("slug")
        if not slug or not isinstance(slug, str):
            problems.append(f"{loc.at(*where)}: a plan needs a slug")
            continue
        if slug in slugs_seen:
            problems.append(f"{loc.at(*where, 'slug')}: plan {slug!r} is defined twice")
            continue
        slugs_seen.add(slug)
        staged.append(_plan_stage(i, slug, item, panels_by_name, loc, problems))
    return staged


def _plan_stage(
    i: int, slug: str, item: dict, panels_by_name: dict[str, Panel], loc, problems: list[str]
) -> _StagedPlan:
    where = ("plan", i)
    plan = Plan.objects.filter(slug=slug).first() or Plan(slug=slug)
    is_new = plan.pk is None
    before = _plan_snapshot(plan)
    bad_prices: list[str] = []
    for key, value in item.items():
        if key in ("panels", "prices"):
            continue
        if key == "trial":
            plan.is_trial = value
        elif key in _MONEY_KEYS:
            try:
                setattr(plan, key, Decimal(str(value)))
            except InvalidOperation:
                bad_prices.append(key)
                problems.append(f"{loc.at(*where, key)}: {key} {value!r} is not a number")
        elif key in PLAN_KEYS:
            setattr(plan, key, value)
    # A price that is not a number is reported once, not again as "cannot be null".
    model_problems(plan, where, loc, problems, exclude=bad_prices)
    mappings = _plan_mappings_stage(i, slug, item, panels_by_name, loc, problems)
    prices = _plan_prices_stage(where, plan, item.get("prices"), loc, problems)
    return _StagedPlan(plan, is_new, before != _plan_snapshot(plan), mappings, prices)


def _plan_prices_stage(where, plan: Plan, value, loc, problems: list[str]):
    """`prices = { GBP = "8.49", USD = "10.99" }`: the plan's price in other currencies."""
    if value is None:
        return None
    if not isinstance(value, dict):
        problems.append(
            f'{loc.at(*where, "prices")}: prices must be a table like {{ GBP = "8.49" }}'
        )
        return None
    prices: dict[str, Decimal] = {}
    for currency, amount in value.items():
        code = str(currency).upper()
        if len(code) != 3 or not code.isalpha() or code == (plan.currency or "").upper():
            problems.append(
                f"{loc.at(*where, 'prices')}: {currency!r} is not another currency's "
                "three-letter code"
            )
            continue
        try:
            price = Decimal(str(amount))
        except InvalidOperation:
            price = Decimal("-1")
        if not price.is_finite() or price < 0 or price != price.quantize(Decimal("0.01")):
            problems.append(
                f"{loc.at(*where, 'prices')}: the {code} price {amount!r} is not an amount"
            )
            continue
        if plan.is_trial and price:
            problems.append(f"{loc.at(*where, 'prices')}: a trial plan is free in every currency")
            continue
        prices[code] = price
    return prices


def _plan_mappings_stage(
    i: int, slug: str, item: dict, panels_by_name: dict[str, Panel], loc, problems: list[str]
) -> dict[str, dict]:
    where = ("plan", i)
    mappings: dict[str, dict] = {}
    panels_map = item.get("panels", {})
    if not isinstance(panels_map, dict):
        problems.append(
            f'{loc.at(*where, "panels")}: panels must be a table like [plan.panels."Name"]'
        )
        return mappings
    for panel_name, mapping in panels_map.items():
        mwhere = ("plan", i, "panels", panel_name)
        if panel_name not in panels_by_name:
            problems.append(
                f"{loc.at(*mwhere)}: plan {slug!r} names panel {panel_name!r}, which is not defined"
            )
            continue
        cls = panels_by_name[panel_name].kind_class
        if cls is None:
            continue  # the panel's kind is unknown: reported with the panel
        names = [f.name for f in cls.plan_fields]
        if not isinstance(mapping, dict):
            problems.append(
                f"{loc.at(*mwhere)}: the mapping for panel {panel_name!r} must be a table "
                f"with {' and '.join(names)}"
            )
            continue
        check_keys(mwhere, mapping, set(names), loc, problems)
        cleaned = {}
        for f in cls.plan_fields:
            try:
                cleaned[f.name] = f.clean(mapping.get(f.name))
            except FieldError as exc:
                problems.append(f"{loc.at(*mwhere, f.name)}: {exc.message}")
        mappings[panel_name] = cleaned
    return mappings


def _plans_save(
    staged: list[_StagedPlan], panels_by_name: dict[str, Panel], result: ApplyResult
) -> None:
    for one in staged:
        label = f"plan {one.plan.slug}"
        if one.is_new or one.changed:
            one.plan.save()
        mapping_changed = _plan_mappings_sync(one.plan, one.mappings, panels_by_name)
        if one.prices is not None:
            mapping_changed = _plan_prices_sync(one.plan, one.prices) or mapping_changed
        if one.is_new:
            result.created.append(label)
        elif one.changed or mapping_changed:
            result.updated.append(label)
        else:
            result.unchanged.append(label)


def _panel_snapshot(panel: Panel) -> tuple:
    common = tuple(getattr(panel, k, None) for k in sorted(COMMON_PANEL_KEYS))
    return (*common, dict(panel.settings), dict(panel.secrets))


def _plan_snapshot(plan: Plan) -> tuple:
    keys = sorted(PLAN_KEYS - {"panels", "trial"})
    return (*(getattr(plan, k, None) for k in keys), plan.is_trial)


def _plan_mappings_sync(plan: Plan, mappings: dict, panels_by_name: dict[str, Panel]) -> bool:
    changed = False
    wanted = set()
    for panel_name, values in mappings.items():
        panel = panels_by_name[panel_name]
        wanted.add(panel.pk)
        mapping = PlanPanel.objects.filter(plan=plan, panel=panel).first()
        if mapping is None:
            PlanPanel.objects.create(plan=plan, panel=panel, mapping=values)
            changed = True
        elif mapping.mapping != values:
            mapping.mapping = values
            mapping.save(update_fields=["mapping"])
            changed = True
    stale = PlanPanel.objects.filter(plan=plan).exclude(panel_id__in=wanted)
    if mappings and stale.exists():
        stale.delete()
        changed = True
    return changed


def _plan_prices_sync(plan: Plan, prices: dict[str, Decimal]) -> bool:
    have = {p.currency: p for p in PlanPrice.objects.filter(plan=plan)}
    changed = False
    for currency, amount in prices.items():
        current = have.pop(currency, None)
        if current is None:
            PlanPrice.objects.create(plan=plan, currency=currency, amount=amount)
            changed = True
        elif current.amount != amount:
            current.amount = amount
            current.save(update_fields=["amount"])
            changed = True
    if have:
        PlanPrice.objects.filter(pk__in=[p.pk for p in have.values()]).delete()
        changed = True
    return changed


# --- Export ------------------------------------------------------------------------------------


def secret_env_name(panel_name: str, field_name: str) -> str:
    """The environment variable an exported file names for a panel's secret field."""
    stem = re.sub(r"[^A-Za-z0-9]+", "_", panel_name).strip("_").upper() or "PANEL"
    return f"{stem}_{field_name.upper()}"


def config_export(sections: Sequence[Section] = ()) -> str:
    """Every panel and plan as a file `config_apply` accepts: applying it changes nothing.
    Secret fields are written as `<field>_env` naming an environment variable
    (`secret_env_name`), never their value."""
    out: list[str] = []
    used_env: set[str] = set()
    for panel in Panel.objects.order_by("name"):
        out.append("[[panel]]")
        for key in PANEL_EXPORT_ORDER:
            out.append(f"{key} = {toml_value(getattr(panel, key))}")
        cls = panel.kind_class
        for f in cls.config_fields if cls else ():
            if f.secret:
                env = secret_env_name(panel.name, f.name)
                if env in used_env:  # two names that spell alike ("Panel A", "panel-a")
                    env = secret_env_name(f"{panel.name} {panel.pk}", f.name)
                used_env.add(env)
                out.append(f"{f.name}_env = {toml_value(env)}")
            elif f.name in panel.settings:
                out.append(f"{f.name} = {toml_value(panel.settings[f.name])}")
        out.append("")
    for plan in Plan.objects.order_by("sort_order", "slug"):
        out.append("[[plan]]")
        for key in PLAN_EXPORT_ORDER:
            value = plan.is_trial if key == "trial" else getattr(plan, key)
            if value is None:  # an optional key left unset (duration_hours)
                continue
            out.append(f"{key} = {toml_value(str(value) if key in _MONEY_KEYS else value)}")
        prices = [f"{p.currency} = {toml_value(str(p.amount))}" for p in plan.prices.all()]
        if prices:
            out.append("prices = { " + ", ".join(prices) + " }")
        for mapping in plan.panel_mappings.select_related("panel").order_by("panel__name"):
            out.append("")
            out.append(f"[plan.panels.{toml_value(mapping.panel.name)}]")
            for key, value in mapping.mapping.items():
                out.append(f"{key} = {toml_value(value)}")
        out.append("")
    for section in sections:
        out.extend(section.export())
    return "\n".join(out)


def toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, str):
        escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
        return f'"{escaped}"'
    raise TypeError(f"cannot write {type(value).__name__} to TOML")
