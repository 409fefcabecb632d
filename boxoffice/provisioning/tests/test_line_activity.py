"""The welcome sequence's activity checks: gentle, claimed, and never a crash when the panel
does not answer."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from boxoffice.provisioning.models import Line, LineActivity, OnboardingStep
from boxoffice.provisioning.onboarding import activity_poll_due, onboarding_schedule

pytestmark = pytest.mark.django_db


@pytest.fixture
def line(plan, customer, panel):
    return Line.objects.create(
        customer=customer,
        plan=plan,
        panel=panel,
        username="quiet_tv",
        password="pw",
        panel_line_id="41",
        status=Line.Status.ACTIVE,
        activated_at=timezone.now(),
    )


def test_scheduling_twice_writes_each_step_once(line):
    assert onboarding_schedule(line=line) == 3
    assert onboarding_schedule(line=line) == 0
    assert OnboardingStep.objects.filter(line=line).count() == 3
    assert LineActivity.objects.filter(line=line).count() == 1


def test_a_first_scheduling_that_meets_existing_rows_leaves_them_as_they_are(line):
    onboarding_schedule(line=line)
    due = dict(OnboardingStep.objects.filter(line=line).values_list("step", "due_at"))

    # The first-activation path does not read the steps first: the rows' constraint keeps one.
    onboarding_schedule(line=line, first=True, activated_at=timezone.now() + timedelta(days=9))

    assert dict(OnboardingStep.objects.filter(line=line).values_list("step", "due_at")) == due
    assert LineActivity.objects.filter(line=line).count() == 1


def test_a_panel_that_does_not_answer_is_recorded_and_asked_again_later(line, settings):
    onboarding_schedule(line=line)
    later = timezone.now() + timedelta(hours=1)

    counts = activity_poll_due(now=later)

    assert counts == {"error": 1}
    activity = LineActivity.objects.get(line=line)
    assert activity.last_error
    assert activity.first_watched_at is None
    # Claimed forward by the check interval: the next pass leaves it alone until then.
    assert activity.next_check_at >= later + timedelta(
        seconds=settings.ONBOARDING["CHECK_INTERVAL_SECONDS"]
    )
    assert activity_poll_due(now=later + timedelta(minutes=1)) == {}
    line.panel.refresh_from_db()
    assert line.panel.consecutive_failures == 1  # counted by the circuit breaker


def test_lines_past_their_first_week_or_not_active_are_not_asked(line):
    onboarding_schedule(line=line)
    assert activity_poll_due(now=timezone.now() + timedelta(days=8)) == {}
    Line.objects.filter(pk=line.pk).update(status=Line.Status.CANCELLED)
    assert activity_poll_due(now=timezone.now() + timedelta(hours=1)) == {}
