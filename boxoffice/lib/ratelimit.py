"""Rate limits that hold under concurrency: count first, in one atomic statement, then compare.

Check-then-increment lets 40 concurrent guesses all read "4 failures so far" and all try a
password; here every attempt is counted by an `INSERT … ON CONFLICT DO UPDATE … RETURNING` (one
statement, atomic on SQLite ≥ 3.35 and PostgreSQL), and the caller decides on the count that
statement returned. The counters live in the database, so every web process sees the same ones
with no extra service. Windows are fixed: they open with the first hit and last `window` seconds.
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import math
import time
from dataclasses import dataclass

from django.conf import settings
from django.db import connection
from django.db.models import F

from boxoffice.lib.models import RateCounter

logger = logging.getLogger(__name__)

_TABLE = RateCounter._meta.db_table
_UPSERT = f"""
INSERT INTO {_TABLE} (key, count, window_ends) VALUES (%s, 1, %s)
ON CONFLICT (key) DO UPDATE SET
  count = CASE WHEN {_TABLE}.window_ends <= %s THEN 1 ELSE {_TABLE}.count + 1 END,
  window_ends = CASE WHEN {_TABLE}.window_ends <= %s THEN excluded.window_ends
                     ELSE {_TABLE}.window_ends END
RETURNING count, window_ends
"""  # noqa: S608 - the table name is ours; values are parameters


def rate_key(scope: str, value: str) -> str:
    """A short, fixed-size key: addresses and IPs need not sit in the table in clear."""
    digest = hashlib.sha256(value.strip().lower().encode()).hexdigest()[:40]
    return f"{scope}:{digest}"[:100]


@dataclass(frozen=True)
class Hit:
    count: int
    window_ends: float

    def over(self, limit: int) -> bool:
        return self.count > limit

    @property
    def retry_after_seconds(self) -> float:
        return max(1.0, self.window_ends - time.time())

    @property
    def retry_after_minutes(self) -> int:
        return max(1, math.ceil(self.retry_after_seconds / 60))


def rate_hit(*, scope: str, value: str, window: float) -> Hit:
    """Count one event for (scope, value) and return the count in the current window,
    this event included."""
    now = time.time()
    with connection.cursor() as cursor:
        cursor.execute(_UPSERT, [rate_key(scope, value), now + window, now, now])
        count, window_ends = cursor.fetchone()
    return Hit(count=int(count), window_ends=float(window_ends))


def rate_forgive(*, scope: str, value: str) -> None:
    """Take one event back (an attempt that turned out to be legitimate)."""
    RateCounter.objects.filter(key=rate_key(scope, value), count__gt=0).update(count=F("count") - 1)


def rate_clear(*, scope: str, value: str) -> None:
    RateCounter.objects.filter(key=rate_key(scope, value)).delete()


def rate_counters_purge() -> int:
    """Drop counters whose window has closed (the scheduler calls this now and then)."""
    deleted, _ = RateCounter.objects.filter(window_ends__lt=time.time()).delete()
    return deleted


# --- Sign-in attempts -----------------------------------------------------------------------------


def client_ip(request) -> str:
    """The client, as rate limits count it. Behind TRUSTED_PROXY_COUNT proxies, the address the
    nearest of them saw (counted from the right of X-Forwarded-For: what is left of it is the
    client's to write); with no proxy configured, REMOTE_ADDR alone. An IPv6 client counts as its
    /64: one machine is given a whole /64 and could otherwise use a new address per attempt."""
    if request is None:
        return ""
    address = request.META.get("REMOTE_ADDR", "")
    trusted = settings.TRUSTED_PROXY_COUNT
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    if trusted > 0:
        hops = [h.strip() for h in forwarded.split(",") if h.strip()]
        if len(hops) >= trusted:
            address = hops[-trusted]
    elif forwarded:
        _warn_untrusted_proxy_once()
    return client_bucket(address)


def client_bucket(address: str) -> str:
    try:
        ip = ipaddress.ip_address(address.strip())
    except ValueError:
        return address.strip()[:64]
    if ip.version == 4:
        return str(ip)
    if ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)
    return str(ipaddress.ip_network(f"{ip}/64", strict=False))


_warned_about_proxy = False


def _warn_untrusted_proxy_once() -> None:
    # Behind a proxy with TRUSTED_PROXY_COUNT=0 every client shares the proxy's address, so the
    # per-client limits would stop everyone at once: say so (once per process).
    global _warned_about_proxy
    if not _warned_about_proxy:
        _warned_about_proxy = True
        logger.warning(
            "requests carry X-Forwarded-For but TRUSTED_PROXY_COUNT is 0: rate limits count the "
            "proxy's address for every client; set TRUSTED_PROXY_COUNT to the number of proxies"
        )


class SignInThrottled(Exception):
    """Too many attempts; the message says for how long and what else to do."""

    def __init__(self, message: str, *, offer_link: bool):
        super().__init__(message)
        self.offer_link = offer_link


def _minutes(n: int) -> str:
    return "1 minute" if n == 1 else f"{n} minutes"


@dataclass(frozen=True)
class SignInGuard:
    """Limits on password attempts, counted before the password is checked.

    - per client address (any account): one machine cannot guess through many accounts;
    - per account *and* client address: one attacker stops after a few guesses, while the owner,
      from anywhere else, still signs in;
    - per account from everywhere, set high: a botnet spread over many addresses pauses the
      password path for that account, and the owner signs in with a link sent to the address
      (the slower path, never a hard lock-out: see portal/services.py on why a link always
      reaches the owner). Off for the back office, which has no link path.
    """

    scope: str  # "portal" | "admin"
    email: str
    ip: str
    # The per-account limit pauses passwords in favour of an e-mailed link; where there is no
    # link (the back office), it would let anyone lock the operator out, so it is off there.
    per_account: bool = True

    def _hit(self, what: str, value: str) -> Hit:
        return rate_hit(
            scope=f"signin:{self.scope}:{what}",
            value=value,
            window=settings.SIGN_IN_LIMITS["WINDOW_SECONDS"],
        )

    def enter(self) -> None:
        """Count this attempt; raise SignInThrottled if it is one too many."""
        limits = settings.SIGN_IN_LIMITS
        hit = self._hit("ip", self.ip)
        if hit.over(limits["PER_IP"]):
            raise SignInThrottled(
                "Too many sign-in attempts from your network. "
                f"Try again in {_minutes(hit.retry_after_minutes)}.",
                offer_link=False,
            )
        hit = self._hit("pair", f"{self.email}|{self.ip}")
        if hit.over(limits["PER_ADDRESS_AND_IP"]):
            raise SignInThrottled(
                f"Too many attempts. Try again in {_minutes(hit.retry_after_minutes)}, "
                "or have a sign-in link e-mailed to you.",
                offer_link=True,
            )
        if not self.per_account:
            return
        hit = self._hit("address", self.email)
        if hit.over(limits["PER_ADDRESS"]):
            raise SignInThrottled(
                "After many failed attempts from many places, signing in with a password is "
                "paused for this address for a while. Have a sign-in link e-mailed to you: it "
                "works straight away.",
                offer_link=True,
            )

    def succeeded(self) -> None:
        """The right password: this attempt was not a guess, so it does not count."""
        rate_clear(scope=f"signin:{self.scope}:pair", value=f"{self.email}|{self.ip}")
        rate_forgive(scope=f"signin:{self.scope}:ip", value=self.ip)
        if self.per_account:
            rate_forgive(scope=f"signin:{self.scope}:address", value=self.email)
