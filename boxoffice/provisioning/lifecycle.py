"""The renewal lifecycle of a one-time-payment line: renewing it, and what happens when money
does not come.

- A paid renewal order extends its line (`line_renew_for_order`, in the payment's transaction):
  one `extend` operation per order (its idempotency key), whose new expiry is computed once —
  max(current expiry, now) + the plan's duration, counting extends already queued — and stored
  on the operation, so a retry sends the same date. The line's expiry changes only when the
  panel has confirmed (handlers.py); a line suspended for non-payment is then resumed.
- The scheduler's pass `lines_lifecycle_run` walks the stages, per plan settings:
  active → reminded (mails at `reminder_days` before expiry) → grace (expired, `grace_days`)
  → suspended on the panel (reason "payment overdue") → terminated (`terminate_after_days`
  after expiry, a delete the kind's capabilities adapt) → a win-back mail `winback_days` after
  termination. Lines suspended for any other reason (a dispute, an operator) are left alone.
- Every stage change is in the audit trail (`line_stage_set`).
- The pay link in those mails is a signed, expiring token for one line (`renewal_pay_token`):
  it opens that line's renewal checkout and nothing else (never a sign-in, never the password).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from boxoffice.audit.services import audit_record
from boxoffice.catalog.models import Plan
from boxoffice.provisioning import emails
from boxoffice.provisioning.models import LATE_STAGES, Line, PanelOperation
from boxoffice.provisioning.paylinks import renewal_pay_line, renewal_pay_token
from boxoffice.provisioning.services import line_delete, line_suspend, operation_create

logger = logging.getLogger(__name__)
Op = PanelOperation
Stage = Line.Stage

# The suspension reason the lifecycle writes; only lines suspended for it are resumed on payment.
OVERDUE = "payment overdue"
_OPEN = OPEN_STATUSES = (Op.Status.PENDING, Op.Status.RUNNING, Op.Status.NEEDS_REVIEW)
_LIFECYCLE_STATUSES = (Line.Status.ACTIVE, Line.Status.EXPIRED, Line.Status.SUSPENDED)
# Open operations that change what the lifecycle decides (a stuck password change does not).
_WAIT_FOR = (Op.Kind.EXTEND, Op.Kind.SUSPEND, Op.Kind.RESUME, Op.Kind.DELETE, Op.Kind.MOVE)
__all__ = ["renewal_pay_line", "renewal_pay_token"]  # the pay link, for billing and pages


class LineNotRenewable(Exception):
    """The line cannot be extended (never created on its panel, or terminated)."""


def line_renewable(line: Line) -> bool:
    """A line on its panel that a payment can extend. A trial is not: it converts to a paid
    plan instead (provisioning/conversion.py), which also lifts the panel's trial flag."""
    return (
        bool(line.panel_line_id)
        and not line.is_trial
        and line.status
        in (
            Line.Status.ACTIVE,
            Line.Status.EXPIRED,
            Line.Status.SUSPENDED,
        )
    )


def line_offered_for_renewal(line: Line) -> bool:
    """What the portal, the checkout and the pay link offer: a renewable line, except one
    suspended for another reason than non-payment (a dispute: paying would not resume it), and
    except one its gateway charges every period (`auto_renew`): paying by hand on top of the
    subscription would charge twice; a failed charge is mended by updating the card."""
    if line.status == Line.Status.SUSPENDED and line.suspension_reason != OVERDUE:
        return False
    if line.auto_renew:
        return False
    return line_renewable(line)


# --- stages ------------------------------------------------------------------------------------


def line_stage_set(*, line: Line, stage: str, why: str = "") -> bool:
    """Move the line to `stage` (a conditional UPDATE, audited once). True if it changed."""
    previous = line.stage
    if previous == stage:
        return False
    changed = Line.objects.filter(pk=line.pk, stage=previous).update(
        stage=stage, updated_at=timezone.now()
    )
    if changed:
        line.stage = stage
        audit_record(
            subject=line, action="line.stage", data={"from": previous, "to": stage, "why": why}
        )
    return bool(changed)


def stage_audit(*, line: Line, stage: str, why: str) -> dict:
    """For a handler's `record`: the stage field to save, audited when it changes."""
    if line.stage == stage:
        return {}
    audit_record(
        subject=line, action="line.stage", data={"from": line.stage, "to": stage, "why": why}
    )
    return {"stage": stage}


