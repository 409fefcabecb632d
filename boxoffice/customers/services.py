"""Customer accounts: who owns an address, the customer-only portal login, single-use sign-in
links.

The rule that keeps accounts safe: an account belongs to whoever controls its e-mail address.
Checkout never sets a password; a returning address must sign in (or use a link sent to it)
before it can order again; and a customer's login is a user of its own, never found by e-mail
among the staff, so no checkout or link can ever attach a customer to an operator's account.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser, User
from django.core import signing
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.crypto import salted_hmac
from django.utils.functional import lazy
from django.utils.translation import ngettext

from boxoffice.audit.services import audit_record
from boxoffice.customers.models import Customer, SignInLink

CUSTOMER_USERNAME_PREFIX = "customer-"


class CustomerExists(Exception):
    """The address already has an account: whoever orders with it must sign in first."""


class SignInLinkInvalid(Exception):
    """The link was forged, mangled, used, replaced by a newer one or expired."""

    def __init__(self, message: str, *, expired: bool = False):
        super().__init__(message)
        self.expired = expired


def email_normalise(email: str) -> str:
    return (email or "").strip().lower()


def customer_find(*, email: str) -> Customer | None:
    return Customer.objects.select_related("user").filter(email=email_normalise(email)).first()


def customer_create(*, email: str, name: str = "", country: str = "", locale: str = "") -> Customer:
    """A new, passwordless, unverified account for an address nobody has used here yet. Raises
    CustomerExists if the address is taken (also when two checkouts race for it)."""
    email = email_normalise(email)
    if Customer.objects.filter(email=email).exists():
        raise CustomerExists(email)
    try:
        with transaction.atomic():
            customer = Customer.objects.create(
                email=email, name=name, country=country, locale=locale or settings.LANGUAGE_CODE
            )
    except IntegrityError as exc:
        raise CustomerExists(email) from exc
    audit_record(subject=customer, action="customer.created")
    return customer


def customer_language_set(*, customer: Customer, language: str) -> None:
    """The language the customer's mails are written in from now on (chosen at checkout)."""
    if language in dict(settings.LANGUAGES) and customer.locale != language:
        customer.locale = language
        customer.save(update_fields=["locale"])


def customer_is_portal_user(user: User | AnonymousUser | None) -> bool:
    """A signed-in customer login: active, not staff, and attached to a customer."""
    if user is None or not user.is_authenticated or not user.is_active:
        return False
    if user.is_staff or user.is_superuser:
        return False
    return Customer.objects.filter(user=user).exists()


def customer_for_user(user: User | AnonymousUser | None) -> Customer | None:
    if user is None or user.pk is None or not customer_is_portal_user(user):
        return None
    return Customer.objects.get(user_id=user.pk)


def customer_portal_user(*, customer: Customer) -> User:
    """The customer's own login, created with no usable password the first time. Its username
    is not the e-mail address, so it can never be confused with a staff user's."""
    if customer.user is not None:
        return customer.user
    user_model = get_user_model()
    # No savepoint inside a caller's transaction (nothing here is expected to fail and be
    # carried on from): a failure fails the caller's whole transaction, as it should.
    with transaction.atomic(savepoint=False):
        locked = Customer.objects.select_for_update().get(pk=customer.pk)
        if locked.user_id is None:
            user = user_model(
                username=f"{CUSTOMER_USERNAME_PREFIX}{uuid.uuid4().hex}", email=locked.email
            )
            user.set_unusable_password()
            user.save()
            locked.user = user
            locked.save(update_fields=["user"])
    assert locked.user is not None  # set above, or by the caller that held the lock first
    customer.user = locked.user
    return locked.user


def customer_change_email(*, customer: Customer, email: str, actor: str) -> None:
    """A new address for the account (an operator fixing a typo): the login follows it, and
    every link sent to the old address stops working (Django's reset tokens hash user.email)."""
    email = email_normalise(email)
    with transaction.atomic():
        old = Customer.objects.select_for_update().get(pk=customer.pk).email
        if old == email:
            return
        Customer.objects.filter(pk=customer.pk).update(email=email, email_verified_at=None)
        if customer.user_id:
            get_user_model().objects.filter(pk=customer.user_id).update(email=email)
        sign_in_links_revoke(customer=customer)
        audit_record(
            subject=customer, action="customer.email_changed", actor=actor, data={"from": old}
        )
    customer.email, customer.email_verified_at = email, None


