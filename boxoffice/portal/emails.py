"""The mails that let a customer into their account: a sign-in link they asked for, and a link
to choose a (new) password. Account mails greet nobody by name. Templates:
`portal/email/<kind>.{html,txt}`."""

from __future__ import annotations

from django.conf import settings

from boxoffice.customers.models import Customer
from boxoffice.messaging.emails import email_send
from boxoffice.messaging.models import Message


def magic_link_email_send(*, customer: Customer, url: str, lifetime: str) -> Message:
    """A sign-in link the customer asked for. Not deduplicated: each request gets a fresh link."""
    return email_send(
        kind="magic_link",
        dedupe_key=None,
        to_email=customer.email,
        template="portal/email/magic_link",
        subject=f"Your {settings.SITE_NAME} sign-in link",
        context=lambda: {"magic_link_url": url, "lifetime": lifetime},
        customer=customer,
    )


def password_reset_email_send(*, customer: Customer, url: str, lifetime: str) -> Message:
    """A link to choose a (new) password, sent to the account's address only."""
    return email_send(
        kind="password_reset",
        dedupe_key=None,
        to_email=customer.email,
        template="portal/email/password_reset",
        subject=f"Choose a password for {settings.SITE_NAME}",
        context=lambda: {"reset_url": url, "lifetime": lifetime},
        customer=customer,
    )