# --- renewing ----------------------------------------------------------------------------------


def renewal_expiry(*, line: Line, days: int, period_end: datetime | None = None) -> datetime:
    """max(current expiry, now, any extend already queued) + days, to the second.

    `period_end`: the end of the period a subscription charge paid for (the gateway keeps its
    own calendar, anchored at the first payment): the new expiry is that date, never earlier
    than the current expiry or an extend already queued, and not moved by a late payment."""
    now = timezone.now()
    base = max(line.expires_at or now, now) if period_end is None else (line.expires_at or now)
    for params in line.operations.filter(kind=Op.Kind.EXTEND, status__in=_OPEN).values_list(
        "params", flat=True
    ):
        try:
            base = max(base, datetime.fromisoformat(params["expires_at"]))
        except (KeyError, TypeError, ValueError):
            continue
    if period_end is not None:
        return max(base, period_end).replace(microsecond=0)
    return (base + timedelta(days=days)).replace(microsecond=0)


def line_renew_for_order(*, order, expires_at: datetime | None = None) -> PanelOperation:
    """A paid renewal order extends its line: one operation per order, ever. Runs inside the
    caller's transaction (the one that marks the order paid). Raises LineNotRenewable."""
    key = f"renewal:order:{order.pk}"
    existing = PanelOperation.objects.filter(idempotency_key=key).first()
    if existing is not None:
        return existing
    line = Line.objects.select_for_update().get(pk=order.target_line_id)
    if not line_renewable(line):
        raise LineNotRenewable(
            f"line {line.username} is {line.get_status_display().lower()}: it cannot be renewed"
        )
    if line.operations.filter(kind=Op.Kind.DELETE, status__in=_OPEN).exists():
        raise LineNotRenewable(f"line {line.username} is being terminated on its panel")
    quoted = (order.quote or {}).get("extra_connections")
    if quoted is not None and order.plan_id == line.plan_id and quoted != line.extra_connections:
        # Priced for other add-on connections than the line has now (some were bought after
        # the renewal was started): the period would carry connections nobody paid for.
        raise LineNotRenewable(
            f"the renewal was priced for {quoted} extra connection(s), but line "
            f"{line.username} has {line.extra_connections} now"
        )
    expires_at = renewal_expiry(line=line, days=order.plan.duration_days, period_end=expires_at)
    params: dict = {"expires_at": expires_at.isoformat(), "renewal": True}
    if order.plan_id != line.plan_id:
        params |= _renewal_plan_change(order=order, line=line)
    op = operation_create(
        line=line,
        kind=Op.Kind.EXTEND,
        order=order,
        params=params,
        idempotency_key=key,
    )
    audit_record(
        subject=line,
        action="line.renewal_queued",
        data={"order": order.reference, "expires_at": expires_at.isoformat()},
    )
    return op


def _renewal_plan_change(*, order, line: Line) -> dict:
    """A renewal of another plan than the line's: the downgrade the customer chose
    (`Line.next_plan`, frozen on the order at checkout), applied with the extend in one change
    on the panel. Anything else (the line was upgraded after this renewal was started, or the
    downgrade was cancelled) is a person's decision: LineNotRenewable sends it to review."""
    change = (order.quote or {}).get("plan_change") or {}
    if change.get("from_plan") != line.plan_id or line.next_plan_id != order.plan_id:
        raise LineNotRenewable(
            f"the renewal was paid for {order.plan.name}, but line {line.username} is on "
            f"{line.plan.name} and no change to {order.plan.name} is scheduled"
        )
    mapping = order.plan.mapping_on(line.panel_id)
    if mapping is None:
        raise LineNotRenewable(f"{order.plan.name} is not sold on the line's server")
    extras = int(change.get("extra_connections", 0))
    return {
        "plan": order.plan_id,
        "connections": order.plan.connections + extras,
        "extra_connections": extras,
        "mapping": mapping,
    }


