"""Bringing an existing panel's lines in (`boxoffice import-lines`, the drift report's actions).

Only reads the panel (`list_lines`), a page at a time, so memory stays bounded whatever its
size; each page is written in one transaction with bulk inserts. Keyed by panel + the panel's
line id (`ImportedLine`), so a second run adds nothing; a line we already have (the same panel
line id, or its username on that panel) is skipped. A row that cannot be imported (no plan maps
to its bouquets, a username too long…) is reported and the rest go on.

Customers: the first e-mail address in the line's notes finds the customer (or makes one with
that address); a line without one gets a placeholder customer on the reserved `.invalid` domain
(RFC 6761: it never resolves, so no mail can reach anyone), unsubscribed, named as a
placeholder, and `ImportedLine.placeholder_customer` says so.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from boxoffice.audit.services import audit_record
from boxoffice.catalog.models import Plan, PlanPanel
from boxoffice.customers.models import Customer
from boxoffice.panels.adapters.base import PanelLine
from boxoffice.panels.models import Panel, panel_adapter_release
from boxoffice.provisioning.models import ImportedLine, Line, LineDrift

EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
PLACEHOLDER_DOMAIN = "placeholder.invalid"
PAGE_SIZE = 500
MAX_PROBLEMS_KEPT = 200

Progress = Callable[[int, int | None], None]


class ImportRefused(Exception):
    """The import cannot start (the panel's kind cannot list lines, an unknown plan)."""


@dataclass
class ImportReport:
    panel: str
    dry_run: bool = False
    seen: int = 0
    created: int = 0
    already: int = 0
    customers_matched: int = 0
    customers_created: int = 0
    placeholders: int = 0
    problem_count: int = 0
    problems: list[str] = field(default_factory=list)

    def problem(self, panel_line: PanelLine, why: str) -> None:
        self.problem_count += 1
        if len(self.problems) < MAX_PROBLEMS_KEPT:
            name = panel_line.username or "(no username)"
            self.problems.append(f"line {panel_line.panel_line_id} {name}: {why}")

    def __str__(self) -> str:
        verb = "would import" if self.dry_run else "imported"
        return (
            f"{self.panel}: {self.seen} lines read, {verb} {self.created}, "
            f"{self.already} already here, {self.problem_count} not imported; customers: "
            f"{self.customers_matched} matched, {self.customers_created} new, "
            f"{self.placeholders} placeholders"
        )


def placeholder_email(panel: Panel, panel_line_id: str) -> str:
    return f"imported-{panel.pk}-{panel_line_id}@{PLACEHOLDER_DOMAIN}"


def is_placeholder_email(email: str) -> bool:
    return email.lower().endswith("@" + PLACEHOLDER_DOMAIN)


def email_in_notes(notes: str) -> str:
    match = EMAIL.search(notes or "")
    return match.group(0).lower() if match else ""


def _mapping_of(line: PanelLine, plan_fields: Iterable[str]) -> dict[str, Any]:
    """The line's own plan fields, as the panel has them (kept, not the plan's)."""
    values: dict[str, Any] = {}
    for name in plan_fields:
        if name == "bouquets":
            values[name] = list(line.bouquets)
        elif name == "outputs" and line.outputs:
            values[name] = list(line.outputs)
        elif name in ("package", "package_id") and line.package_id:
            values[name] = line.package_id
    return values


def _plan_key(mapping: dict[str, Any]) -> tuple:
    if "bouquets" in mapping:
        return ("bouquets", tuple(sorted(int(n) for n in mapping.get("bouquets") or ())))
    for name in ("package", "package_id"):
        if mapping.get(name):
            return ("package", str(mapping[name]))
    return ()


def _plans_by_key(panel: Panel) -> dict[tuple, list[Plan]]:
    index: dict[tuple, list[Plan]] = {}
    for mapping in PlanPanel.objects.filter(panel=panel).select_related("plan"):
        key = _plan_key(mapping.mapping or {})
        if key:
            index.setdefault(key, []).append(mapping.plan)
    return index


def _status_of(line: PanelLine, now) -> tuple[str, str]:
    if not line.enabled:
        return Line.Status.SUSPENDED, "disabled on the panel before import"
    if line.expires_at is not None and line.expires_at <= now:
        return Line.Status.EXPIRED, ""
    return Line.Status.ACTIVE, ""


def lines_import(
    *,
    panel: Panel,
    plan: Plan | None = None,
    dry_run: bool = False,
    page_size: int = PAGE_SIZE,
    progress: Progress | None = None,
) -> ImportReport:
    """Read every line of `panel` and create what is not here yet. `plan` is for lines whose
    bouquets or package no plan maps to. Nothing is written to the panel."""
    kind = panel.kind_class
    if kind is None or not kind.capabilities.can("list_lines"):
        label = kind.label if kind else panel.kind
        raise ImportRefused(f"{label} panels cannot list their lines, so they cannot be imported.")
    report = ImportReport(panel=panel.name, dry_run=dry_run)
    plans = _plans_by_key(panel)
    plan_fields = tuple(f.name for f in kind.plan_fields)
    adapter = panel.adapter()
    try:
        total = adapter.line_count() if kind.capabilities.can("line_count") else None
        if progress:
            progress(0, total)
        cursor: str | None = None
        while True:
            page = adapter.list_lines(cursor, limit=page_size)  # network: no transaction open
            _page_import(
                panel=panel,
                lines=page.lines,
                plans=plans,
                fallback=plan,
                plan_fields=plan_fields,
                dry_run=dry_run,
                report=report,
            )
            if progress:
                progress(report.seen, total)
            cursor = page.next_cursor
            if cursor is None:
                break
    finally:
        panel_adapter_release(adapter)
    if not dry_run:
        audit_record(
            subject=panel,
            action="panel.lines_imported",
            data={
                "created": report.created,
                "already": report.already,
                "problems": report.problem_count,
                "placeholders": report.placeholders,
            },
        )
    return report


def lines_import_from_panel(*, panel_id: int, plan_id: int | None = None) -> ImportReport:
    """The back office's import (a task): the same import, the result in the audit trail."""
    panel = Panel.objects.get(pk=panel_id)
    plan = Plan.objects.get(pk=plan_id) if plan_id else None
    return lines_import(panel=panel, plan=plan)


def _page_import(
    *,
    panel: Panel,
    lines: tuple[PanelLine, ...],
    plans: dict[tuple, list[Plan]],
    fallback: Plan | None,
    plan_fields: tuple[str, ...],
    dry_run: bool,
    report: ImportReport,
) -> None:
    report.seen += len(lines)
    if not lines:
        return
    now = timezone.now()
    ids = [pl.panel_line_id for pl in lines]
    names = [pl.username for pl in lines]
    imported = set(
        ImportedLine.objects.filter(panel=panel, panel_line_id__in=ids).values_list(
            "panel_line_id", flat=True
        )
    )
    ours = Line.objects.filter(panel=panel).filter(Q(panel_line_id__in=ids) | Q(username__in=names))
    our_ids: set[str] = set()
    our_names: dict[str, str] = {}
    for line_id, username in ours.values_list("panel_line_id", "username"):
        our_ids.add(line_id)
        our_names[username.lower()] = line_id

    wanted: list[tuple[PanelLine, Plan, str]] = []
    names_in_page: set[str] = set()
    for pl in lines:
        if pl.panel_line_id in imported or pl.panel_line_id in our_ids:
            report.already += 1
            continue
        if pl.username.lower() in our_names:
            report.problem(pl, "a line here already has this username on this panel")
            continue
        if not pl.username or len(pl.username) > 64 or not pl.password:
            report.problem(pl, "no usable username and password")
            continue
        if not 0 <= pl.max_connections <= 32767 or len(pl.mac) > 17:
            report.problem(pl, "connections or MAC out of range")
            continue
        if pl.username.lower() in names_in_page:
            report.problem(pl, "the panel lists this username twice")
            continue
        candidates = plans.get(_plan_key(_mapping_of(pl, plan_fields))) or []
        matching = [p for p in candidates if p.is_trial == pl.is_trial] or candidates
        plan = matching[0] if matching else fallback
        if plan is None:
            report.problem(pl, "no plan maps to its bouquets or package here; pass --plan")
            continue
        names_in_page.add(pl.username.lower())
        wanted.append((pl, plan, email_in_notes(pl.notes)))
    if not wanted:
        return

    emails = {email for _, _, email in wanted if email}
    known = {c.email.lower(): c for c in Customer.objects.filter(email__in=emails)}
    new_customers: dict[str, Customer] = {}
    placeholders: dict[str, Customer] = {}
    for pl, _, email in wanted:
        if email and email not in known and email not in new_customers:
            new_customers[email] = Customer(email=email, name=f"Imported from {panel.name}")
        elif not email:
            address = placeholder_email(panel, pl.panel_line_id)
            placeholders[address] = Customer(
                email=address,
                name=f"Placeholder: {pl.username} (imported from {panel.name})"[:150],
                unsubscribed_at=now,  # no offers; the .invalid address takes no mail at all
            )
    report.customers_matched += sum(1 for _, _, email in wanted if email in known)
    if dry_run:
        report.created += len(wanted)
        report.customers_created += len(new_customers)
        report.placeholders += len(placeholders)
        return
    try:
        with transaction.atomic():
            Customer.objects.bulk_create(
                [*new_customers.values(), *placeholders.values()],
                batch_size=500,
                ignore_conflicts=True,
            )
            every = {*emails, *placeholders}
            customers = {c.email.lower(): c for c in Customer.objects.filter(email__in=every)}
            rows = []
            for pl, plan, email in wanted:
                status, reason = _status_of(pl, now)
                rows.append(
                    Line(
                        customer=customers[email or placeholder_email(panel, pl.panel_line_id)],
                        plan=plan,
                        panel=panel,
                        panel_line_id=pl.panel_line_id,
                        username=pl.username,
                        password=pl.password,
                        connections=pl.max_connections,
                        plan_mapping=_mapping_of(pl, plan_fields),
                        is_trial=pl.is_trial,
                        device="mag" if pl.mac else "app",
                        mac_address=pl.mac,
                        expires_at=pl.expires_at,
                        status=status,
                        suspension_reason=reason,
                        panel_seen_at=now,
                    )
                )
            Line.objects.bulk_create(rows, batch_size=500)
            created = {
                line.panel_line_id: line.pk
                for line in Line.objects.filter(
                    panel=panel, panel_line_id__in=[r.panel_line_id for r in rows]
                )
            }
            ImportedLine.objects.bulk_create(
                [
                    ImportedLine(
                        panel=panel,
                        panel_line_id=pl.panel_line_id,
                        line_id=created[pl.panel_line_id],
                        placeholder_customer=not email,
                        imported_at=now,
                    )
                    for pl, _, email in wanted
                ],
                batch_size=500,
            )
            # A foreign line flagged by reconciliation is ours now.
            LineDrift.objects.filter(
                panel=panel,
                kind=LineDrift.Kind.FOREIGN,
                panel_line_id__in=list(created),
                status__in=LineDrift.ACTIVE_STATUSES,
            ).update(status=LineDrift.Status.IMPORTED, resolved_at=now)
    except IntegrityError:
        # Someone (a second import, a sale) took one of these names or ids meanwhile: nothing
        # of this page was written; a second run picks it up.
        for pl, _, _ in wanted:
            report.problem(pl, "changed here while importing; run the import again")
        return
    report.created += len(wanted)
    report.customers_created += len(new_customers)
    report.placeholders += len(placeholders)


def line_import_one(*, panel: Panel, panel_line_id: str, plan: Plan | None = None) -> ImportReport:
    """One line of the panel (a foreign line from the drift report), by the same rules."""
    kind = panel.kind_class
    report = ImportReport(panel=panel.name)
    adapter = panel.adapter()
    try:
        panel_line = adapter.get_line(panel_line_id)  # network: no transaction open
    finally:
        panel_adapter_release(adapter)
    _page_import(
        panel=panel,
        lines=(panel_line,),
        plans=_plans_by_key(panel),
        fallback=plan,
        plan_fields=tuple(f.name for f in kind.plan_fields) if kind else (),
        dry_run=False,
        report=report,
    )
    return report
