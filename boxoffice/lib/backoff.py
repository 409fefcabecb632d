"""Exponential backoff with jitter, the one formula every retry loop uses."""

from __future__ import annotations

import random
from collections.abc import Mapping


def backoff_delay(attempts: int, policy: Mapping[str, float]) -> float:
    """Seconds before the next attempt: RETRY_BASE_SECONDS * 2**(attempts-1), capped at
    RETRY_CAP_SECONDS, spread by +/- RETRY_JITTER (a fraction) against thundering herds."""
    cap = policy["RETRY_CAP_SECONDS"]
    base = min(cap, policy["RETRY_BASE_SECONDS"] * (2 ** max(attempts - 1, 0)))
    jitter = policy["RETRY_JITTER"]
    return min(cap, base * random.uniform(1 - jitter, 1 + jitter))