def line_grace_extend(*, line: Line, key: str) -> PanelOperation | None:
    """An auto-renewing line whose charge failed keeps playing through the plan's grace days:
    the panel's expiry moves to the end of the grace period, while the line's own expiry (what
    was paid, from which the lifecycle counts grace and suspension) stays. Nothing is owed to
    the customer for it; a renewal paid later sets the panel to the paid period's end (the
    extend never goes below the line's expiry, whichever of the two runs last). One per `key`
    (the failed invoice). Runs inside the caller's transaction."""
    existing = PanelOperation.objects.filter(idempotency_key=key).first()
    if existing is not None:
        return existing
    days = line.plan.grace_days
    if not days or line.expires_at is None or not line_renewable(line):
        return None
    until = (line.expires_at + timedelta(days=days)).replace(microsecond=0)
    op = operation_create(
        line=line,
        kind=Op.Kind.EXTEND,
        params={"expires_at": until.isoformat(), "grace": True},
        idempotency_key=key,
    )
    audit_record(subject=line, action="line.grace_extended", data={"until": until.isoformat()})
    return op


# --- the scheduler's pass ----------------------------------------------------------------------


def lines_lifecycle_run() -> dict[str, int]:
    """One pass over lines with an expiry: reminders, grace, suspension, termination, win-back.
    Each line in its own transaction: one that fails is logged and the others still run."""
    counts = {"reminded": 0, "grace": 0, "suspended": 0, "terminated": 0, "winback": 0}
    now = timezone.now()
    # Only lines near their expiry (the longest reminder offset of any plan) or past it, and
    # of those past it only the ones the lifecycle can still move: expired for less than the
    # longest `terminate_after_days` (older ones in stage active or reminded are left alone by
    # `_line_step`), or in grace or suspended (on their way to termination, at any age).
    # Three indexed looks instead of one OR, each served by its own index whatever the number
    # of lines long expired or active far from expiry.
    furthest, longest = 0, 0
    for days, terminate in Plan.objects.order_by().values_list(
        "reminder_days", "terminate_after_days"
    ):
        furthest, longest = max(furthest, max(days or [0])), max(longest, terminate or 0)
    horizon = now + timedelta(days=furthest + 1)
    lifecycle_lines = Line.objects.filter(
        is_trial=False,
        expires_at__isnull=False,
        status__in=_LIFECYCLE_STATUSES,
    ).exclude(panel_line_id="")
    recent = lifecycle_lines.filter(
        expires_at__gte=now - timedelta(days=longest + 1), expires_at__lte=horizon
    )
    # The late stages as the partial index `line_lifecycle_late` names them (lib/lookups.py).
    late = Line.objects.filter(stage__literal_in=LATE_STAGES)
    # Neither status nor expiry filtered here (both below, in Python, on these few rows): with
    # either, the planner prefers the index of every line by status and expiry.
    on_the_way = late.filter(stage__in=[Stage.GRACE, Stage.SUSPENDED], is_trial=False).exclude(
        panel_line_id=""
    )
    terminated = late.filter(
        is_trial=False,
        stage=Stage.TERMINATED,
        suspension_reason=OVERDUE,
        expires_at__gte=now - timedelta(days=400),
    )
    pks: set[int] = set()
    for lines in (recent, terminated):
        pks.update(lines.order_by().values_list("pk", flat=True))
    pks.update(
        pk
        for pk, status, expires_at in on_the_way.order_by().values_list(
            "pk", "status", "expires_at"
        )
        if status in _LIFECYCLE_STATUSES and expires_at is not None and expires_at <= horizon
    )
    for pk in sorted(pks):
        try:
            with transaction.atomic():
                line = Line.objects.select_related("plan", "customer").get(pk=pk)
                what = _line_step(line, now)
            if what:
                counts[what] += 1
        except Exception:
            logger.exception("renewal lifecycle of line %s failed", pk)
    return counts