def customer_mark_verified(*, customer: Customer) -> None:
    """Someone used a link sent to the address: they control it."""
    now = timezone.now()
    if Customer.objects.filter(pk=customer.pk, email_verified_at=None).update(
        email_verified_at=now
    ):
        customer.email_verified_at = now
        audit_record(subject=customer, action="customer.email_verified")


# --- Sign-in links ------------------------------------------------------------------------------


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _password_fingerprint(user: AbstractBaseUser | None, email: str) -> str:
    # A password change, or a change of the account's address, makes older links stale.
    return salted_hmac(
        "boxoffice.sign-in-link", f"{user.password if user else ''}|{email}", algorithm="sha256"
    ).hexdigest()


def sign_in_link_lifetime(purpose: str) -> timedelta:
    if purpose == SignInLink.Purpose.WELCOME:
        return timedelta(days=settings.SIGN_IN_WELCOME_LINK_DAYS)
    return timedelta(minutes=settings.SIGN_IN_LINK_MINUTES)


def _lifetime_in_words(purpose: str) -> str:
    if purpose == SignInLink.Purpose.WELCOME:
        days = settings.SIGN_IN_WELCOME_LINK_DAYS
        return ngettext("%(count)d day", "%(count)d days", days) % {"count": days}
    return _minutes_in_words(settings.SIGN_IN_LINK_MINUTES)


def _minutes_in_words(minutes: int) -> str:
    return ngettext("%(count)d minute", "%(count)d minutes", minutes) % {"count": minutes}


minutes_in_words = lazy(_minutes_in_words, str)


# "30 minutes", "7 days": how long a new link of this purpose works; lazy, so a mail words it
# in its reader's language.
lifetime_in_words = lazy(_lifetime_in_words, str)


def safe_next_path(path: str | None) -> str:
    """A path on this site to land on after signing in; anything else becomes the portal."""
    path = (path or "").strip()
    if not path.startswith("/") or path.startswith("//") or "\\" in path or len(path) > 200:
        return ""
    return path


def sign_in_link_issue(*, customer: Customer, purpose: str, next_path: str = "") -> str:
    """A fresh single-use link for the customer (its URL); every older live link stops working."""
    user = customer_portal_user(customer=customer)
    token = secrets.token_urlsafe(32)
    now = timezone.now()
    with transaction.atomic(savepoint=False):  # as above: no savepoint in a caller's transaction
        SignInLink.objects.filter(customer=customer, used_at=None, revoked_at=None).update(
            revoked_at=now
        )
        SignInLink.objects.create(
            customer=customer,
            purpose=purpose,
            token_hash=_token_hash(token),
            next_path=safe_next_path(next_path),
            password_fingerprint=_password_fingerprint(user, customer.email),
            created_at=now,
            expires_at=now + sign_in_link_lifetime(purpose),
        )
    return f"{settings.SITE_URL}{reverse('portal:magic', args=[token])}"


def sign_in_links_revoke(*, customer: Customer) -> int:
    """Stop every live link of the customer (after a password change, say)."""
    return SignInLink.objects.filter(customer=customer, used_at=None, revoked_at=None).update(
        revoked_at=timezone.now()
    )


_NOT_VALID = "This sign-in link is not valid."


@dataclass(frozen=True)
class SignInLinkUse:
    customer: Customer
    user: User | None
    next_path: str


def _live_link(token: str) -> SignInLink:
    if not token or len(token) > 100:
        raise SignInLinkInvalid(_NOT_VALID)
    link = (
        SignInLink.objects.select_related("customer", "customer__user")
        .filter(token_hash=_token_hash(token))
        .first()
    )
    if link is None:
        raise SignInLinkInvalid(_NOT_VALID)
    if link.used_at is not None:
        raise SignInLinkInvalid("This sign-in link has already been used.", expired=True)
    if link.revoked_at is not None:
        raise SignInLinkInvalid("A newer sign-in link replaced this one.", expired=True)
    if link.expires_at <= timezone.now():
        raise SignInLinkInvalid("This sign-in link has expired.", expired=True)
    user = link.customer.user
    if user is None or not user.is_active or user.is_staff or user.is_superuser:
        raise SignInLinkInvalid(_NOT_VALID)
    if link.password_fingerprint != _password_fingerprint(user, link.customer.email):
        raise SignInLinkInvalid(
            "Your password or e-mail address changed since this link was sent.", expired=True
        )
    return link


