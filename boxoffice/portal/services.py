"""Customer portal writes: sign-in links and password resets asked for on the portal's pages.

Both run in a task, so the page answers in the same time whether or not the address has an
account, and say the same thing either way: nobody can find out who is a customer here.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.contrib.auth.tokens import default_token_generator
from django.urls import reverse
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from boxoffice.customers.models import Customer, SignInLink
from boxoffice.customers.services import (
    customer_find,
    customer_portal_user,
    email_normalise,
    lifetime_in_words,
    minutes_in_words,
    sign_in_link_issue,
)
from boxoffice.lib.ratelimit import rate_hit
from boxoffice.portal.emails import magic_link_email_send, password_reset_email_send

logger = logging.getLogger(__name__)


def _window() -> int:
    return settings.SIGN_IN_LIMITS["WINDOW_SECONDS"]


def portal_link_request_allowed(*, ip: str) -> bool:
    """Count one request for an e-mailed link or reset from this client; False past the limit
    (the page still answers as usual, but nothing is sent)."""
    hit = rate_hit(scope="links:ip", value=ip, window=_window())
    return not hit.over(settings.SIGN_IN_LIMITS["LINKS_PER_IP"])


def _customer_for_mail(email: str, *, what: str) -> Customer | None:
    email = email_normalise(email)
    # Each request sends mail to a real inbox: cap it so the form cannot flood one. An attacker
    # who uses up the cap cannot keep the owner out: every link they trigger lands in the
    # owner's inbox, and the last one sent stays valid (30 minutes) beyond the 15-minute window.
    hit = rate_hit(scope=f"links:address:{what}", value=email, window=_window())
    if hit.over(settings.SIGN_IN_LIMITS["LINKS_PER_ADDRESS"]):
        logger.info("%s request throttled for an address", what)
        return None
    customer = customer_find(email=email)
    if customer is None:
        return None
    user = customer.user
    if user is not None and (not user.is_active or user.is_staff or user.is_superuser):
        logger.warning(
            "%s refused for customer %s: its login is not a customer's", what, customer.pk
        )
        return None
    return customer


def portal_sign_in_link_send(*, email: str, next_path: str = "") -> str:
    """E-mail a fresh single-use sign-in link if a customer has this address."""
    customer = _customer_for_mail(email, what="sign_in_link")
    if customer is None:
        return "not_sent"
    url = sign_in_link_issue(
        customer=customer, purpose=SignInLink.Purpose.REQUESTED, next_path=next_path
    )
    magic_link_email_send(
        customer=customer, url=url, lifetime=lifetime_in_words(SignInLink.Purpose.REQUESTED)
    )
    return "sent"


def portal_password_reset_send(*, email: str) -> str:
    """E-mail a link to choose a password (Django's reset token: it stops working once the
    password changes or the customer signs in, and after PASSWORD_RESET_TIMEOUT)."""
    customer = _customer_for_mail(email, what="password_reset")
    if customer is None:
        return "not_sent"
    user = customer_portal_user(customer=customer)
    url = settings.SITE_URL + reverse(
        "portal:password_reset_confirm",
        kwargs={
            "uidb64": urlsafe_base64_encode(force_bytes(user.pk)),
            "token": default_token_generator.make_token(user),
        },
    )
    minutes = settings.PASSWORD_RESET_TIMEOUT // 60
    lifetime = minutes_in_words(minutes)
    password_reset_email_send(customer=customer, url=url, lifetime=lifetime)
    return "sent"
