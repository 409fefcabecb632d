"""Panel routing, health and the circuit breaker."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Count, F, Q, Value
from django.db.models.functions import Greatest
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from boxoffice.audit.services import audit_record
from boxoffice.lib.http import http_deadline_remaining
from boxoffice.messaging.services import operator_alert_send
from boxoffice.panels.adapters.base import (
    AccessItem,
    AccessSection,
    FieldError,
    LineAccess,
    LineFacts,
    PanelError,
)
from boxoffice.panels.adapters.registry import adapter_class
from boxoffice.panels.models import Incident, Panel
from boxoffice.panels.panel_catalog import panel_package
from boxoffice.panels.signals import panel_back_up
from boxoffice.panels.slots import panel_slots

logger = logging.getLogger(__name__)

# Line states that no longer occupy a slot on a panel (an expired line is still on it until
# the lifecycle terminates it).
_NOT_OCCUPYING = ("cancelled",)


def line_access(
    *, panel: Panel, username: str, password: str, mac: str = "", device: str = ""
) -> LineAccess:
    """How a customer reaches a line on this panel, as the panel's kind says (URLs, ports,
    portal addresses). No I/O: built from the panel's settings and the line's login."""
    facts = LineFacts(username=username, password=password, mac=mac, device=device)
    try:
        return adapter_class(panel.kind).access(panel.adapter_config(), facts)
    except (ValueError, FieldError) as exc:
        # A kind no longer installed, or settings its kind refuses: the customer still gets
        # their login (the operator sees the panel's problem in the back office and the logs).
        logger.error("panel %s: no access details for its lines: %s", panel.name, exc)
        login = AccessSection(
            title=_("Your login"),
            items=(
                AccessItem(key="username", label=_("Username"), value=username),
                AccessItem(key="password", label=_("Password"), value=password, secret=True),
            ),
        )
        return LineAccess(
            sections=(login,),
            hint=_(
                "The server details follow from your provider; write to support if they "
                "have not arrived."
            ),
        )


def line_access_for(line) -> LineAccess:
    """`line_access` for a provisioning Line (anything with panel, username, password,
    mac_address and device)."""
    return line_access(
        panel=line.panel,
        username=line.username,
        password=line.password,
        mac=line.mac_address,
        device=line.device,
    )


class NoPanelAvailable(Exception):
    """No enabled panel carries this plan, has room, and serves the region."""


class CannotSellNow(NoPanelAvailable):
    """No panel can take a line of this plan for this customer now (full, out of credits,
    disabled, no box support): nothing may be charged. `skipped` names each panel and why."""

    customer_message = (
        "We cannot start this plan right now: our servers for it are fully booked. Nothing has "
        "been charged. Please try again later, or write to us and we will help."
    )

    def __init__(self, message: str, *, skipped: tuple[tuple[str, str], ...] = ()):
        super().__init__(message)
        self.skipped = skipped


@dataclass(frozen=True)
class Route:
    """Where routing puts a new line, and why (recorded on the line)."""

    panel: Panel
    reason: str
    waits: bool = False  # the panel is down: the line waits for it, the order is not refused


def _takes_devices(panel: Panel) -> bool:
    cls = panel.kind_class
    return cls is not None and cls.capabilities.devices


def panels_take_devices(*, plan) -> bool:
    """Whether any enabled panel carrying the plan is of a kind that registers MAG/Formuler
    boxes (its capabilities say so): checkout offers a box only then."""
    return any(
        _takes_devices(p) for p in Panel.objects.filter(enabled=True, plan_mappings__plan=plan)
    )


def panel_lines_occupied(panel: Panel) -> int:
    """Lines the panel holds: ours (the counter) or, when the panel reported more (lines sold
    elsewhere on it), its own count. No query."""
    return max(panel.lines_held, panel.lines_on_panel or 0)


def panel_lines_held_add(*, panel_id: int, delta: int) -> None:
    """Keep the occupied counter in the caller's transaction (the one that creates, moves or
    ends the line): one UPDATE of one row, never a count of lines."""
    Panel.objects.filter(pk=panel_id).update(lines_held=Greatest(F("lines_held") + delta, Value(0)))


def panels_lines_held_recount() -> int:
    """Repair the counters from the lines themselves (a scan: the scheduler runs it rarely, never
    per order). Returns how many panels were corrected."""
    fixed = 0
    counted = Panel.objects.annotate(
        n=Count("lines", filter=~Q(lines__status__in=_NOT_OCCUPYING))
    ).values_list("pk", "n", "lines_held")
    for pk, n, held in counted:
        if n != held:
            fixed += Panel.objects.filter(pk=pk).update(lines_held=n)
    return fixed


def _sale_cost(panel: Panel, mapping) -> Decimal | None:
    """What one sale of the mapped plan costs in credits: the mapping's own `credits` where an
    operator wrote one, else the synced package's cost (`panel_catalog`); None when unknown."""
    if not isinstance(mapping, dict):
        return None
    raw = mapping.get("credits")
    if raw is None or isinstance(raw, bool):
        row = panel_package(panel, mapping.get("package"))
        raw = row.get("credits") if row else None
    if raw is None or isinstance(raw, bool):
        return None
    try:
        return Decimal(str(raw))
    except ArithmeticError:
        return None


