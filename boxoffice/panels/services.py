"""Panel routing, health and the circuit breaker."""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Count, F, Q
from django.utils import timezone

from boxoffice.audit.services import audit_record
from boxoffice.messaging.services import operator_alert_send
from boxoffice.panels.adapters.base import (
    AccessItem,
    AccessSection,
    FieldError,
    LineAccess,
    LineFacts,
)
from boxoffice.panels.adapters.registry import adapter_class
from boxoffice.panels.models import Incident, Panel
from boxoffice.panels.signals import panel_back_up

logger = logging.getLogger(__name__)

# Line states that occupy a slot on a panel.
_OCCUPYING = ("reserved", "active", "suspended")


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
            title="Your login",
            items=(
                AccessItem(key="username", label="Username", value=username),
                AccessItem(key="password", label="Password", value=password, secret=True),
            ),
        )
        return LineAccess(
            sections=(login,),
            hint="The server details follow from your provider; write to support if they "
            "have not arrived.",
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


def _takes_devices(panel: Panel) -> bool:
    cls = panel.kind_class
    return cls is not None and cls.capabilities.devices


def panels_take_devices(*, plan) -> bool:
    """Whether any enabled panel carrying the plan is of a kind that registers MAG/Formuler
    boxes (its capabilities say so): checkout offers a box only then."""
    return any(
        _takes_devices(p) for p in Panel.objects.filter(enabled=True, plan_mappings__plan=plan)
    )


def panel_choose(
    *, plan, country: str = "", override: Panel | None = None, device: str = ""
) -> Panel:
    """Pick the panel for a new line.

    Manual override wins. Otherwise: panels mapped to the plan, enabled, below capacity, and for
    a MAG/Formuler box (`device="mag"`) of a kind that registers devices; those serving the
    customer's region first (a panel with no regions serves everyone); then higher priority; then
    the lowest fill ratio (capacity-based balancing). A panel that is down is still chosen when it
    is the only fit: the operation waits for it instead of failing the order.
    """
    if override is not None:
        return override
    candidates = list(
        Panel.objects.filter(enabled=True, plan_mappings__plan=plan).annotate(
            used=Count("lines", filter=Q(lines__status__in=_OCCUPYING), distinct=True)
        )
    )
    candidates = [p for p in candidates if p.used < p.capacity]
    if device == "mag":
        candidates = [p for p in candidates if _takes_devices(p)]
        if not candidates:
            raise NoPanelAvailable(
                f"no enabled panel with free capacity that registers MAG/Formuler boxes carries "
                f"plan {plan.slug!r}"
            )
    if not candidates:
        raise NoPanelAvailable(f"no enabled panel with free capacity carries plan {plan.slug!r}")
    country = (country or "").upper()

    def rank(p):  # a candidate: a Panel with its `used` annotation
        regions = [r.upper() for r in (p.regions or [])]
        region_fit = 0 if country and country in regions else (1 if not regions else 2)
        # Down comes first: an up panel anywhere beats waiting on a down one in the right region.
        return (p.is_down, region_fit, -p.priority, p.used / max(p.capacity, 1), p.pk)

    best = min(candidates, key=rank)
    if country and best.regions and country not in [r.upper() for r in best.regions]:
        # Only panels dedicated to other regions are left: still serve the customer.
        logger.info(
            "no panel serves region %s for plan %s; using %s", country, plan.slug, best.name
        )
    return best


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
        return True
    Panel.objects.filter(pk=panel.pk).update(
        last_error=report.detail[:500],
        next_probe_at=panel_next_probe_at(down_since=panel.down_since, now=now),
    )
    if panel.health != Panel.Health.DOWN:
        panel_record_failure(panel=panel, error=report.detail)
    panel.refresh_from_db()
    return False


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
    else:
        what = (
            f"Operations on panel {panel.name} stopped and need a decision.\n\n"
            f"First problem: {incident.summary}\n\n"
            "Open the review queue in the back office to retry or reassign them. You get this alert "
            "once for this incident, not once per order.\n"
        )
    return what + f"\nBack office: {incident_operations_url(incident)}\n"
