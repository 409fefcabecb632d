"""What the task queue (django-tasks-db) already holds, so re-drives queue only what is missing,
and the pruning of finished task rows. The rows of our own tables stay the truth; these only keep
the fast path from filling with duplicates."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone
from django_tasks.base import TaskResultStatus


def _db_queue() -> bool:
    return settings.TASKS["default"]["BACKEND"] == "django_tasks_db.DatabaseBackend"


# The statuses of a task row still to run or running: the look below filters on exactly these,
# as the partial index `task_live_by_path` (lib migration 0003) names them.
_LIVE = [TaskResultStatus.READY, TaskResultStatus.RUNNING]


def tasks_waiting_for(task, candidates) -> set:
    """Of `candidates` (first arguments of `task`), those with a queued row or one running
    for less than a lease (PROVISIONING LEASE_SECONDS). A row still `running` after that
    belongs to a worker that was killed mid-task (nothing ever marks it finished): it must not
    keep the work from being queued again, or the work would stall for good.

    The database answers for the candidates only (their first argument matched inside the
    JSON), reading the task's live rows through a partial index: one query returning at most
    len(candidates) values, instead of every queued row of the task decoded in Python each
    pass, which made a re-drive O(queue) during a backlog of thousands."""
    candidates = set(candidates)
    if not candidates or not _db_queue():
        return set()
    from django_tasks_db.models import DBTaskResult  # noqa: PLC0415 - only with the DB queue

    alive_since = timezone.now() - timedelta(seconds=settings.PROVISIONING["LEASE_SECONDS"])
    return set(
        DBTaskResult.objects.filter(task_path=task.module_path, status__literal_in=_LIVE)
        .filter(
            Q(status=TaskResultStatus.READY)
            | Q(status=TaskResultStatus.RUNNING, started_at__gte=alive_since)
        )
        .filter(args_kwargs__args__0__in=sorted(candidates))
        .order_by()
        .values_list("args_kwargs__args__0", flat=True)
    )


def tasks_finished_purge(*, batch: int = 5000) -> int:
    """Finished task rows are history: successful ones after TASK_ROWS_KEEP_SECONDS, failed
    ones (a traceback someone may read) after a week. One batch per call."""
    if not _db_queue():
        return 0
    from django_tasks_db.models import DBTaskResult  # noqa: PLC0415 - only with the DB queue

    now = timezone.now()
    old = DBTaskResult.objects.filter(
        status=TaskResultStatus.SUCCESSFUL,
        finished_at__lt=now - timedelta(seconds=settings.TASK_ROWS_KEEP_SECONDS),
    ) | DBTaskResult.objects.filter(
        status=TaskResultStatus.FAILED, finished_at__lt=now - timedelta(days=7)
    )
    pks = list(old.order_by().values_list("pk", flat=True)[:batch])
    if not pks:
        return 0
    return DBTaskResult.objects.filter(pk__in=pks).delete()[0]