def _line_step(line: Line, now: datetime) -> str:
    plan = line.plan
    expires_at = line.expires_at
    if expires_at is None:
        return ""  # a line that never expires has nothing to renew
    if line.stage == Stage.TERMINATED:
        return _winback(line, now)
    if line.status == Line.Status.SUSPENDED and line.suspension_reason != OVERDUE:
        return ""  # a dispute or an operator's decision: not ours to touch
    if line.operations.filter(status__in=_OPEN, kind__in=_WAIT_FOR).exists():
        return ""  # a renewal, a suspension or a resumption is on its way: wait for it
    if now < expires_at:
        # An auto-renewing line is charged by its gateway before it expires: a reminder to pay
        # (with a pay link) would invite a second payment. A failed charge is told at once by
        # billing; from the expiry on, grace and suspension apply as to any line.
        return "" if line.auto_renew else _remind(line, now)
    overdue = now - expires_at
    period = expires_at.strftime("%Y%m%d%H%M%S")
    if line.status != Line.Status.SUSPENDED:
        if line.stage != Stage.GRACE and overdue >= timedelta(days=plan.terminate_after_days):
            # Expired for longer than the whole lifecycle before this pass ever saw it (a line
            # from before renewals existed): never suspended and deleted in one go unannounced.
            return ""
        if overdue < timedelta(days=plan.grace_days):
            return "grace" if line_stage_set(line=line, stage=Stage.GRACE, why="expired") else ""
        line_stage_set(line=line, stage=Stage.GRACE, why="expired")
        line_suspend(
            line=line, reason=OVERDUE, idempotency_key=f"overdue-suspend:{line.pk}:{period}"
        )
        return "suspended"
    if overdue >= timedelta(days=plan.terminate_after_days):
        line_delete(
            line=line, reason=OVERDUE, idempotency_key=f"overdue-terminate:{line.pk}:{period}"
        )
        return "terminated"
    return ""


def _remind(line: Line, now: datetime) -> str:
    plan = line.plan
    today = timezone.localdate(now)
    expiry_day = timezone.localdate(line.expires_at)
    # The nearest offset that is due; offsets not shorter than the plan would remind at once.
    due = [
        d
        for d in (plan.reminder_days or [])
        if d < plan.duration_days and today >= expiry_day - timedelta(days=d)
    ]
    if not due:
        return ""
    days = min(due)
    key = f"renewal_reminder:line:{line.pk}:{line.expires_at:%Y%m%d%H%M%S}:{days}"
    if emails.message_exists(key):
        return ""
    emails.renewal_reminder_email_send(line=line, dedupe_key=key, days=(expiry_day - today).days)
    line_stage_set(line=line, stage=Stage.REMINDED, why=f"reminder {days} days before expiry")
    return "reminded"


def _winback(line: Line, now: datetime) -> str:
    plan = line.plan
    if not plan.winback_days or line.expires_at is None:
        return ""
    due = line.expires_at + timedelta(days=plan.terminate_after_days + plan.winback_days)
    if now < due:
        return ""
    if line.customer.unsubscribed_at is not None:
        return ""  # no come-back mail to a customer who asked for none
    if line.customer.lines.filter(status=Line.Status.ACTIVE).exists():
        return ""  # back already, with another line
    key = f"winback:line:{line.pk}:{line.expires_at:%Y%m%d%H%M%S}"
    if emails.message_exists(key):
        return ""
    emails.winback_email_send(line=line, dedupe_key=key)
    return "winback"


# --- what the operator sees --------------------------------------------------------------------


def line_next_step(line: Line, now: datetime | None = None) -> tuple[datetime | None, str]:
    """When the lifecycle acts on this line next and what it will do, by the line's plan
    settings (the same rules as `_line_step`): for the back office's renewals page."""
    now = now or timezone.now()
    plan = line.plan
    expires_at = line.expires_at
    if expires_at is None or line.is_trial:
        return None, ""
    if line.stage == Stage.TERMINATED:
        if plan.winback_days and line.suspension_reason == OVERDUE:
            return (
                expires_at + timedelta(days=plan.terminate_after_days + plan.winback_days),
                "win-back mail",
            )
        return None, ""
    if line.status == Line.Status.SUSPENDED and line.suspension_reason != OVERDUE:
        return None, f"left alone (suspended: {line.suspension_reason or 'by an operator'})"
    if now < expires_at:
        expiry_day = timezone.localdate(expires_at)
        today = timezone.localdate(now)
        upcoming = sorted(
            (d for d in (plan.reminder_days or []) if d < plan.duration_days),
            reverse=True,
        )
        for days in upcoming:
            day = expiry_day - timedelta(days=days)
            if day > today:
                # The pass sends a reminder on its day (local time), from its first run.
                when = timezone.make_aware(datetime.combine(day, datetime.min.time()))
                label = "on the expiry day" if days == 0 else f"{days} days before expiry"
                return when, f"reminder ({label})"
        return expires_at, "expires; grace begins"
    if line.status != Line.Status.SUSPENDED:
        return expires_at + timedelta(days=plan.grace_days), "suspension for non-payment"
    return expires_at + timedelta(days=plan.terminate_after_days), "termination"
