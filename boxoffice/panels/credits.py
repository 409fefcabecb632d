"""Reseller credits: the balance a panel last reported, the low-credit alert, and whether the
credits still pay for a sale (what routing asks before the customer pays).

Kinds that sell from credits declare `credit_balance` (and `list_packages` for the costs). After
every sale on such a panel (create, renewal) and after a refusal for lack of credits, the balance
is read off the order path (`panel_credits_refresh_soon`: a task) and stored on
`Panel.credits_balance`/`credits_checked_at`. The operator is alerted once per incident when the
balance drops below what `low_credit_sales` (per panel, default 5) sales of the most expensive
mapped package cost, before sales start failing; the incident closes when credits are topped up.
"""

from __future__ import annotations

import logging
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import transaction
from django.utils import timezone

from boxoffice.audit.services import audit_record
from boxoffice.panels.adapters.base import CreditBalance, PanelError
from boxoffice.panels.models import Incident, Panel, panel_adapter_release
from boxoffice.panels.panel_catalog import panel_catalog_sync, panel_package
from boxoffice.panels.services import incident_open, incident_resolve

logger = logging.getLogger(__name__)

DEFAULT_LOW_CREDIT_SALES = 5


def credits_text(value: Decimal) -> str:
    """35, 12.5: a balance without the column's trailing zeros."""
    return format(value.normalize(), "f")


def panel_sells_on_credits(panel: Panel) -> bool:
    cls = panel.kind_class
    return cls is not None and cls.capabilities.can("credit_balance")


def panel_credits_refresh_soon(*, panel: Panel) -> None:
    """Read the balance of a credit-selling panel after the current transaction, off the order
    path (a task). Nothing for other kinds."""
    if not panel_sells_on_credits(panel):
        return
    from boxoffice.panels.tasks import refresh_panel_credits  # noqa: PLC0415 (tasks import services)

    transaction.on_commit(lambda: refresh_panel_credits.enqueue(panel.pk))


def panel_credits_refresh(*, panel: Panel) -> CreditBalance | None:
    """Ask the panel for its balance (network I/O: never inside a transaction), store it, and
    open or close the low-credit incident. None when the kind has no credits or the panel did
    not answer (the stored balance then stays as it was)."""
    if not panel_sells_on_credits(panel):
        return None
    if _mapped_package_ids(panel) - {str(p.get("id")) for p in _packages(panel)}:
        panel_catalog_sync(panel=panel)  # a mapped package whose cost we do not know yet
    adapter = panel.adapter()
    try:
        balance = adapter.credit_balance()
    except PanelError as exc:
        logger.warning("panel %s: credits not read: %s", panel.name, exc)
        return None
    finally:
        panel_adapter_release(adapter)
    now = timezone.now()
    Panel.objects.filter(pk=panel.pk).update(
        credits_balance=balance.credits, credits_checked_at=now
    )
    panel.credits_balance, panel.credits_checked_at = balance.credits, now
    panel_credits_alert_check(panel=panel)
    return balance


def panel_low_credit_threshold(panel: Panel) -> tuple[Decimal, str] | None:
    """(credits, why): below this balance the operator is alerted; None if no mapped package's
    cost is known. `low_credit_sales` sales of the most expensive package plans map to here."""
    costs = []
    for package_id in _mapped_package_ids(panel):
        row = panel_package(panel, package_id)
        cost = _decimal(row.get("credits")) if row else None
        if cost is not None:
            costs.append((cost, str(row.get("name") or package_id) if row else package_id))
    if not costs:
        return None
    cost, name = max(costs)
    sales = _low_credit_sales(panel)
    return cost * sales, f"{sales} sales of {name} at {credits_text(cost)} credits"


def panel_credits_alert_check(*, panel: Panel) -> Incident | None:
    """Open (alerting once) or close the panel's low-credit incident for its stored balance."""
    threshold = panel_low_credit_threshold(panel)
    if panel.credits_balance is None or threshold is None:
        return None
    limit, why = threshold
    if panel.credits_balance < limit:
        return incident_open(
            panel=panel,
            kind=Incident.Kind.LOW_CREDITS,
            summary=(
                f"{credits_text(panel.credits_balance)} credits left, less than {why} "
                f"({credits_text(limit)})."
            ),
        )
    for incident in Incident.objects.filter(
        panel=panel, kind=Incident.Kind.LOW_CREDITS, resolved_at__isnull=True
    ):
        if incident_resolve(incident=incident):
            audit_record(
                subject=panel,
                action="panel.credits_topped_up",
                data={"credits": str(panel.credits_balance)},
            )
    return None


# Internals -----------------------------------------------------------------------------------


def _packages(panel: Panel) -> list[dict]:
    return [p for p in (panel.catalog or {}).get("packages") or [] if isinstance(p, dict)]


def _mapped_package_ids(panel: Panel) -> set[str]:
    ids = set()
    for mapping in panel.plan_mappings.filter(plan__active=True).values_list("mapping", flat=True):
        package = (mapping or {}).get("package")
        if package not in (None, ""):
            ids.add(str(package))
    return ids


def _low_credit_sales(panel: Panel) -> int:
    value = (panel.settings or {}).get("low_credit_sales")
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    return DEFAULT_LOW_CREDIT_SALES


def _decimal(value: Any) -> Decimal | None:
    try:
        number = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None
    return number if number.is_finite() else None
