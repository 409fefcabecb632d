"""The mails that let a customer into their account: a sign-in link they asked for, and a link
to choose a (new) password. Account mails greet nobody by name. Templates:
`portal/email/<kind>.{html,txt}`."""

from __future__ import annotations

from django.conf import settings
from django.utils.translation import gettext_lazy as _

from boxoffice.customers.models import Customer
from boxoffice.messaging.emails import email_send
from boxoffice.messaging.models import Message
from boxoffice.messaging.templating import Category, mail_register


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


# The back office's editable templates (messaging/templating.py), with sample data.
mail_register(
    name="portal/email/magic_link",
    label=_("Sign-in link"),
    category=Category.TRANSACTIONAL,
    subject=_("Your {{ SITE_NAME }} sign-in link"),
    variables=("magic_link_url", "lifetime"),
    sample=lambda: {
        "magic_link_url": "https://tv.example.net/portal/link/sample/",
        "lifetime": _("30 minutes"),
    },
)
mail_register(
    name="portal/email/password_reset",
    label=_("Choose a password (reset)"),
    category=Category.TRANSACTIONAL,
    subject=_("Choose a password for {{ SITE_NAME }}"),
    variables=("reset_url", "lifetime"),
    sample=lambda: {
        "reset_url": "https://tv.example.net/portal/password/reset/sample/",
        "lifetime": _("30 minutes"),
    },
)
