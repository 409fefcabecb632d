"""Reconciliation: our lines compared with each panel's, a page at a time.

Each panel has a `PanelSweep` row. The scheduler (`line_sweeps_schedule`) claims the rows whose
next page is due and hands each to a task (`sweep_page_run`), which reads one page with the
kind's `list_lines` outside any transaction, then, in one transaction, advances the stored cursor
(a compare-and-set: a second runner of the same page loses), writes what differs as `LineDrift`
rows and queues the repairs. Pages are `LINE_RECONCILE["PAGE_SIZE"]` lines apart by
`PAUSE_SECONDS`, one pass per `INTERVAL_SECONDS`: a panel of 100,000 lines is read over hours,
not hammered. A worker that dies mid-page leaves the lease to expire; the page is read again
from the stored cursor (the writes are idempotent).

What is repaired and what is flagged:
* Our record is the truth for what the customer paid: a line active here that the panel shows
  expired is extended to our expiry, one the panel shows disabled is resumed. Both are ordinary
  `PanelOperation`s (provisioning/services.py), never a direct call.
* Everything else is flagged for the operator: a line on the panel we never sold (foreign), a
  line we think active the panel no longer has (missing), connections, bouquets or package,
  the trial flag, the MAC, an expiry that differs otherwise, and a line suspended here that plays
  on the panel (a person suspended it; it is left alone).
* Lines with an operation on its way are not compared (their state is changing).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from boxoffice.audit.services import audit_record
from boxoffice.panels.adapters.base import LinePage, PanelLine
from boxoffice.panels.models import Panel, panel_adapter_release
from boxoffice.provisioning.models import Line, LineDrift, PanelOperation, PanelSweep
from boxoffice.provisioning.services import (
    line_extend,
    line_resume,
    line_set_connections,
    line_suspend,
)
from boxoffice.provisioning.tasks import reconcile_panel_page

logger = logging.getLogger(__name__)

Drift = LineDrift
Op = PanelOperation

OPEN_OPERATION_STATUSES = [Op.Status.PENDING, Op.Status.RUNNING, Op.Status.NEEDS_REVIEW]
COMPARED_STATUSES = (Line.Status.ACTIVE, Line.Status.SUSPENDED, Line.Status.EXPIRED)
# A line we think is on the panel: its absence there is drift.
EXPECTED_ON_PANEL = [Line.Status.ACTIVE, Line.Status.SUSPENDED]
# Plan fields compared with what the panel reports (the kind's names for them).
PLAN_FIELDS = {"bouquets": "bouquets", "package": "package_id", "package_id": "package_id"}


def _policy() -> dict[str, float]:
    return settings.LINE_RECONCILE


# --- The scheduler's step ---------------------------------------------------------------------


def line_sweeps_schedule() -> dict[str, int]:
    """Give every panel a sweep row, then hand each due page to a task (claimed first, so one
    runner per panel). No network I/O here: the pages are read by the tasks."""
    now = timezone.now()
    policy = _policy()
    missing = Panel.objects.filter(line_sweep__isnull=True).values_list("pk", flat=True)
    PanelSweep.objects.bulk_create(
        [PanelSweep(panel_id=pk, next_page_at=now) for pk in missing], ignore_conflicts=True
    )
    counts = {"pages": 0, "skipped": 0}
    due = (
        PanelSweep.objects.filter(panel__enabled=True, next_page_at__lte=now)
        .filter(Q(lease_expires_at__isnull=True) | Q(lease_expires_at__lt=now))
        .select_related("panel")
    )
    for sweep in due[:100]:
        kind = sweep.panel.kind_class
        if kind is None or not kind.capabilities.can("list_lines"):
            label = kind.label if kind else sweep.panel.kind
            note = f"Not reconciled: {label} panels cannot list their lines."
            PanelSweep.objects.filter(pk=sweep.pk).update(
                note=note, next_page_at=now + timedelta(seconds=policy["INTERVAL_SECONDS"])
            )
            counts["skipped"] += 1
            continue
        if sweep.panel.is_down:
            continue  # the probe brings it back; its pages wait
        lease = now + timedelta(seconds=policy["LEASE_SECONDS"])
        claimed = (
            PanelSweep.objects.filter(pk=sweep.pk, next_page_at__lte=now)
            .filter(Q(lease_expires_at__isnull=True) | Q(lease_expires_at__lt=now))
            .update(lease_expires_at=lease, note="")
        )
        if claimed:
            counts["pages"] += 1
            panel_id = sweep.panel_id
            transaction.on_commit(lambda panel_id=panel_id: reconcile_panel_page.enqueue(panel_id))
    return counts


# --- One page ---------------------------------------------------------------------------------


def sweep_page_run(*, panel_id: int) -> str:
    """Read the next page of one panel's lines and record what differs. Called by the task the
    scheduler queued after claiming the sweep."""
    sweep = PanelSweep.objects.select_related("panel").filter(panel_id=panel_id).first()
    if sweep is None:
        return "gone"
    now = timezone.now()
    policy = _policy()
    if sweep.pass_started_at is None:
        # A new pass: written before the first page, so "seen in this pass" has a start.
        PanelSweep.objects.filter(pk=sweep.pk, pass_started_at__isnull=True).update(
            pass_started_at=now, cursor="", pages=0, lines_seen=0
        )
        sweep.refresh_from_db()
    cursor = sweep.cursor
    try:
        page = _page_read(sweep.panel, cursor, int(policy["PAGE_SIZE"]))
    except Exception as exc:  # any failure is recorded and the page retried later
        _sweep_failed(sweep, exc)
        return "failed"

    try:
        return _page_record(sweep, cursor, page)
    except Exception as exc:  # a bad row or a database hiccup: recorded, the page read again
        logger.exception("reconciliation of panel %s: recording a page failed", sweep.panel_id)
        _sweep_failed(sweep, exc)
        return "failed"


def _page_read(panel: Panel, cursor: str, limit: int) -> LinePage:
    adapter = panel.adapter()
    try:
        return adapter.list_lines(cursor or None, limit=limit)
    finally:
        panel_adapter_release(adapter)


def _page_record(sweep: PanelSweep, cursor: str, page: LinePage) -> str:
    now = timezone.now()
    policy = _policy()
    pause = timedelta(seconds=policy["PAUSE_SECONDS"])
    finished = page.next_cursor is None
    assert sweep.pass_started_at is not None
    with transaction.atomic():
        state: dict[str, Any] = {
            "cursor": page.next_cursor or "",
            "pages": sweep.pages + 1,
            "lines_seen": sweep.lines_seen + len(page.lines),
            "attempts": 0,
            "last_error": "",
            "lease_expires_at": None,
            "next_page_at": timezone.now() + pause,
        }
        if finished:
            interval = timedelta(seconds=policy["INTERVAL_SECONDS"])
            state |= {
                "pass_started_at": None,
                "last_pass_finished_at": timezone.now(),
                "next_page_at": max(sweep.pass_started_at + interval, timezone.now() + pause),
            }
        advanced = PanelSweep.objects.filter(
            pk=sweep.pk, cursor=cursor, pass_started_at=sweep.pass_started_at
        ).update(**state)
        if not advanced:
            return "raced"  # another runner recorded this page first
        found = lines_compare(panel=sweep.panel, lines=page.lines, seen_at=now)
        if finished:
            found.missing = lines_flag_missing(
                panel=sweep.panel, pass_started_at=sweep.pass_started_at
            )
    if finished:
        audit_record(
            subject=sweep.panel,
            action="panel.reconciled",
            data={"lines": state["lines_seen"], "pages": state["pages"]},
        )
    return f"page {state['pages']}: {len(page.lines)} lines, {found}"


def _sweep_failed(sweep: PanelSweep, exc: Exception) -> None:
    attempts = sweep.attempts + 1
    # A panel that failed a page is given time before the next try: 30 s (or the pause, if
    # longer), doubling, at most an hour.
    wait = min(max(_policy()["PAUSE_SECONDS"], 30.0) * 2 ** (attempts - 1), 3600.0)
    PanelSweep.objects.filter(pk=sweep.pk).update(
        attempts=attempts,
        last_error=f"{type(exc).__name__}: {exc}"[:1000],
        lease_expires_at=None,
        next_page_at=timezone.now() + timedelta(seconds=wait),
    )
    logger.warning("reconciliation of panel %s: page failed (%s)", sweep.panel_id, exc)


# --- Comparing ------------------------------------------------------------------------------


@dataclass
class Finding:
    kind: str
    panel_line: PanelLine | None
    line: Line | None
    ours: dict[str, Any] = field(default_factory=dict)
    theirs: dict[str, Any] = field(default_factory=dict)
    detail: str = ""
    repair: str = ""  # "extend" / "resume": our record is the truth, repaired at once

    @property
    def panel_line_id(self) -> str:
        if self.panel_line is not None:
            return self.panel_line.panel_line_id
        return self.line.panel_line_id if self.line is not None else ""


@dataclass
class PageResult:
    new: int = 0
    repairs: int = 0
    resolved: int = 0
    missing: int = 0

    def __str__(self) -> str:
        return (
            f"{self.new} new drifts, {self.repairs} repairs queued, {self.resolved} resolved, "
            f"{self.missing} missing"
        )


def _when(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def _mac(value: str) -> str:
    return "".join(ch for ch in (value or "").upper() if ch.isalnum())


def _panel_facts(panel_line: PanelLine) -> dict[str, Any]:
    return {
        "username": panel_line.username,
        "expires_at": _when(panel_line.expires_at),
        "enabled": panel_line.enabled,
        "connections": panel_line.max_connections,
        "bouquets": list(panel_line.bouquets),
        "package_id": panel_line.package_id,
        "is_trial": panel_line.is_trial,
        "mac": panel_line.mac,
    }


def line_differences(
    *, line: Line, panel_line: PanelLine, now: datetime, plan_fields: tuple[str, ...] = ()
) -> list[Finding]:
    """What differs between our line and the panel's, each with its repair if ours is the
    truth. A pure function of the two records (and the clock)."""
    found: list[Finding] = []

    def add(kind: str, ours: Any, theirs: Any, detail: str, repair: str = "") -> None:
        found.append(
            Finding(
                kind=kind,
                panel_line=panel_line,
                line=line,
                ours={kind: ours},
                theirs={kind: theirs},
                detail=detail,
                repair=repair,
            )
        )

    if line.status == Line.Status.CANCELLED:
        if panel_line.enabled and (panel_line.expires_at is None or panel_line.expires_at > now):
            add(
                Drift.Kind.ENABLED,
                False,
                True,
                "Ended here, but still playing on the panel.",
            )
        return found
    if line.status not in COMPARED_STATUSES:
        return found

    tolerance = timedelta(seconds=_policy()["EXPIRY_TOLERANCE_SECONDS"])
    ours_exp, theirs_exp = line.expires_at, panel_line.expires_at
    expiry_differs = (ours_exp is None) != (theirs_exp is None) or (
        ours_exp is not None and theirs_exp is not None and abs(ours_exp - theirs_exp) > tolerance
    )
    paid_and_running = (
        line.status == Line.Status.ACTIVE
        and not line.is_trial
        and ours_exp is not None
        and ours_exp > now
    )
    if expiry_differs:
        shows_expired = theirs_exp is not None and theirs_exp <= now
        repair = "extend" if paid_and_running and shows_expired else ""
        detail = (
            "Paid here, expired on the panel: extended to our expiry."
            if repair
            else "The panel's expiry differs from ours."
        )
        add(Drift.Kind.EXPIRY, _when(ours_exp), _when(theirs_exp), detail, repair)

    if line.status == Line.Status.ACTIVE and not panel_line.enabled:
        repair = "resume" if paid_and_running else ""
        detail = "Active here, disabled on the panel" + (": resumed." if repair else ".")
        add(Drift.Kind.ENABLED, True, False, detail, repair)
    elif line.status == Line.Status.SUSPENDED and panel_line.enabled:
        add(
            Drift.Kind.ENABLED,
            False,
            True,
            "Suspended here, enabled on the panel (left alone: a person decides).",
        )

    if line.connections != panel_line.max_connections:
        add(
            Drift.Kind.CONNECTIONS,
            line.connections,
            panel_line.max_connections,
            "The panel allows a different number of connections.",
        )

    mapping = line.plan_mapping or {}
    for name in plan_fields:
        attr = PLAN_FIELDS.get(name)
        if attr is None or name not in mapping:
            continue
        if attr == "bouquets":
            ours_value: Any = sorted(int(n) for n in mapping.get(name) or ())
            theirs_value: Any = sorted(panel_line.bouquets)
        else:
            ours_value, theirs_value = str(mapping.get(name) or ""), panel_line.package_id
        if ours_value != theirs_value:
            add(
                Drift.Kind.PLAN,
                ours_value,
                theirs_value,
                f"The panel's {name} differ from the plan's.",
            )

    if line.is_trial != panel_line.is_trial:
        add(Drift.Kind.TRIAL, line.is_trial, panel_line.is_trial, "The trial flag differs.")

    if (line.mac_address or panel_line.mac) and _mac(line.mac_address) != _mac(panel_line.mac):
        add(Drift.Kind.MAC, line.mac_address, panel_line.mac, "The device's MAC differs.")
    return found


def lines_compare(*, panel: Panel, lines: tuple[PanelLine, ...], seen_at: datetime) -> PageResult:
    """Compare one page of the panel's lines with ours and record the drift: a handful of
    queries per page whatever its size (plus one operation per repair)."""
    result = PageResult()
    if not lines:
        return result
    ids = [pl.panel_line_id for pl in lines]
    names = [pl.username for pl in lines]
    ours = list(
        Line.objects.filter(panel=panel).filter(Q(panel_line_id__in=ids) | Q(username__in=names))
    )
    by_id = {line.panel_line_id: line for line in ours if line.panel_line_id}
    by_name = {line.username: line for line in ours}
    busy = set(
        PanelOperation.objects.filter(
            line__in=ours, status__in=OPEN_OPERATION_STATUSES
        ).values_list("line_id", flat=True)
    )
    kind_class = panel.kind_class
    plan_fields = tuple(f.name for f in kind_class.plan_fields) if kind_class else ()

    findings: list[Finding] = []
    seen: list[int] = []
    compared_ids: set[str] = set()  # panel lines whose earlier drift may now be gone
    for panel_line in lines:
        line = by_id.get(panel_line.panel_line_id) or by_name.get(panel_line.username)
        if line is None:
            findings.append(
                Finding(
                    kind=Drift.Kind.FOREIGN,
                    panel_line=panel_line,
                    line=None,
                    theirs=_panel_facts(panel_line),
                    detail="On the panel, never sold here.",
                )
            )
            continue
        seen.append(line.pk)
        if line.pk in busy or line.status == Line.Status.RESERVED:
            continue  # an operation is changing it (or creating it) right now
        compared_ids.add(panel_line.panel_line_id)
        findings += line_differences(
            line=line, panel_line=panel_line, now=seen_at, plan_fields=plan_fields
        )
    compared_ids |= {f.panel_line_id for f in findings}
    Line.objects.filter(pk__in=seen).update(panel_seen_at=seen_at)
    result.new, result.repairs = _drifts_record(panel=panel, findings=findings, seen_at=seen_at)

    # Drift recorded earlier for these lines that is no longer there: repaired, or gone.
    current = {(f.panel_line_id, f.kind) for f in findings}
    stale = [
        drift
        for drift in Drift.objects.filter(
            panel=panel, panel_line_id__in=compared_ids, status__in=Drift.ACTIVE_STATUSES
        )
        if (drift.panel_line_id, drift.kind) not in current
    ]
    result.resolved = _drifts_close(stale, at=seen_at)
    return result


def _drifts_record(*, panel: Panel, findings: list[Finding], seen_at: datetime) -> tuple[int, int]:
    """New findings become drift rows (repairs queued for those ours is the truth of); known
    ones are touched. Returns (new, repairs)."""
    if not findings:
        return 0, 0
    live = {
        (drift.panel_line_id, drift.kind): drift
        for drift in Drift.objects.filter(
            panel=panel,
            panel_line_id__in={f.panel_line_id for f in findings},
            status__in=Drift.ACTIVE_STATUSES,
        )
    }
    touched: list[int] = []
    new: list[LineDrift] = []
    repairs = 0
    for finding in findings:
        known = live.get((finding.panel_line_id, finding.kind))
        if known is not None:
            touched.append(known.pk)
            continue
        drift = LineDrift(
            panel=panel,
            line=finding.line,
            panel_line_id=finding.panel_line_id,
            username=(finding.panel_line.username if finding.panel_line else "")
            or (finding.line.username if finding.line else ""),
            kind=finding.kind,
            ours=finding.ours,
            theirs=finding.theirs,
            detail=finding.detail[:300],
            first_seen_at=seen_at,
            last_seen_at=seen_at,
        )
        if finding.repair and finding.line is not None:
            drift.operation = _repair_queue(finding.line, finding.repair, actor="reconcile")
            drift.status = Drift.Status.REPAIRING
            repairs += 1
        new.append(drift)
    Drift.objects.filter(pk__in=touched).update(last_seen_at=seen_at)
    Drift.objects.bulk_create(new, batch_size=500)
    return len(new), repairs


def _drifts_close(drifts: list[LineDrift], *, at: datetime) -> int:
    repaired = [d.pk for d in drifts if d.status == Drift.Status.REPAIRING]
    gone = [d.pk for d in drifts if d.status != Drift.Status.REPAIRING]
    Drift.objects.filter(pk__in=repaired).update(status=Drift.Status.REPAIRED, resolved_at=at)
    Drift.objects.filter(pk__in=gone).update(status=Drift.Status.RESOLVED, resolved_at=at)
    return len(drifts)


def lines_flag_missing(*, panel: Panel, pass_started_at: datetime) -> int:
    """At the end of a pass: lines we think are on the panel that it did not list."""
    unseen = (
        Line.objects.filter(
            panel=panel, status__in=EXPECTED_ON_PANEL, created_at__lt=pass_started_at
        )
        .exclude(panel_line_id="")
        .filter(Q(panel_seen_at__isnull=True) | Q(panel_seen_at__lt=pass_started_at))
        .exclude(operations__status__in=OPEN_OPERATION_STATUSES)
        .distinct()
    )
    flagged = 0
    batch: list[Line] = []
    for line in unseen.iterator(chunk_size=500):
        batch.append(line)
        if len(batch) == 500:
            flagged += _missing_record(panel, batch)
            batch = []
    if batch:
        flagged += _missing_record(panel, batch)
    return flagged


def _missing_record(panel: Panel, lines: list[Line]) -> int:
    now = timezone.now()
    findings = [
        Finding(
            kind=Drift.Kind.MISSING,
            panel_line=None,
            line=line,
            ours={"status": line.status, "expires_at": _when(line.expires_at)},
            detail="We think this line is on the panel; the panel no longer lists it.",
        )
        for line in lines
    ]
    new, _ = _drifts_record(panel=panel, findings=findings, seen_at=now)
    return new


# --- What the operator does with a drift -----------------------------------------------------


class DriftActionRefused(Exception):
    """This drift cannot take that action; the message says why."""


def _repair_queue(line: Line, repair: str, *, actor: str) -> PanelOperation:
    if repair == "extend":
        assert line.expires_at is not None
        op = line_extend(line=line, expires_at=line.expires_at)
    elif repair == "resume":
        op = line_resume(line=line)
    elif repair == "suspend":
        op = line_suspend(line=line, reason=line.suspension_reason or "reconciliation")
    elif repair == "connections":
        op = line_set_connections(line=line, connections=line.connections)
    else:
        raise DriftActionRefused(f"no repair called {repair!r}")
    audit_record(subject=line, action="line.drift_repair", data={"repair": repair}, actor=actor)
    return op


def _manual_repair(drift: LineDrift) -> str:
    """The operation that makes the panel match our record for this drift, or refuse."""
    line = drift.line
    if line is None:
        raise DriftActionRefused(
            "A line on the panel we never sold has no record of ours to apply."
        )
    if drift.kind == Drift.Kind.EXPIRY and line.expires_at is not None:
        return "extend"
    if drift.kind == Drift.Kind.ENABLED and line.status == Line.Status.ACTIVE:
        return "resume"
    if drift.kind == Drift.Kind.ENABLED and line.status == Line.Status.SUSPENDED:
        return "suspend"
    if drift.kind == Drift.Kind.CONNECTIONS:
        return "connections"
    raise DriftActionRefused(
        f"“{drift.get_kind_display()}” cannot be repaired from here; change the line on the "
        "panel or here by hand, or ignore it."
    )


def drift_repair(*, drift: LineDrift, actor: str = "operator") -> PanelOperation:
    """Queue the operation that applies our record to the panel (the operator decided ours is
    the truth)."""
    if drift.status not in (Drift.Status.OPEN, Drift.Status.IGNORED):
        raise DriftActionRefused(f"This drift is {drift.get_status_display().lower()} already.")
    repair = _manual_repair(drift)
    assert drift.line is not None
    with transaction.atomic():
        if drift.line.operations.filter(status__in=OPEN_OPERATION_STATUSES).exists():
            raise DriftActionRefused("An operation on this line is on its way; wait for it.")
        op = _repair_queue(drift.line, repair, actor=actor)
        Drift.objects.filter(pk=drift.pk).update(status=Drift.Status.REPAIRING, operation=op)
    return op


def drift_ignore(*, drift: LineDrift, actor: str = "operator") -> None:
    """Leave it as it is; later passes keep it ignored while it lasts."""
    Drift.objects.filter(pk=drift.pk, status=Drift.Status.OPEN).update(status=Drift.Status.IGNORED)
    audit_record(subject=drift.panel, action="drift.ignored", data={"drift": drift.pk}, actor=actor)
