"""Asking "is there anything at all?" for the scheduler at the cost of a database round trip.

An idle scheduler asks every second whether any operation, event, mail, refund or job is live.
Building such a question with the ORM costs far more CPU than the database takes to answer it
(about a millisecond of query compilation against tens of microseconds of an indexed EXISTS), and
with a dozen passes a second that was most of an idle worker's CPU. A question without a time in
it never changes, so its SQL is compiled once per process and only executed afterwards.

A question with the time in it ("an active line past its expiry", "a panel whose check is
due") is compiled once too (`rows_exist_at`): the query is built for two instants, the
parameters that moved with the instant are the times, and each call only puts the current time
in their place. Where that cannot be proven exact (a parameter that is not a plain datetime,
SQL that changes with the instant) the question is asked through the ORM every time instead.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from datetime import UTC, datetime, timedelta

from django.db import connections
from django.db.models import QuerySet
from django.utils.dateparse import parse_datetime

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


# Two instants far from any real one and from each other, so no fixed parameter equals either.
_PROBE_A = datetime(2001, 2, 3, 4, 5, 6, 789012, tzinfo=UTC)
_PROBE_B = datetime(2011, 12, 13, 14, 15, 16, 171819, tzinfo=UTC)


class _Timed:
    """One question's SQL with, for each parameter that is a time, its offset from `now`."""

    __slots__ = ("alias", "sql", "params", "offsets")

    def __init__(self, alias: str, sql: str, params: tuple, offsets: dict[int, timedelta]):
        self.alias, self.sql, self.params, self.offsets = alias, sql, params, offsets


_timed: dict[tuple, _Timed | None] = {}


def rows_exist_at(queryset: Callable[..., QuerySet], now: datetime, *args: Hashable) -> bool:
    """Whether `queryset(now, *args)` has a row, for a builder whose only changing input is
    `now` (times in it are `now` plus or minus a span that `args` fix). Keyed by the builder
    and `args`: pass a module-level function and the settings it depends on as `args`."""
    key = (queryset, args)
    if key not in _timed:
        _timed[key] = _timed_compile(queryset, args)
    entry = _timed[key]
    if entry is None:
        return queryset(now, *args).exists()
    ops = connections[entry.alias].ops
    params = list(entry.params)
    for index, offset in entry.offsets.items():
        params[index] = ops.adapt_datetimefield_value(now + offset)
    with connections[entry.alias].cursor() as cursor:
        cursor.execute(entry.sql, params)
        return cursor.fetchone() is not None


def _exists_sql(qs: QuerySet) -> tuple[str, list]:
    sql, params = qs.query.exists().get_compiler(qs.db).as_sql()
    return sql, list(params)


def _as_datetime(value) -> datetime | None:
    """A compiled parameter read back as the aware datetime it was adapted from, or None."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str):
        moment = parse_datetime(value)
        if moment is None:
            return None
    else:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _timed_compile(queryset: Callable[..., QuerySet], args: tuple) -> _Timed | None:
    qs_a, qs_b = queryset(_PROBE_A, *args), queryset(_PROBE_B, *args)
    (sql_a, params_a), (sql_b, params_b) = _exists_sql(qs_a), _exists_sql(qs_b)
    if qs_a.db != qs_b.db or sql_a != sql_b or len(params_a) != len(params_b):
        return None
    ops = connections[qs_a.db].ops
    offsets: dict[int, timedelta] = {}
    for index, (a, b) in enumerate(zip(params_a, params_b, strict=True)):
        if a == b:
            continue
        moment_a, moment_b = _as_datetime(a), _as_datetime(b)
        if moment_a is None or moment_b is None:
            return None  # something other than a time moved with the instant
        offset = moment_a - _PROBE_A
        # Proven, not assumed: the offset must give back both compiled values exactly.
        if moment_b - _PROBE_B != offset:
            return None
        if ops.adapt_datetimefield_value(_PROBE_A + offset) != a:
            return None
        if ops.adapt_datetimefield_value(_PROBE_B + offset) != b:
            return None
        offsets[index] = offset
    return _Timed(qs_a.db, sql_a, tuple(params_a), offsets)