def panel_credits_cover(panel: Panel, plan) -> bool:
    """Whether the panel's credits pay for one sale of `plan` right now (routing skips it before
    the customer pays when not). True for kinds without credits (no `credit_balance`
    capability) and while the balance was never read (the panel has the last word; a refusal
    waits in review); otherwise the balance the panel last reported must cover the sale's cost
    where known, or at least be above zero. No I/O: reads the columns the last sale or refresh
    stored."""
    cls = panel.kind_class
    if cls is None or not cls.capabilities.can("credit_balance"):
        return True
    if panel.credits_balance is None:
        return True
    mapping = getattr(panel, "plan_mapping", None)
    if mapping is None:
        mapping = panel.plan_mappings.filter(plan=plan).values_list("mapping", flat=True).first()
    cost = _sale_cost(panel, mapping or {})
    if cost is None:
        return panel.credits_balance > 0
    return panel.credits_balance >= cost


def _why_not(panel: Panel, plan, device: str) -> str:
    """Why this mapped panel cannot take a new line now, or "" if it can."""
    if not panel.enabled:
        return "disabled"
    if device == "mag" and not _takes_devices(panel):
        return "does not register MAG/Formuler boxes"
    used = panel_lines_occupied(panel)
    if used >= panel.capacity:
        return f"full ({used} of {panel.capacity})"
    if not panel_credits_cover(panel, plan):
        return f"no credits ({panel.credits_balance})"
    return ""


def _region_tier(panel: Panel, country: str) -> int:
    """0 serves the customer's region, 1 serves everyone (no regions), 2 other regions only."""
    regions = [r.upper() for r in (panel.regions or [])]
    if country and country in regions:
        return 0
    return 1 if not regions else 2


