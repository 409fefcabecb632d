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

from django.core.exceptions import EmptyResultSet, FullResultSet, ValidationError
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
        sql, params = _exists_sql(qs)
        entry = _compiled[queryset] = (qs.db, sql, tuple(params))
    alias, sql, params = entry
    with connections[alias].cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone() is not None


# Probe values: far from any real one and from each other, so no fixed parameter equals any.
_PROBE_A = datetime(2001, 2, 3, 4, 5, 6, 789012, tzinfo=UTC)
_PROBE_B = datetime(2011, 12, 13, 14, 15, 16, 171819, tzinfo=UTC)


def _probes(kinds: tuple[type, ...], which: int) -> tuple | None:
    """Distinct stand-ins for the moving values (None: a kind that cannot be probed). The two
    sets are spaced differently, so no argument's probes are another's plus a fixed offset;
    ints are small enough for any integer column (a probe past a column's range would make
    Django drop the condition)."""
    values: list = []
    for n, kind in enumerate(kinds):
        if kind is datetime:
            if which == 0:
                values.append(_PROBE_A + timedelta(days=n))
            else:
                values.append(_PROBE_B + n * timedelta(days=7, seconds=13))
        elif kind is int:
            values.append(20_011 + n if which == 0 else 27_103 + 7 * n)
        elif kind is str:
            # Mixed case, LIKE's wildcards and escape, a quote and spaces around: a lookup
            # that changes its value in any way (escapes it for LIKE, folds its case, strips
            # it) is seen to, and is then asked through the ORM.
            values.append(f" Pr%_\\'{which}:{n} ")
        else:
            return None  # None, booleans, instances: asked through the ORM
    return tuple(values)


def _substitutable(moving: tuple) -> bool:
    """Times only as `timezone.now()` gives them (aware, UTC): a naive time means the current
    time zone to the ORM, and a local one carries a DST fold that arithmetic drops."""
    return all(not isinstance(v, datetime) or v.tzinfo is UTC for v in moving)


class _Timed:
    """One question's SQL and, for each parameter that stands for a moving value, where it
    comes from: (the value's position, its offset when it is a time; None otherwise)."""

    __slots__ = ("alias", "sql", "params", "slots")

    def __init__(self, alias: str, sql: str, params: tuple, slots: dict[int, tuple]):
        self.alias, self.sql, self.params, self.slots = alias, sql, params, slots


_timed: dict[tuple, _Timed | None] = {}


def rows_exist_with(
    queryset: Callable[..., QuerySet], moving: tuple, fixed: tuple[Hashable, ...] = ()
) -> bool:
    """Whether `queryset(*moving, *fixed)` has a row, its SQL compiled once per kind of call.
    `moving` are the values that change from call to call (ids, keys, `now`: ints, strings
    and datetimes, used as they are or, for a time, plus or minus a span); `fixed` the settings
    it depends on (part of the cache key). Pass a module-level function."""
    kinds = tuple(type(value) for value in moving)
    key = (queryset, kinds, fixed)
    if key not in _timed:
        _timed[key] = _timed_compile(queryset, kinds, fixed)
    entry = _timed[key]
    if entry is None or not _substitutable(moving):
        return queryset(*moving, *fixed).exists()
    ops = connections[entry.alias].ops
    params = list(entry.params)
    for index, (position, offset) in entry.slots.items():
        value = moving[position]
        params[index] = value if offset is None else ops.adapt_datetimefield_value(value + offset)
    with connections[entry.alias].cursor() as cursor:
        cursor.execute(entry.sql, params)
        return cursor.fetchone() is not None


def rows_exist_at(queryset: Callable[..., QuerySet], now: datetime, *args: Hashable) -> bool:
    """`rows_exist_with` for a question whose only moving value is `now` (times in it are
    `now` plus or minus a span that `args` fix): "an active line past its expiry"."""
    return rows_exist_with(queryset, (now,), args)


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


def _slot_for(a, b, probes_a: tuple, probes_b: tuple, adapt) -> tuple | None:
    """Which moving value a parameter that moved stands for, proven on both probes and by
    exactly one of them (None otherwise)."""
    found = []
    for position, (pa, pb) in enumerate(zip(probes_a, probes_b, strict=True)):
        if isinstance(pa, datetime):
            moment_a, moment_b = _as_datetime(a), _as_datetime(b)
            if moment_a is None or moment_b is None:
                continue
            offset = moment_a - pa
            if moment_b - pb == offset and adapt(pa + offset) == a and adapt(pb + offset) == b:
                found.append((position, offset))
        elif type(a) is type(pa) and a == pa and b == pb:
            found.append((position, None))
    return found[0] if len(found) == 1 else None


# What a builder may raise for a probe that the real values never meet (a string for an
# integer column, a condition Django proves empty): the question is then asked through the ORM.
_COMPILE_ERRORS = (
    EmptyResultSet,
    FullResultSet,
    ValueError,
    ValidationError,
    TypeError,
    OverflowError,
)


def _timed_compile(
    queryset: Callable[..., QuerySet], kinds: tuple[type, ...], fixed: tuple
) -> _Timed | None:
    probes_a, probes_b = _probes(kinds, 0), _probes(kinds, 1)
    if probes_a is None or probes_b is None:
        return None
    try:
        qs_a, qs_b = queryset(*probes_a, *fixed), queryset(*probes_b, *fixed)
        (sql_a, params_a), (sql_b, params_b) = _exists_sql(qs_a), _exists_sql(qs_b)
    except _COMPILE_ERRORS:
        return None
    if qs_a.db != qs_b.db or sql_a != sql_b or len(params_a) != len(params_b):
        return None  # the values change the SQL itself (a slice, an IN list): not this way
    adapt = connections[qs_a.db].ops.adapt_datetimefield_value
    slots: dict[int, tuple] = {}
    for index, (a, b) in enumerate(zip(params_a, params_b, strict=True)):
        if a == b:
            continue
        slot = _slot_for(a, b, probes_a, probes_b, adapt)
        if slot is None:
            return None  # something moved that is not a value as it was given
        slots[index] = slot
    if {position for position, _ in slots.values()} != set(range(len(kinds))):
        return None  # a value that left no parameter (a condition Django dropped): not proven
    return _Timed(qs_a.db, sql_a, tuple(params_a), slots)
