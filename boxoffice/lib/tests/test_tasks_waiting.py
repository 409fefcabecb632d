"""Re-drives skip work whose task is queued or running, but never for a killed worker's row."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from django_tasks.base import TaskResultStatus
from django_tasks_db.models import DBTaskResult

from boxoffice.lib.tasks import tasks_waiting_for
from boxoffice.provisioning.tasks import run_panel_operation

pytestmark = pytest.mark.django_db


def test_a_running_row_past_the_lease_no_longer_counts_as_waiting(settings):
    settings.PROVISIONING = {**settings.PROVISIONING, "LEASE_SECONDS": 60}
    for op_id in (1, 2, 3):
        run_panel_operation.enqueue(op_id)
    now = timezone.now()
    rows = {r.args_kwargs["args"][0]: r for r in DBTaskResult.objects.all()}
    # 1 stays queued; 2 runs on a live worker; 3 was claimed by a worker killed 5 minutes ago.
    DBTaskResult.objects.filter(pk=rows[2].pk).update(
        status=TaskResultStatus.RUNNING, started_at=now - timedelta(seconds=10)
    )
    DBTaskResult.objects.filter(pk=rows[3].pk).update(
        status=TaskResultStatus.RUNNING, started_at=now - timedelta(minutes=5)
    )
    assert tasks_waiting_for(run_panel_operation, [1, 2, 3, 4]) == {1, 2}
