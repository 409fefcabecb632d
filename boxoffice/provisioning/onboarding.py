"""The welcome sequence: what a line is owed in its first week, as durable rows.

- When a line first becomes active (the create operation's success, in its transaction), the
  credentials mail is recorded (emails.py) and so are its `OnboardingStep` rows (day 1, 3 and 7
  by `OnboardingSettings`) and a `LineActivity` row: nothing the sequence owes lives only in
  memory or in the task queue.
- The scheduler's pass `onboarding_run` (every `ONBOARDING_PASS_SECONDS`) first polls the panel
  for new lines' activity (gently, in batches, through the same per-panel concurrency bound,
  deadline and circuit breaker as operations; never inside a transaction), then sends the steps
  that are due. A step is claimed by a conditional UPDATE in the transaction that records its
  mail (`Message`, unique dedupe key), so a restart, a redeploy, two workers or a worker that was
  stopped neither lose nor repeat one; SMTP happens after commit (the outbox finishes it).
- **Overdue steps** (the system was down past a step's time): each step is sent at most once,
  late. When a later step is also due already, the earlier ones are skipped as superseded, so a
  customer coming back from a long outage gets the one welcome mail that fits the line's age,
  never two or three in one go.
- A step whose line is no longer active (cancelled, expired, suspended, refunded, in its renewal
  grace) or whose customer unsubscribed from onboarding mail is skipped with the reason; a mail
  already queued is dropped by its stale check right before SMTP.
- **Activation-aware day 1**: the line's first-watched time decides the variant: tips for a
  customer already watching, "let's get you watching" (device guide, a direct support link)
  for one who has not connected yet. A line not seen watching is polled once more right before
  its day-1 mail is decided.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from boxoffice.lib.http import http_deadline
from boxoffice.panels.adapters.base import PanelError
from boxoffice.panels.models import panel_adapter_release
from boxoffice.panels.services import (
    panel_call_deadline_seconds,
    panel_call_slot,
    panel_record_failure,
)
from boxoffice.panels.slots import PanelBusy
from boxoffice.provisioning.models import Line, LineActivity, OnboardingSettings, OnboardingStep
from boxoffice.provisioning.welcome_emails import (
    onboarding_settings,
    welcome_email_send,
    welcome_skip_reason,
)

logger = logging.getLogger(__name__)
Step = OnboardingStep.Step
S = OnboardingStep.Status
Variant = OnboardingStep.Variant

# The order of the steps (a later due step supersedes an earlier overdue one).
STEP_ORDER = (Step.DAY1, Step.DAY3, Step.DAY7)
FIRST_WEEK = timedelta(days=7)


def _policy() -> dict:
    return settings.ONBOARDING


def step_offset(config: OnboardingSettings, step: str) -> timedelta:
    return timedelta(hours=getattr(config, f"{step}_offset_hours"))


def step_enabled(config: OnboardingSettings, step: str) -> bool:
    return bool(getattr(config, f"{step}_enabled"))


def onboarding_schedule(
    *, line: Line, activated_at: datetime | None = None, first: bool = False
) -> int:
    """The line's welcome steps and activity polling, as rows (call it in the transaction that
    makes the line active). Idempotent: a step that exists is left as it is. Returns the steps
    added; `first` (the line's first activation, which finds none) skips reading them first
    and returns how many were owed."""
    start = activated_at or line.activated_at or timezone.now()
    config = onboarding_settings()
    existing = (
        set()
        if first
        else set(OnboardingStep.objects.filter(line=line).values_list("step", flat=True))
    )
    missing = [step for step in STEP_ORDER if step not in existing]
    # One INSERT for the steps and one for the activity row (on the first activation, the
    # usual case, nothing exists yet); a concurrent scheduling's rows are left as they are.
    OnboardingStep.objects.bulk_create(
        [
            OnboardingStep(line=line, step=step, due_at=start + step_offset(config, step))
            for step in missing
        ],
        ignore_conflicts=True,
    )
    LineActivity.objects.bulk_create(
        [
            LineActivity(
                line=line,
                watch_until=start + FIRST_WEEK,
                next_check_at=start + timedelta(seconds=_policy()["FIRST_CHECK_SECONDS"]),
            )
        ],
        ignore_conflicts=True,
    )
    return len(missing)


def onboarding_settings_apply(*, config: OnboardingSettings) -> int:
    """An offset changed in the back office: the steps still scheduled move with it."""
    moved = 0
    for step in STEP_ORDER:
        for row in OnboardingStep.objects.filter(step=step, status=S.SCHEDULED).select_related(
            "line"
        ):
            start = row.line.activated_at or row.created_at
            due = start + step_offset(config, step)
            if due != row.due_at:
                moved += OnboardingStep.objects.filter(pk=row.pk, status=S.SCHEDULED).update(
                    due_at=due
                )
    return moved


# --- activity ------------------------------------------------------------------------------


def _activity_claim(activity_id: int, now: datetime) -> bool:
    """Move the row's next check forward before calling the panel: one poller per row, and a
    poller killed mid-call leaves a row that is simply due again later."""
    interval = timedelta(seconds=_policy()["CHECK_INTERVAL_SECONDS"])
    return bool(
        LineActivity.objects.filter(
            pk=activity_id, first_watched_at__isnull=True, next_check_at__lte=now
        ).update(next_check_at=now + interval)
    )


def line_activity_check(*, activity: LineActivity) -> str:
    """Ask the panel whether the line has been used (outside any transaction): records the
    first time the customer was seen watching. Returns what happened."""
    line = activity.line
    panel = line.panel
    if not line.panel_line_id:
        return "no_panel_line"
    if panel.is_down:
        return "panel_down"  # the circuit is open: the row stays due, the probe sees it back
    adapter = panel.adapter()
    try:
        with http_deadline(panel_call_deadline_seconds()), panel_call_slot(panel):
            seen = adapter.line_activity(line.panel_line_id)
    except PanelError as exc:
        if exc.transient and not isinstance(exc, PanelBusy):
            panel_record_failure(panel=panel, error=f"activity check: {exc}"[:1000])
        LineActivity.objects.filter(pk=activity.pk).update(last_error=str(exc)[:300])
        return "error"
    except Exception as exc:  # an adapter bug must not stop the pass: recorded, retried later
        logger.exception("activity check of line %s failed unexpectedly", line.pk)
        LineActivity.objects.filter(pk=activity.pk).update(
            last_error=f"{type(exc).__name__}: {exc}"[:300]
        )
        return "error"
    finally:
        panel_adapter_release(adapter)
    now = timezone.now()
    watching = seen.active_connections > 0 or (
        seen.last_active_at is not None
        and line.activated_at is not None
        and seen.last_active_at >= line.activated_at - timedelta(minutes=5)
    )
    fields = {
        "active_connections": min(seen.active_connections, 32767),
        "last_active_at": seen.last_active_at,
        "last_checked_at": now,
        "last_error": "",
        "checks": F("checks") + 1,
    }
    LineActivity.objects.filter(pk=activity.pk).update(**fields)
    if watching:
        first = seen.last_active_at if seen.active_connections == 0 and seen.last_active_at else now
        LineActivity.objects.filter(pk=activity.pk, first_watched_at__isnull=True).update(
            first_watched_at=min(first, now)
        )
        return "watching"
    return "not_watching"


def activity_poll_due(*, now: datetime | None = None) -> dict[str, int]:
    """One batch of new lines not yet seen watching, in their first week, due for a check."""
    now = now or timezone.now()
    counts: dict[str, int] = {}
    due = list(
        LineActivity.objects.filter(
            first_watched_at__isnull=True,
            next_check_at__lte=now,
            watch_until__gt=now,
            line__status=Line.Status.ACTIVE,
        )
        .order_by("next_check_at", "pk")
        .values_list("pk", flat=True)[: _policy()["CHECK_BATCH"]]
    )
    for pk in due:
        if not _activity_claim(pk, now):
            continue
        activity = LineActivity.objects.select_related("line__panel").get(pk=pk)
        result = line_activity_check(activity=activity)
        counts[result] = counts.get(result, 0) + 1
    return counts


def _activity_fresh_for(line: Line, now: datetime) -> LineActivity | None:
    """The line's activity, polled once more first when it was not seen watching lately (the
    day-1 mail's variant is decided on it)."""
    activity = LineActivity.objects.filter(line=line).select_related("line__panel").first()
    if activity is None or activity.first_watched_at is not None:
        return activity
    fresh = timedelta(seconds=_policy()["FRESH_CHECK_SECONDS"])
    if activity.last_checked_at is None or activity.last_checked_at < now - fresh:
        line_activity_check(activity=activity)
        activity.refresh_from_db()
    return activity


# --- the steps -----------------------------------------------------------------------------


def _step_skip(step: OnboardingStep, reason: str) -> bool:
    return bool(
        OnboardingStep.objects.filter(pk=step.pk, status=S.SCHEDULED).update(
            status=S.SKIPPED, skip_reason=reason[:200], decided_at=timezone.now()
        )
    )


def onboarding_step_send(*, step: OnboardingStep, now: datetime | None = None) -> str:
    """Decide one due step: skipped (with why), or its mail recorded and the step marked sent
    in one transaction (SMTP after commit). The panel check for the day-1 variant comes first,
    outside it."""
    now = now or timezone.now()
    line = Line.objects.select_related("customer", "plan", "order", "panel").get(pk=step.line_id)
    config = onboarding_settings()
    if not step_enabled(config, step.step):
        return "skipped" if _step_skip(step, "switched off in the settings") else "not_due"
    later = STEP_ORDER[STEP_ORDER.index(Step(step.step)) + 1 :]
    later_due = OnboardingStep.objects.filter(
        line_id=step.line_id,
        step__in=[s for s in later if step_enabled(config, s)],
        due_at__lte=now,
    ).exists()
    if later_due:
        return "skipped" if _step_skip(step, "superseded by a later step (overdue)") else "not_due"
    reason = welcome_skip_reason(line)
    if reason:
        return "skipped" if _step_skip(step, reason) else "not_due"
    variant = ""
    if step.step == Step.DAY1:
        activity = _activity_fresh_for(line, now)
        watching = activity is not None and activity.first_watched_at is not None
        variant = Variant.WATCHING if watching else Variant.NOT_WATCHING
    with transaction.atomic():
        claimed = OnboardingStep.objects.filter(pk=step.pk, status=S.SCHEDULED).update(
            status=S.SENT, variant=variant, decided_at=timezone.now()
        )
        if not claimed:
            return "not_due"  # another worker took it
        message = welcome_email_send(line=line, step=step.step, variant=variant)
        OnboardingStep.objects.filter(pk=step.pk).update(message=message)
    return "sent"


def onboarding_steps_send_due(*, now: datetime | None = None) -> dict[str, int]:
    now = now or timezone.now()
    counts: dict[str, int] = {}
    # Latest first per line, so a later due step supersedes the overdue ones before them.
    due = list(
        OnboardingStep.objects.filter(status=S.SCHEDULED, due_at__lte=now)
        .order_by("-due_at", "-pk")
        .values_list("pk", flat=True)[: _policy()["SEND_BATCH"]]
    )
    for pk in due:
        step = OnboardingStep.objects.filter(pk=pk, status=S.SCHEDULED).first()
        if step is None:
            continue
        result = onboarding_step_send(step=step, now=now)
        counts[result] = counts.get(result, 0) + 1
    return counts


def onboarding_run() -> dict[str, int]:
    """The scheduler's pass: poll new lines' activity, then send the welcome steps due."""
    counts = {f"activity_{k}": v for k, v in activity_poll_due().items()}
    counts.update(onboarding_steps_send_due())
    return counts
