"""Asking "is there anything at all?" for the scheduler at the cost of a database round trip.

An idle scheduler asks every second whether any operation, event, mail, refund or job is live.
Building such a question with the ORM costs far more CPU than the database takes to answer it
(about a millisecond of query compilation against tens of microseconds of an indexed EXISTS), and
with a dozen passes a second that was most of an idle worker's CPU. A question without a time in
it never changes, so its SQL is compiled once per process and only executed afterwards.
"""

from __future__ import annotations

from collections.abc import Callable

from django.db import connections
from django.db.models import QuerySet

_compiled: dict[Callable, tuple[str, str, tuple]] = {}


def rows_exist(queryset: Callable[[], QuerySet]) -> bool:
    """Whether the queryset that `queryset()` builds has a row. It must be a fixed filter (no
    `now`, no argument): its SQL is compiled on the first call and reused, keyed by the
    function, so pass a module-level function, not a fresh lambda."""
    entry = _compiled.get(queryset)
    if entry is None:
        qs = queryset()
        sql, params = qs.query.exists().get_compiler(qs.db).as_sql()
        entry = _compiled[queryset] = (qs.db, sql, tuple(params))
    alias, sql, params = entry
    with connections[alias].cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone() is not None