def panel_route(
    *,
    plan,
    country: str = "",
    device: str = "",
    override: Panel | None = None,
    override_by: str = "",
    exclude: tuple[int, ...] = (),
) -> Route:
    """Choose the panel for a new line, and say why.

    Manual override wins. Otherwise the panels mapped to the plan (product routing) that are
    enabled, have room (the occupied counter, no count of lines), have credits for the sale and,
    for a MAG/Formuler box, register devices. Among them: an answering panel before a down one
    (a down panel is chosen only when it is the only fit: the line waits for it, the order is not
    refused); then one serving the customer's region, else the operator's fallback order
    (`fallback_rank`, lower first; a panel without regions serves everyone before one for other
    regions); then higher priority; then the most free capacity. Raises CannotSellNow.
    One query, whatever the number of lines."""
    if override is not None:
        return Route(
            panel=override,
            reason=f"manual override by {override_by or 'the operator'}"[:300],
            waits=override.is_down,
        )
    country = (country or "").upper()
    mapped = list(
        Panel.objects.filter(plan_mappings__plan=plan)
        .exclude(pk__in=exclude)
        .annotate(plan_mapping=F("plan_mappings__mapping"))
        .order_by("pk")
    )
    skipped = tuple((p.name, why) for p in mapped if (why := _why_not(p, plan, device)))
    left = {name for name, _ in skipped}
    candidates = [p for p in mapped if p.name not in left]
    if not candidates:
        boxes = " that registers MAG/Formuler boxes" if device == "mag" else ""
        detail = "; ".join(f"{name}: {why}" for name, why in skipped) or "no panel mapped"
        raise CannotSellNow(
            f"no enabled panel with free capacity{boxes} carries plan {plan.slug!r} ({detail})",
            skipped=skipped,
        )

    def rank(p: Panel):
        tier = _region_tier(p, country)
        return (
            p.is_down,
            tier != 0,
            p.fallback_rank if tier else 0,
            tier,
            -p.priority,
            -(p.capacity - panel_lines_occupied(p)),
            p.pk,
        )

    ordered = sorted(candidates, key=rank)
    best = ordered[0]
    return Route(
        panel=best,
        reason=_route_reason(best, ordered[1:], country, skipped, rank)[:300],
        waits=best.is_down,
    )


def _route_reason(best: Panel, others: Sequence[Panel], country: str, skipped, rank) -> str:
    tier = _region_tier(best, country)
    if not country:
        parts = ["no region given"]
    elif tier == 0:
        parts = [f"region {country}"]
    elif tier == 1:
        parts = [f"region {country} (a panel for every region)"]
    else:
        parts = [f"fallback for region {country}: rank {best.fallback_rank}"]
    if not others:
        parts.append("only panel that can take it" if skipped else "only panel for the plan")
    else:
        a, b = rank(best), rank(others[0])
        if a[0] != b[0]:
            parts.append("the others are down")
        elif a[1:4] != b[1:4]:
            pass  # the region (or the fallback order) decided: said above
        elif a[4] != b[4]:
            parts.append("highest priority")
        else:
            free = best.capacity - panel_lines_occupied(best)
            parts.append(f"most free capacity ({free} free)")
    if best.is_down:
        parts.append("panel down: the line waits for it")
    if skipped:
        parts.append("skipped " + ", ".join(f"{name} ({why})" for name, why in skipped))
    return ", ".join(parts)


def panel_choose(
    *, plan, country: str = "", override: Panel | None = None, device: str = ""
) -> Panel:
    """The panel `panel_route` chooses (its reason left out)."""
    return panel_route(plan=plan, country=country, override=override, device=device).panel


def panel_record_success(*, panel: Panel) -> None:
    if panel.consecutive_failures or panel.health != Panel.Health.UP:
        Panel.objects.filter(pk=panel.pk).update(consecutive_failures=0, last_error="")
        if panel.health != Panel.Health.DOWN:
            Panel.objects.filter(pk=panel.pk).exclude(health=Panel.Health.DOWN).update(
                health=Panel.Health.UP
            )


def panel_next_probe_at(*, down_since, now):
    """When to probe a down panel next: soon at first (most outages are a restart: the first
    line after it should not wait a whole interval), then less often as the outage ages, up to
    PROBE_INTERVAL_SECONDS."""
    policy = settings.PROVISIONING
    elapsed = (now - down_since).total_seconds() if down_since else 0.0
    delay = min(policy["PROBE_INTERVAL_SECONDS"], max(policy["PROBE_FIRST_SECONDS"], elapsed / 4))
    return now + timedelta(seconds=delay)


