"""`rows_exist_at`: a question with the time in it, compiled once, must answer exactly what the
ORM answers for every instant, and fall back to the ORM where the substitution is not proven."""

from __future__ import annotations

import warnings
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from boxoffice.catalog.models import Plan
from boxoffice.lib import exists
from boxoffice.lib.exists import rows_exist_at, rows_exist_with
from boxoffice.provisioning.models import Line


def _line(panel, plan, customer, username: str, **fields) -> Line:
    return Line.objects.create(
        customer=customer,
        plan=plan,
        panel=panel,
        username=username,
        password="pw12345678",
        **fields,
    )


def _expiring_within(now, span: timedelta):
    """Active lines whose expiry falls in (now, now + span]: two times, one fixed status."""
    return Line.objects.filter(
        status=Line.Status.ACTIVE, expires_at__gt=now, expires_at__lte=now + span
    )


def _by_username_at(now):
    # Not a time that moves with the instant: a string built from it.
    return Line.objects.filter(username=f"u{now:%Y%m%d%H%M%S%f}")


@pytest.mark.django_db
def test_it_answers_as_the_orm_for_every_instant(panel, plan, customer):
    base = timezone.now().replace(microsecond=123456)
    for n, hours in enumerate((1, 5, 48)):
        _line(
            panel,
            plan,
            customer,
            f"line{n:04d}",
            status="active",
            expires_at=base + timedelta(hours=hours),
        )
    span = timedelta(hours=2)
    # Around each expiry, to the microsecond, on both sides of both bounds.
    instants = [
        base + timedelta(hours=h, microseconds=d)
        for h in (-3, -1, 0, 3, 4, 46, 47, 48)
        for d in (-1, 0, 1)
    ]

    answers = [(rows_exist_at(_expiring_within, now, span), now) for now in instants]

    expected = [(_expiring_within(now, span).exists(), now) for now in instants]
    assert answers == expected
    assert {answer for answer, _ in answers} == {True, False}


@pytest.mark.django_db
def test_its_sql_is_compiled_once_and_only_executed_afterwards(panel, plan, customer):
    now = timezone.now()
    rows_exist_at(_expiring_within, now, timedelta(hours=1))
    entry = exists._timed[(_expiring_within, (type(now),), (timedelta(hours=1),))]

    with CaptureQueriesContext(connection) as ctx:
        rows_exist_at(_expiring_within, now + timedelta(minutes=5), timedelta(hours=1))

    assert entry is not None and len(entry.slots) == 2
    assert [q["sql"].split(" FROM ")[0] for q in ctx.captured_queries] == ['SELECT 1 AS "a"']


@pytest.mark.django_db
def test_a_builder_whose_other_parameters_move_falls_back_to_the_orm(panel, plan, customer):
    now = timezone.now()
    _line(panel, plan, customer, f"u{now:%Y%m%d%H%M%S%f}")

    assert rows_exist_at(_by_username_at, now) is True
    assert rows_exist_at(_by_username_at, now + timedelta(seconds=1)) is False
    assert exists._timed[(_by_username_at, (type(now),), ())] is None


def _lines_named_on(panel_id: int, username: str, other_than: int):
    return Line.objects.filter(panel_id=panel_id, username=username).exclude(pk=other_than)


def _lines_named_like(username: str):
    return Line.objects.filter(username__iexact=username)  # the value is changed: LIKE / LOWER


@pytest.mark.django_db
def test_ids_and_strings_are_substituted_and_answer_as_the_orm(panel, plan, customer):
    lines = [_line(panel, plan, customer, name) for name in ("alpha001", "beta0001")]
    cases = [
        (panel.pk, "alpha001", 0),
        (panel.pk, "alpha001", lines[0].pk),
        (panel.pk, "beta0001", lines[0].pk),
        (panel.pk + 1, "beta0001", 0),
        (panel.pk, "gamma001", 0),
        (panel.pk, "alpha001' OR '1'='1", 0),  # a value, never SQL
    ]

    answers = [rows_exist_with(_lines_named_on, case) for case in cases]

    assert answers == [_lines_named_on(*case).exists() for case in cases]
    assert answers == [True, False, True, False, False, False]
    assert len(exists._timed[(_lines_named_on, (int, str, int), ())].slots) == 3


