"""Customer portal writes: magic sign-in links, portal users and the login rate limit."""

from __future__ import annotations

import hashlib
import logging
import math
import time
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.core import signing
from django.core.cache import cache
from django.db import transaction

from boxoffice.customers.models import Customer

logger = logging.getLogger(__name__)

MAGIC_LINK_SALT = "portal.magic"


class MagicLinkInvalid(Exception):
    """The link was forged, mangled, expired or names no customer who may sign in."""

    def __init__(self, message: str, *, expired: bool = False):
        super().__init__(message)
        self.expired = expired


def portal_magic_link_max_age_days() -> int:
    return int(getattr(settings, "PORTAL_MAGIC_LINK_MAX_AGE_DAYS", 7))


def _magic_signer() -> signing.TimestampSigner:
    return signing.TimestampSigner(salt=MAGIC_LINK_SALT)


def portal_magic_link_url(customer: Customer) -> str:
    """A link that signs the customer in (after one click on a button) for the next few days."""
    token = _magic_signer().sign(str(customer.pk))
    return f"{settings.SITE_URL}/portal/magic/{token}/"


def portal_magic_link_customer(*, token: str) -> Customer:
    """The customer a magic-link token names; raises MagicLinkInvalid otherwise."""
    max_age = portal_magic_link_max_age_days() * 86400
    try:
        customer_id = _magic_signer().unsign(token, max_age=max_age)
    except signing.SignatureExpired as exc:
        raise MagicLinkInvalid("This sign-in link has expired.", expired=True) from exc
    except signing.BadSignature as exc:
        raise MagicLinkInvalid("This sign-in link is not valid.") from exc
    customer = Customer.objects.select_related("user").filter(pk=customer_id).first()
    if customer is None or (customer.user is not None and not customer.user.is_active):
        raise MagicLinkInvalid("This sign-in link is not valid.")
    return customer


def portal_user_for_customer(*, customer: Customer) -> AbstractBaseUser:
    """The customer's portal user, created (with no usable password) if they have none yet."""
    if customer.user_id:
        return customer.user
    User = get_user_model()  # noqa: N806
    username = customer.email.strip().lower()
    with transaction.atomic():
        user = User.objects.filter(username=username).first()
        if user is None:
            user = User(username=username, email=username)
            user.set_unusable_password()
            user.save()
        elif user.is_staff or user.is_superuser or _user_has_customer(user):
            # Never hand an operator's (or another customer's) account to a magic link.
            raise MagicLinkInvalid(
                "This account cannot sign in with a link; please contact support."
            )
        customer.user = user
        customer.save(update_fields=["user"])
    return user


def _user_has_customer(user: AbstractBaseUser) -> bool:
    return Customer.objects.filter(user=user).exists()


def portal_magic_link_request(*, email: str) -> bool:
    """E-mail a fresh sign-in link if a customer has this address. Returns whether one was sent;
    callers must not tell the visitor, so addresses cannot be enumerated."""
    from boxoffice.messaging.emails import magic_link_email_send

    email = email.strip().lower()
    customer = Customer.objects.filter(email__iexact=email).first()
    if customer is None:
        return False
    # Each request sends mail to a real inbox: cap it so the form cannot be used to flood one.
    if throttle_blocked_for(scope="magic:email", key=email, limit=MAGIC_REQUESTS_PER_EMAIL):
        logger.info("magic link request for customer %s throttled", customer.pk)
        return False
    throttle_hit(scope="magic:email", key=email)
    magic_link_email_send(
        customer=customer,
        url=portal_magic_link_url(customer),
        max_age_days=portal_magic_link_max_age_days(),
    )
    return True


# --- Rate limits ------------------------------------------------------------------------------
# Counted in Django's cache (LocMem in one process, Redis across many). A window opens with the
# first hit and lasts WINDOW_SECONDS; it is not sliding, which is enough to stop guessing.

WINDOW_SECONDS = 15 * 60
LOGIN_FAILURES_PER_EMAIL = 5
LOGIN_FAILURES_PER_IP = 20
MAGIC_REQUESTS_PER_EMAIL = 5


def _throttle_keys(scope: str, key: str) -> tuple[str, str]:
    # Hashed: cache keys must be short and plain, and e-mail addresses need not sit in Redis.
    digest = hashlib.sha256(key.strip().lower().encode()).hexdigest()[:32]
    return f"portal:throttle:{scope}:{digest}:n", f"portal:throttle:{scope}:{digest}:t"


def throttle_hit(*, scope: str, key: str) -> int:
    """Count one event; returns the count in the current window."""
    count_key, started_key = _throttle_keys(scope, key)
    cache.add(started_key, time.time(), WINDOW_SECONDS)
    cache.add(count_key, 0, WINDOW_SECONDS)
    try:
        return cache.incr(count_key)
    except ValueError:  # expired between add and incr
        cache.set(count_key, 1, WINDOW_SECONDS)
        return 1


def throttle_blocked_for(*, scope: str, key: str, limit: int) -> float:
    """Seconds until the window closes if `limit` events were counted in it, else 0."""
    count_key, started_key = _throttle_keys(scope, key)
    if (cache.get(count_key) or 0) < limit:
        return 0.0
    started = cache.get(started_key)
    if started is None:
        return float(WINDOW_SECONDS)
    return max(1.0, started + WINDOW_SECONDS - time.time())


def throttle_clear(*, scope: str, key: str) -> None:
    cache.delete_many(list(_throttle_keys(scope, key)))


@dataclass(frozen=True)
class LoginThrottle:
    """The login rate limit for one attempt: failures per e-mail and per client address."""

    email: str
    ip: str

    def blocked_minutes(self) -> int:
        """Minutes to wait (rounded up) if either limit is reached, else 0."""
        wait = max(
            throttle_blocked_for(
                scope="login:email", key=self.email, limit=LOGIN_FAILURES_PER_EMAIL
            ),
            throttle_blocked_for(scope="login:ip", key=self.ip, limit=LOGIN_FAILURES_PER_IP),
        )
        return math.ceil(wait / 60) if wait else 0

    def record_failure(self) -> None:
        throttle_hit(scope="login:email", key=self.email)
        throttle_hit(scope="login:ip", key=self.ip)

    def record_success(self) -> None:
        # The address's count is forgiven; the IP's is not (one client guessing many accounts).
        throttle_clear(scope="login:email", key=self.email)