def panel_record_failure(*, panel: Panel, error: str) -> bool:
    """Count a transient failure; open the circuit at the threshold. True if it opened now."""
    threshold = settings.PROVISIONING["CIRCUIT_FAILURE_THRESHOLD"]
    now = timezone.now()
    Panel.objects.filter(pk=panel.pk).update(
        consecutive_failures=F("consecutive_failures") + 1, last_error=error[:500]
    )
    opened = (
        Panel.objects.filter(pk=panel.pk, consecutive_failures__gte=threshold)
        .exclude(health=Panel.Health.DOWN)
        .update(
            health=Panel.Health.DOWN,
            down_since=now,
            next_probe_at=panel_next_probe_at(down_since=now, now=now),
        )
    )
    panel.refresh_from_db()
    if opened:
        logger.warning("panel %s marked down after %s failures: %s", panel.name, threshold, error)
        audit_record(subject=panel, action="panel.down", data={"error": error[:500]})
        incident_open(panel=panel, kind=Incident.Kind.PANEL_DOWN, summary=error[:500])
    return bool(opened)


def panel_mark_up(*, panel: Panel) -> bool:
    """Close the circuit. True if the panel was down (then `panel_back_up` is sent).

    The outage's incident stays open for the hold-down: it closes (with one "back up" alert)
    only once the panel has stayed up that long, see `incidents_resolve_recovered`."""
    now = timezone.now()
    was_down = Panel.objects.filter(pk=panel.pk, health=Panel.Health.DOWN).update(
        health=Panel.Health.UP,
        consecutive_failures=0,
        down_since=None,
        next_probe_at=None,
        last_error="",
    )
    Panel.objects.filter(pk=panel.pk).exclude(health=Panel.Health.UP).update(health=Panel.Health.UP)
    panel.refresh_from_db()
    if was_down:
        logger.info("panel %s is back up", panel.name)
        audit_record(subject=panel, action="panel.up")
        Incident.objects.filter(
            panel=panel,
            kind=Incident.Kind.PANEL_DOWN,
            resolved_at__isnull=True,
            recovered_at__isnull=True,
        ).update(recovered_at=now)
        # A receiver's bug must not turn a panel that answered into a failed probe: each one
        # runs on its own, and what raised is logged and audited (the scheduler re-drives the
        # waiting operations anyway once the panel is up).
        for receiver, outcome in panel_back_up.send_robust(sender=Panel, panel=panel):
            if isinstance(outcome, Exception):
                logger.error(
                    "panel %s back up: receiver %s failed: %r", panel.name, receiver, outcome
                )
                audit_record(
                    subject=panel,
                    action="panel.back_up_receiver_failed",
                    data={"receiver": getattr(receiver, "__qualname__", str(receiver))},
                )
    return bool(was_down)


def panel_call_slot(panel: Panel) -> AbstractContextManager[int]:
    """Hold one of the panel's `max_concurrency` call slots, shared by every process that calls
    it (XUI rate-limits at ~20 req/s): operations and every other caller (activity checks).

    Waits until the call's deadline (`http_deadline`, entered first; else the operation
    deadline) and raises `PanelBusy` then: transient, and not the panel's fault (callers do not
    count it with `panel_record_failure`). See `panels/slots.py`."""
    remaining = http_deadline_remaining()
    budget = panel_call_deadline_seconds() if remaining is None else remaining
    # Wait only while a whole call still fits: a slot granted with nothing left would end in a
    # timeout counted against the panel (and could open its circuit) for mere congestion.
    reserve = min(panel.timeout_seconds, budget / 2)
    return panel_slots().hold(
        panel_id=panel.pk,
        limit=panel.max_concurrency,
        timeout=max(budget - reserve, 0.0),
        name=panel.name,
    )


