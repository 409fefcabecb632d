"""PHP's strtotime('+N months', base) in UTC, as the panel computes a package's expiry: the
month moves, the day and time stay, and a day the month lacks rolls over (Jan 31 + 1 = Mar 3)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


def plus_months(base: datetime, months: int) -> datetime:
    base = base.astimezone(UTC)
    index = base.year * 12 + base.month - 1 + months
    year, month = divmod(index, 12)
    first = base.replace(year=year, month=month + 1, day=1)
    return first + timedelta(days=base.day - 1)


def plus_months_unix(seconds: int, months: int) -> int:
    return int(plus_months(datetime.fromtimestamp(seconds, tz=UTC), months).timestamp())
