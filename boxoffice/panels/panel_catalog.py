"""A panel's bouquets and packages, synced so plan mappings show names an operator recognises.

`panel_catalog_sync` asks the panel (network I/O: never inside a transaction) with what its kind
can (`list_bouquets`, `list_packages`) and stores names and ids on `Panel.catalog`. Plan mapping
pages and `boxoffice apply` read the stored lists; nothing on the order path asks the panel.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from boxoffice.audit.services import audit_record
from boxoffice.panels.adapters.base import PanelError
from boxoffice.panels.models import Panel, panel_adapter_release

logger = logging.getLogger(__name__)

# Which plan field holds ids of which list: bouquet ids, or one package id.
MAPPING_LISTS = {"bouquets": "bouquets", "package": "packages"}


def panel_catalog_fetch(*, panel: Panel) -> dict[str, Any]:
    """Ask the panel (network I/O: never inside a transaction) for the lists its kind can give:
    {"bouquets": [...], "packages": [...], "error": ""}; stores nothing. A list the kind cannot
    give is absent; a panel that fails gives what it answered so far and the error."""
    adapter = panel.adapter()
    capabilities = adapter.capabilities
    catalog: dict[str, Any] = {}
    errors = []
    try:
        if capabilities.can("list_bouquets"):
            catalog["bouquets"] = [{"id": b.id, "name": b.name} for b in adapter.list_bouquets()]
        if capabilities.can("list_packages"):
            catalog["packages"] = [
                {
                    "id": p.id,
                    "name": p.name,
                    "credits": str(p.credits) if p.credits is not None else None,
                    "duration_days": p.duration_days,
                    "max_connections": p.max_connections,
                    "is_trial": p.is_trial,
                }
                for p in adapter.list_packages()
            ]
    except PanelError as exc:
        errors.append(str(exc))
        logger.warning("panel %s: bouquets/packages not listed: %s", panel.name, exc)
    finally:
        panel_adapter_release(adapter)
    catalog["error"] = "; ".join(errors)
    return catalog


def panel_catalog_sync(*, panel: Panel) -> dict[str, Any]:
    """Ask the panel for its bouquets and packages and store them; returns the stored catalog.
    A panel that fails keeps its last lists, with the error beside them."""
    catalog = {**(panel.catalog or {}), **panel_catalog_fetch(panel=panel)}
    now = timezone.now()
    Panel.objects.filter(pk=panel.pk).update(catalog=catalog, catalog_synced_at=now)
    panel.catalog, panel.catalog_synced_at = catalog, now
    audit_record(
        subject=panel,
        action="panel.catalog_synced",
        data={
            "bouquets": len(catalog.get("bouquets") or []),
            "packages": len(catalog.get("packages") or []),
            "error": catalog["error"][:200],
        },
    )
    return catalog


def panel_catalog_names(
    panel: Panel, list_name: str, catalog: Mapping[str, Any] | None = None
) -> dict[str, str]:
    """id (as text) -> name of the stored (or given) bouquets or packages; empty where never
    synced."""
    rows = (panel.catalog if catalog is None else catalog or {}).get(list_name) or []
    return {str(row.get("id")): str(row.get("name") or "") for row in rows if isinstance(row, dict)}


def panel_package(panel: Panel, package_id: Any) -> dict | None:
    """The stored package row with this id, or None (unknown, or never synced)."""
    for row in (panel.catalog or {}).get("packages") or []:
        if isinstance(row, dict) and str(row.get("id")) == str(package_id):
            return row
    return None


def mapping_ids(mapping: Mapping[str, Any]) -> dict[str, list[str]]:
    """The ids a plan mapping names, per stored list: {"bouquets": ["1", "2"], "packages": …}."""
    ids: dict[str, list[str]] = {}
    for field, list_name in MAPPING_LISTS.items():
        value = mapping.get(field)
        if value in (None, "", []):
            continue
        values = value if isinstance(value, list | tuple) else [value]
        ids[list_name] = [str(v) for v in values]
    return ids


def mapping_unknown_ids(
    panel: Panel, mapping: Mapping[str, Any], catalog: Mapping[str, Any] | None = None
) -> list[str]:
    """Sentences for the ids in `mapping` that the panel's lists (stored, or `catalog` just
    fetched) do not have; only lists that were listed can be checked."""
    problems = []
    catalog = (panel.catalog if catalog is None else catalog) or {}
    for list_name, ids in mapping_ids(mapping).items():
        if list_name not in catalog:
            continue
        known = panel_catalog_names(panel, list_name, catalog)
        missing = [i for i in ids if i not in known]
        if missing:
            what = "bouquet" if list_name == "bouquets" else "package"
            problems.append(
                f"panel {panel.name} has no {what} {', '.join(missing)} "
                f"(it has: {', '.join(f'{k} {v}' for k, v in known.items()) or 'none'})"
            )
    return problems


def mapping_described(panel: Panel, mapping: Mapping[str, Any]) -> str:
    """A plan mapping in words, with the synced names: "package 1 (1 Month)"."""
    parts = []
    for list_name, ids in mapping_ids(mapping).items():
        names = panel_catalog_names(panel, list_name)
        what = "bouquets" if list_name == "bouquets" else "package"
        shown = [f"{i} ({names[i]})" if i in names else i for i in ids]
        parts.append(f"{what} {', '.join(shown)}")
    return "; ".join(parts)


def panels_catalog_due(*, limit: int = 1) -> list[int]:
    """Claim up to `limit` enabled panels whose lists are older than PANEL_CATALOG_SYNC_SECONDS
    (a conditional UPDATE per panel: one winner across schedulers); the caller syncs them off
    the scheduler thread. Gentle: one panel per pass by default."""
    every = timedelta(seconds=settings.PANEL_CATALOG_SYNC_SECONDS)
    now = timezone.now()
    stale = Q(catalog_synced_at__isnull=True) | Q(catalog_synced_at__lte=now - every)
    claimed = []
    for pk in Panel.objects.filter(stale, enabled=True).order_by("pk").values_list("pk", flat=True):
        # Moving the mark first: a failing panel waits a whole period, not one pass.
        if Panel.objects.filter(stale, pk=pk).update(catalog_synced_at=now):
            claimed.append(pk)
        if len(claimed) >= limit:
            break
    return claimed


def panels_catalog_refresh_due() -> int:
    """The scheduler's gentle refresh: the next panel whose lists are stale is synced (with its
    credits) by a task, off the scheduler thread. Returns how many were queued."""
    from boxoffice.panels.tasks import sync_panel_catalog  # noqa: PLC0415 (tasks import services)

    due = panels_catalog_due(limit=1)
    for pk in due:
        sync_panel_catalog.enqueue(pk)
    return len(due)