def panel_call_deadline_seconds() -> float:
    """Every panel call of one operation attempt (or one probe) ends within this: below the
    operation lease (with a margin for the database writes after it), so no second worker
    claims an operation that is still running."""
    policy = settings.PROVISIONING
    return max(min(policy["OPERATION_DEADLINE_SECONDS"], policy["LEASE_SECONDS"] * 0.75), 0.1)


def panel_probe(*, panel: Panel) -> bool:
    """Ask a panel whether it is healthy; update the breaker. True if up.

    Network I/O: never call this inside a database transaction (SQLite would hold its one write
    lock for the whole call; the admin's "probe now" once held it for two minutes)."""
    now = timezone.now()
    report = panel.adapter().health()
    Panel.objects.filter(pk=panel.pk).update(last_probe_at=now)
    if report.ok:
        panel_mark_up(panel=panel)
        panel_line_count_refresh(panel=panel)
        return True
    Panel.objects.filter(pk=panel.pk).update(
        last_error=report.detail[:500],
        next_probe_at=panel_next_probe_at(down_since=panel.down_since, now=now),
    )
    if panel.health != Panel.Health.DOWN:
        panel_record_failure(panel=panel, error=report.detail)
    panel.refresh_from_db()
    return False


def panel_line_count_refresh(*, panel: Panel) -> int | None:
    """Store how many lines the panel itself reports (kinds with `line_count`), for capacity
    routing; None when the kind cannot count or the panel did not answer (the last count stays).
    Network I/O: never inside a database transaction."""
    cls = panel.kind_class
    if cls is None or not cls.capabilities.can("line_count"):
        return None
    try:
        count = int(panel.adapter().line_count())
    except (PanelError, ValueError, TypeError) as exc:
        logger.warning("panel %s: line count not refreshed: %s", panel.name, exc)
        return None
    Panel.objects.filter(pk=panel.pk).update(
        lines_on_panel=max(count, 0), lines_counted_at=timezone.now()
    )
    panel.lines_on_panel = max(count, 0)
    return count


def panel_probe_claim(*, panel_id: int) -> bool:
    """Claim the next probe of a panel (one winner across schedulers) so it can be run off the
    scheduler thread: a down panel's next_probe_at, an up panel's last_probe_at move forward."""
    now = timezone.now()
    every = timedelta(seconds=settings.PROVISIONING["HEALTH_CHECK_SECONDS"])
    down_since = (
        Panel.objects.filter(pk=panel_id).values_list("down_since", flat=True).first() or now
    )
    base = Panel.objects.filter(pk=panel_id, enabled=True)
    claimed = (
        base.filter(health=Panel.Health.DOWN)
        .filter(Q(next_probe_at__isnull=True) | Q(next_probe_at__lte=now))
        .update(next_probe_at=panel_next_probe_at(down_since=down_since, now=now))
    )
    claimed += (
        base.exclude(health=Panel.Health.DOWN)
        .filter(Q(last_probe_at__isnull=True) | Q(last_probe_at__lte=now - every))
        .update(last_probe_at=now)
    )
    return bool(claimed)


def incident_resolve(*, incident: Incident, affected_operations: int | None = None) -> bool:
    """Close an incident once (a conditional UPDATE); a panel-down incident alerts "back up"."""
    fields: dict = {"resolved_at": timezone.now()}
    if affected_operations is not None:
        fields["affected_operations"] = affected_operations
    closed = Incident.objects.filter(pk=incident.pk, resolved_at__isnull=True).update(**fields)
    if not closed:
        return False
    incident.refresh_from_db()
    audit_record(
        subject=incident.panel,
        action="incident.resolved",
        data={"incident": incident.pk, "kind": incident.kind},
    )
    if incident.kind == Incident.Kind.PANEL_DOWN and incident.alerted_at is not None:
        panel = incident.panel
        operator_alert_send(
            subject=f"[{settings.SITE_NAME}] Panel back up: {panel.name}",
            body=(
                f"The panel {panel.name} has answered again since "
                f"{incident.recovered_at or incident.resolved_at:%Y-%m-%d %H:%M UTC} and stayed "
                f"up. The incident opened at {incident.opened_at:%Y-%m-%d %H:%M UTC} is closed; "
                f"{incident.affected_operations} operations waited through it.\n\n"
                f"Back office: {incident_operations_url(incident)}\n"
            ),
            dedupe_key=f"incident:{incident.pk}:resolved",
        )
    return True