def sign_in_link_check(*, token: str) -> SignInLink:
    """The live link a token names, without using it (mail scanners fetch links)."""
    return _live_link(token)


def sign_in_link_use(*, token: str) -> SignInLinkUse:
    """Use a link once: a conditional UPDATE, so two clicks at the same instant sign in once."""
    link = _live_link(token)
    now = timezone.now()
    used = SignInLink.objects.filter(
        pk=link.pk, used_at=None, revoked_at=None, expires_at__gt=now
    ).update(used_at=now)
    if not used:
        raise SignInLinkInvalid("This sign-in link has already been used.", expired=True)
    customer_mark_verified(customer=link.customer)
    audit_record(subject=link.customer, action="customer.signed_in_by_link")
    return SignInLinkUse(customer=link.customer, user=link.customer.user, next_path=link.next_path)


def sign_in_links_purge(*, older_than_days: int = 30) -> int:
    """Forget links that can no longer be used (their hashes are worthless, but rows add up)."""
    cutoff = timezone.now() - timedelta(days=older_than_days)
    deleted, _ = SignInLink.objects.filter(expires_at__lt=cutoff).delete()
    return deleted


# --- unsubscribing from non-transactional mail -------------------------------------------------
# Two categories, each its own choice: `marketing` (win-back, offers) and `onboarding` (the
# welcome sequence). Transactional mail (credentials, receipts, renewal, password and security
# notices) has no category and always goes out.

_UNSUBSCRIBE_SALT = "boxoffice.customers.unsubscribe"
MARKETING = "marketing"
ONBOARDING = "onboarding"
MAIL_CATEGORIES = {
    MARKETING: "unsubscribed_at",
    ONBOARDING: "onboarding_unsubscribed_at",
}


def unsubscribe_token(customer: Customer, category: str = MARKETING) -> str:
    """The key of a customer's unsubscribe link for one category: signed with SECRET_KEY, with
    no expiry (RFC 8058 links must keep working); it can only unsubscribe, never sign in.
    Marketing tokens keep their first form (the customer's pk alone): links already mailed
    keep working."""
    if category not in MAIL_CATEGORIES:
        raise ValueError(f"unknown mail category {category!r}")
    value: int | list = customer.pk if category == MARKETING else [customer.pk, category]
    return signing.dumps(value, salt=_UNSUBSCRIBE_SALT, compress=False)


def unsubscribe_target(token: str) -> tuple[Customer, str] | None:
    """(customer, category) of an unsubscribe token, or None for one that does not verify."""
    try:
        value = signing.loads(token, salt=_UNSUBSCRIBE_SALT)
    except (signing.BadSignature, ValueError, TypeError, UnicodeDecodeError):
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        pk, category = value, MARKETING
    elif (
        isinstance(value, list)
        and len(value) == 2
        and isinstance(value[0], int)
        and value[1] in MAIL_CATEGORIES
    ):
        pk, category = value
    else:
        return None
    customer = Customer.objects.filter(pk=pk).first()
    return (customer, category) if customer is not None else None


def unsubscribe_customer(token: str) -> Customer | None:
    target = unsubscribe_target(token)
    return target[0] if target else None


def customer_is_unsubscribed(customer: Customer, category: str) -> bool:
    return getattr(customer, MAIL_CATEGORIES[category]) is not None


def customer_unsubscribe(*, customer: Customer, how: str, category: str = MARKETING) -> bool:
    """Stop one category of non-transactional mail to this customer; True when it changed
    something."""
    field = MAIL_CATEGORIES[category]
    changed = Customer.objects.filter(pk=customer.pk, **{f"{field}__isnull": True}).update(
        **{field: timezone.now()}
    )
    if changed:
        audit_record(
            subject=customer,
            action="customer.unsubscribed",
            data={"how": how, "category": category},
        )
    customer.refresh_from_db(fields=[field])
    return bool(changed)


def customer_resubscribe(*, customer: Customer, category: str = MARKETING) -> bool:
    field = MAIL_CATEGORIES[category]
    changed = Customer.objects.filter(pk=customer.pk, **{f"{field}__isnull": False}).update(
        **{field: None}
    )
    if changed:
        audit_record(subject=customer, action="customer.resubscribed", data={"category": category})
    customer.refresh_from_db(fields=[field])
    return bool(changed)