@pytest.mark.django_db
def test_a_value_the_lookup_transforms_or_a_none_is_asked_through_the_orm(panel, plan, customer):
    _line(panel, plan, customer, "Delta001")

    assert rows_exist_with(_lines_named_like, ("delta001",)) is True
    assert rows_exist_with(_lines_named_like, ("delta002",)) is False
    # LIKE's wildcard in a value is a character, not a pattern (SQLite escapes it).
    assert rows_exist_with(_lines_named_like, ("delta_01",)) is False
    assert rows_exist_with(_lines_named_like, ("%",)) is False
    assert rows_exist_with(_lines_named_on, (panel.pk, None, 0)) is False
    # Where the substitution was not proven exact, no compiled SQL is kept for it.
    if connection.vendor == "sqlite":  # PostgreSQL's UPPER(%s) keeps the value as given
        assert exists._timed[(_lines_named_like, (str,), ())] is None
    assert exists._timed[(_lines_named_on, (int, type(None), int), ())] is None


# Found in review: each once answered differently from the ORM.


def _window(start, end):
    return Line.objects.filter(status="active", expires_at__gte=start, expires_at__lt=end)


def _pk_after(cursor: int, other: int):
    return Line.objects.filter(pk=cursor + 1).exclude(pk=other)


def _plans_other_than(days: int):
    return Plan.objects.exclude(duration_days=days)


@pytest.mark.django_db
def test_two_moving_times_or_ids_are_told_apart(panel, plan, customer):
    base = datetime(2030, 1, 1, tzinfo=UTC)
    line = _line(
        panel,
        plan,
        customer,
        "window01",
        status="active",
        expires_at=base + timedelta(hours=2),
    )
    windows = [(base, base + timedelta(hours=h)) for h in (1, 2, 3, 30)]
    ids = [(line.pk - 1, 0), (line.pk - 1, line.pk), (line.pk, 0)]

    assert [rows_exist_with(_window, w) for w in windows] == [_window(*w).exists() for w in windows]
    assert [rows_exist_with(_pk_after, i) for i in ids] == [_pk_after(*i).exists() for i in ids]
    assert [rows_exist_with(_window, w) for w in windows] == [False, False, True, True]


@pytest.mark.django_db
def test_a_time_that_is_not_utc_is_asked_through_the_orm(panel, plan, customer, settings):
    settings.TIME_ZONE = "Europe/Berlin"
    expiry = datetime(2030, 6, 1, 10, 30, tzinfo=UTC)
    _line(panel, plan, customer, "berlin01", status="active", expires_at=expiry)
    rows_exist_at(_lines_active_before, expiry)  # the UTC entry compiled
    naive = datetime(2030, 6, 1, 12, 0)  # 10:00 UTC in Berlin: before the expiry
    local = datetime(2030, 6, 1, 12, 0, tzinfo=ZoneInfo("Europe/Berlin"))

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # the ORM's naive-datetime warning
        assert rows_exist_at(_lines_active_before, naive) is False
        assert _lines_active_before(naive).exists() is False
    assert rows_exist_at(_lines_active_before, local) is False


def _lines_active_before(now):
    return Line.objects.filter(status="active", expires_at__lt=now)


@pytest.mark.django_db
def test_a_value_the_column_cannot_take_is_asked_through_the_orm(plan):
    assert rows_exist_with(_plans_other_than, (30,)) == _plans_other_than(30).exists()
    assert rows_exist_with(_plans_other_than, (plan.duration_days,)) is False
    assert rows_exist_with(_lines_named_on, (plan.pk, "x", 0)) is False
    with pytest.raises(ValueError):
        rows_exist_with(_lines_named_on, ("not-an-id", "x", 0))