def incident_operations_url(incident: Incident) -> str:
    """The back-office list of the operations an incident touches (see the provisioning admin's
    incident filter): during an outage they are pending, not in review."""
    base = f"{settings.SITE_URL}/admin/provisioning/paneloperation/"
    if incident.kind == Incident.Kind.PANEL_DOWN:
        return f"{base}?incident={incident.pk}"
    return f"{base}?status__exact=needs_review&panel__id__exact={incident.panel_id}"


def incident_open(*, panel: Panel, kind: str, summary: str = "") -> Incident:
    """The open incident of this kind on this panel (created if none), alerting once."""
    try:
        with transaction.atomic():
            incident, _ = Incident.objects.get_or_create(
                panel=panel, kind=kind, resolved_at__isnull=True, defaults={"summary": summary}
            )
    except IntegrityError:  # a concurrent worker opened it first
        incident = Incident.objects.get(panel=panel, kind=kind, resolved_at__isnull=True)
    if incident.recovered_at is not None:
        # Down again within the hold-down: the same outage goes on, no new incident or alert.
        Incident.objects.filter(pk=incident.pk).update(recovered_at=None)
        incident.recovered_at = None
    incident_alert_once(incident=incident)
    return incident


def incident_alert_once(*, incident: Incident) -> bool:
    """Alert the operator about an incident exactly once (a conditional UPDATE claims it). The
    claim and the alert's rows commit together, so a crash cannot claim it and lose the alert;
    the mail goes out after commit."""
    with transaction.atomic():
        claimed = Incident.objects.filter(pk=incident.pk, alerted_at__isnull=True).update(
            alerted_at=timezone.now()
        )
        if not claimed:
            return False
        incident.refresh_from_db()
        operator_alert_send(
            subject=f"[{settings.SITE_NAME}] {incident.get_kind_display()}: {incident.panel.name}",
            body=_incident_text(incident),
            dedupe_key=f"incident:{incident.pk}",
        )
    return True


def _incident_text(incident: Incident) -> str:
    panel = incident.panel
    if incident.kind == Incident.Kind.PANEL_DOWN:
        what = (
            f"The panel {panel.name} ({panel.api_url}) stopped answering at "
            f"{incident.opened_at:%Y-%m-%d %H:%M UTC}.\n\nLast error: {panel.last_error or incident.summary}\n\n"
            "New orders are safe: their lines wait in the queue and are created automatically, in "
            "order, as soon as a health probe sees the panel answer again. Customers who wait more "
            "than a few minutes get one message saying their line is on its way.\n"
        )
    elif incident.kind == Incident.Kind.LOW_CREDITS:
        what = (
            f"The reseller credits on panel {panel.name} are running low: {incident.summary}\n\n"
            "Top up the credits on the panel before sales fail: a sale or renewal the credits do "
            "not cover is refused by the panel and waits in the review queue, and checkout stops "
            "offering this panel once one sale is no longer covered. You get this alert once; it "
            "closes when the balance is topped up.\n"
        )
        return what + f"\nBack office: {settings.SITE_URL}/admin/panels/panel/{panel.pk}/change/\n"
    else:
        what = (
            f"Operations on panel {panel.name} stopped and need a decision.\n\n"
            f"First problem: {incident.summary}\n\n"
            "Open the review queue in the back office to retry or reassign them. You get this alert "
            "once for this incident, not once per order.\n"
        )
    return what + f"\nBack office: {incident_operations_url(incident)}\n"
