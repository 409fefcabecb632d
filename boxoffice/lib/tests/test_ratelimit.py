"""The shared rate counter: one atomic statement counts and returns; windows close and reopen."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.db import connection

from boxoffice.lib.models import RateCounter
from boxoffice.lib.ratelimit import (
    client_bucket,
    rate_clear,
    rate_counters_purge,
    rate_forgive,
    rate_hit,
)

START = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.mark.django_db
def test_it_counts_hits_in_a_window_and_keeps_no_plain_key():
    with time_machine.travel(START, tick=False):
        counts = [rate_hit(scope="t", value="Jane@Example.test", window=60).count for _ in range(3)]
        other = rate_hit(scope="t", value="someone@example.test", window=60)

    assert counts == [1, 2, 3] and other.count == 1
    assert not RateCounter.objects.filter(key__icontains="example").exists()


@pytest.mark.django_db
def test_it_treats_case_and_spaces_as_the_same_value():
    rate_hit(scope="t", value="Jane@Example.test", window=60)

    assert rate_hit(scope="t", value="  jane@example.TEST ", window=60).count == 2


@pytest.mark.django_db
def test_it_starts_a_new_window_when_the_old_one_closes():
    with time_machine.travel(START, tick=False) as traveller:
        for _ in range(4):
            rate_hit(scope="t", value="x", window=60)
        traveller.shift(timedelta(seconds=59))
        assert rate_hit(scope="t", value="x", window=60).count == 5
        traveller.shift(timedelta(seconds=2))

        hit = rate_hit(scope="t", value="x", window=60)

    assert hit.count == 1 and hit.retry_after_minutes == 1


@pytest.mark.django_db
def test_it_forgives_one_hit_and_clears_all():
    for _ in range(3):
        rate_hit(scope="t", value="x", window=60)
    rate_forgive(scope="t", value="x")
    assert rate_hit(scope="t", value="x", window=60).count == 3

    rate_clear(scope="t", value="x")

    assert rate_hit(scope="t", value="x", window=60).count == 1


@pytest.mark.django_db
def test_it_purges_only_closed_windows():
    with time_machine.travel(START, tick=False) as traveller:
        rate_hit(scope="t", value="old", window=60)
        traveller.shift(timedelta(seconds=61))
        rate_hit(scope="t", value="new", window=60)

        assert rate_counters_purge() == 1

    assert RateCounter.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_it_gives_every_concurrent_hit_its_own_count():
    start = threading.Barrier(20)
    seen: list[int] = []
    lock = threading.Lock()

    def hit() -> None:
        try:
            start.wait()
            count = rate_hit(scope="t", value="race", window=60).count
            with lock:
                seen.append(count)
        finally:
            connection.close()

    threads = [threading.Thread(target=hit) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert sorted(seen) == list(range(1, 21))


@pytest.mark.parametrize(
    ("address", "bucket"),
    [
        ("203.0.113.7", "203.0.113.7"),
        ("2001:db8:1:2:aaaa::1", "2001:db8:1:2::/64"),
        ("2001:db8:1:2:ffff:1:2:3", "2001:db8:1:2::/64"),
        ("::ffff:203.0.113.7", "203.0.113.7"),
        ("not an address", "not an address"),
    ],
)
def test_it_counts_an_ipv6_client_as_its_64(address, bucket):
    assert client_bucket(address) == bucket
