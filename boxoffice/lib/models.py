"""lib holds no domain models; its one table is the rate counter every app's limits share, because
a limit must hold across every web process and under concurrency (see lib/ratelimit.py)."""

from __future__ import annotations

from django.db import models


class RateCounter(models.Model):
    """Events counted for one key (e.g. failed sign-ins for an address) in a fixed window."""

    key = models.CharField(max_length=100, primary_key=True)
    count = models.PositiveIntegerField(default=0)
    # Unix seconds: compared inside one SQL statement on SQLite and PostgreSQL alike.
    window_ends = models.FloatField(db_index=True)

    def __str__(self) -> str:
        return f"{self.key}: {self.count}"
