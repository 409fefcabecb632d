"""`boxoffice apply FILE.toml`: panels and plans as code.

Applying is all-or-nothing and idempotent: the file is validated completely first (unknown keys
and bad values are reported with their line), then every change is made in one transaction;
applying the same file twice changes nothing. Secrets stay out of the file: `api_key_env` names
an environment variable that holds the key.
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from django.core.exceptions import ValidationError
from django.db import transaction

from boxoffice.catalog.models import Plan, PlanPanel
from boxoffice.panels.adapters.base import OUTPUTS
from boxoffice.panels.adapters.registry import ADAPTERS
from boxoffice.panels.models import Panel

PANEL_KEYS = {
    "name",
    "kind",
    "api_url",
    "access_code",
    "api_key",
    "api_key_env",
    "public_url",
    "m3u_style",
    "epg_style",
    "capacity",
    "regions",
    "enabled",
    "verify_tls",
    "timeout_seconds",
    "max_concurrency",
    "priority",
}
PLAN_KEYS = {
    "slug",
    "name",
    "description",
    "duration_days",
    "connections",
    "price",
    "currency",
    "trial",
    "username_strategy",
    "allow_mag",
    "active",
    "sort_order",
    "panels",
}
MAPPING_KEYS = {"bouquets", "outputs"}
TOP_KEYS = {"panel", "plan"}


class ConfigError(Exception):
    def __init__(self, problems: list[str]):
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass
class ApplyResult:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.created or self.updated)


class _Locator:
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


def _check_keys(
    where: tuple, data: dict, allowed: set[str], loc: _Locator, problems: list[str]
) -> None:
    for key in data:
        if key not in allowed:
            problems.append(
                f"{loc.at(*where, key)}: unknown key {key!r} (allowed: {', '.join(sorted(allowed))})"
            )


def _model_problems(instance, where: tuple, loc: _Locator, problems: list[str], exclude=()) -> None:
    try:
        instance.full_clean(
            exclude=list(exclude), validate_unique=False, validate_constraints=False
        )
    except ValidationError as exc:
        for name, errors in exc.message_dict.items():
            key = {"is_trial": "trial"}.get(name, name)
            for error in errors:
                problems.append(f"{loc.at(*where, key)}: {key}: {error}")


def config_parse(text: str) -> tuple[dict, _Locator]:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([f"not valid TOML: {exc}"]) from None
    return data, _Locator(text)


def config_apply(*, text: str, dry_run: bool = False) -> ApplyResult:
    data, loc = config_parse(text)
    problems: list[str] = []
    _check_keys((), data, TOP_KEYS, loc, problems)
    panels_in = data.get("panel", [])
    plans_in = data.get("plan", [])
    if not isinstance(panels_in, list) or not isinstance(plans_in, list):
        raise ConfigError(["use [[panel]] and [[plan]] tables"])

    result = ApplyResult()
    with transaction.atomic():
        panels_by_name: dict[str, Panel] = {p.name: p for p in Panel.objects.all()}
        staged_panels: list[tuple[Panel, bool, bool]] = []
        names_seen: set[str] = set()
        for i, item in enumerate(panels_in):
            where = ("panel", i)
            if not isinstance(item, dict):
                problems.append(f"{loc.at(*where)}: each panel must be a [[panel]] table")
                continue
            _check_keys(where, item, PANEL_KEYS, loc, problems)
            name = item.get("name")
            if not name or not isinstance(name, str):
                problems.append(f"{loc.at(*where)}: a panel needs a name")
                continue
            if name in names_seen:
                problems.append(f"{loc.at(*where, 'name')}: panel {name!r} is defined twice")
                continue
            names_seen.add(name)
            kind = item.get("kind", "")
            exclude = ["health"]
            if not isinstance(kind, str) or kind not in ADAPTERS:
                exclude.append("kind")  # reported here once, not again as "not a valid choice"
                problems.append(
                    f"{loc.at(*where, 'kind')}: kind {kind!r} is unknown (known: {', '.join(ADAPTERS)})"
                )
            api_key = item.get("api_key")
            if "api_key_env" in item:
                env_name = item["api_key_env"]
                api_key = os.environ.get(env_name) if isinstance(env_name, str) else None
                if api_key is None:
                    problems.append(
                        f"{loc.at(*where, 'api_key_env')}: environment variable {env_name} is not set"
                    )
            panel = panels_by_name.get(name) or Panel(name=name)
            is_new = panel.pk is None
            before = _panel_snapshot(panel)
            for key, value in item.items():
                if key in {"api_key_env", "api_key"}:
                    continue
                if key in PANEL_KEYS:
                    setattr(panel, key, value)
            if api_key is not None:
                panel.api_key = api_key
            if not isinstance(panel.regions, list):
                problems.append(
                    f'{loc.at(*where, "regions")}: regions must be a list like ["DE", "AT"]'
                )
            _model_problems(panel, where, loc, problems, exclude=exclude)
            panels_by_name[name] = panel
            staged_panels.append((panel, is_new, before != _panel_snapshot(panel)))

        staged_plans = []
        slugs_seen: set[str] = set()
        for i, item in enumerate(plans_in):
            where = ("plan", i)
            if not isinstance(item, dict):
                problems.append(f"{loc.at(*where)}: each plan must be a [[plan]] table")
                continue
            _check_keys(where, item, PLAN_KEYS, loc, problems)
            slug = item.get("slug")
            if not slug or not isinstance(slug, str):
                problems.append(f"{loc.at(*where)}: a plan needs a slug")
                continue
            if slug in slugs_seen:
                problems.append(f"{loc.at(*where, 'slug')}: plan {slug!r} is defined twice")
                continue
            slugs_seen.add(slug)
            plan = Plan.objects.filter(slug=slug).first() or Plan(slug=slug)
            is_new = plan.pk is None
            before = _plan_snapshot(plan)
            bad_price = False
            for key, value in item.items():
                if key == "panels":
                    continue
                if key == "trial":
                    plan.is_trial = value
                elif key == "price":
                    try:
                        plan.price = Decimal(str(value))
                    except InvalidOperation:
                        bad_price = True
                        problems.append(
                            f"{loc.at(*where, 'price')}: price {value!r} is not a number"
                        )
                elif key in PLAN_KEYS:
                    setattr(plan, key, value)
            # A price that is not a number is reported once, not again as "cannot be null".
            _model_problems(plan, where, loc, problems, exclude=["price"] if bad_price else ())
            mappings = {}
            panels_map = item.get("panels", {})
            if not isinstance(panels_map, dict):
                problems.append(
                    f'{loc.at(*where, "panels")}: panels must be a table like [plan.panels."Name"]'
                )
                panels_map = {}
            for panel_name, mapping in panels_map.items():
                mwhere = ("plan", i, "panels", panel_name)
                if panel_name not in panels_by_name:
                    problems.append(
                        f"{loc.at(*mwhere)}: plan {slug!r} names panel {panel_name!r}, which is not defined"
                    )
                    continue
                if not isinstance(mapping, dict):
                    problems.append(
                        f"{loc.at(*mwhere)}: the mapping for panel {panel_name!r} must be a table "
                        "with bouquets and outputs"
                    )
                    continue
                _check_keys(mwhere, mapping, MAPPING_KEYS, loc, problems)
                bouquets = mapping.get("bouquets", [])
                outputs = mapping.get("outputs", ["m3u8", "ts"])
                # bool is an int subclass in Python; `true` is not a bouquet id.
                if not isinstance(bouquets, list) or not all(
                    isinstance(b, int) and not isinstance(b, bool) for b in bouquets
                ):
                    problems.append(
                        f"{loc.at(*mwhere, 'bouquets')}: bouquets must be a list of bouquet ids (whole numbers)"
                    )
                if not isinstance(outputs, list) or any(o not in OUTPUTS for o in outputs):
                    problems.append(
                        f"{loc.at(*mwhere, 'outputs')}: outputs must be a list of {', '.join(OUTPUTS)}"
                    )
                mappings[panel_name] = (bouquets, outputs)
            staged_plans.append((plan, is_new, before != _plan_snapshot(plan), mappings))

        if problems:
            raise ConfigError(problems)

        for panel, is_new, changed in staged_panels:
            label = f"panel {panel.name}"
            if is_new or changed:
                panel.save()
                (result.created if is_new else result.updated).append(label)
            else:
                result.unchanged.append(label)
        for plan, is_new, changed, mappings in staged_plans:
            label = f"plan {plan.slug}"
            if is_new or changed:
                plan.save()
            mapping_changed = _plan_mappings_sync(plan, mappings, panels_by_name)
            if is_new:
                result.created.append(label)
            elif changed or mapping_changed:
                result.updated.append(label)
            else:
                result.unchanged.append(label)
        if dry_run:
            transaction.set_rollback(True)
    return result


def _panel_snapshot(panel: Panel) -> tuple:
    return tuple(getattr(panel, k, None) for k in sorted(PANEL_KEYS - {"api_key_env"}))


def _plan_snapshot(plan: Plan) -> tuple:
    keys = sorted(PLAN_KEYS - {"panels", "trial"})
    return (*(getattr(plan, k, None) for k in keys), plan.is_trial)


def _plan_mappings_sync(plan: Plan, mappings: dict, panels_by_name: dict[str, Panel]) -> bool:
    changed = False
    wanted = set()
    for panel_name, (bouquets, outputs) in mappings.items():
        panel = panels_by_name[panel_name]
        wanted.add(panel.pk)
        mapping = PlanPanel.objects.filter(plan=plan, panel=panel).first()
        if mapping is None:
            PlanPanel.objects.create(plan=plan, panel=panel, bouquets=bouquets, outputs=outputs)
            changed = True
        elif mapping.bouquets != bouquets or mapping.outputs != outputs:
            mapping.bouquets, mapping.outputs = bouquets, outputs
            mapping.save(update_fields=["bouquets", "outputs"])
            changed = True
    stale = PlanPanel.objects.filter(plan=plan).exclude(panel_id__in=wanted)
    if mappings and stale.exists():
        stale.delete()
        changed = True
    return changed
