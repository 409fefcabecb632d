"""What a production start refuses about mail delivery (see `runtime/production.py`)."""

from __future__ import annotations

import importlib.util

from boxoffice.messaging.dkim import dkim_settings_problems


def mail_settings_problems(config) -> list[str]:
    problems = dkim_settings_problems(config)
    esp = getattr(config, "ANYMAIL_ESP", "")
    if esp:
        if importlib.util.find_spec(f"anymail.backends.{esp}") is None:
            problems.append(
                f"ANYMAIL_ESP={esp} is not a provider django-anymail knows (e.g. postmark, "
                "mailgun, amazon_ses, sendgrid, brevo, resend)."
            )
        if not config.ANYMAIL.get("WEBHOOK_SECRET"):
            problems.append(
                "ANYMAIL_ESP is set without ANYMAIL_WEBHOOK_SECRET (user:password): bounces and "
                "complaints could not be received safely. Set it, and the same credentials in "
                "the provider's webhook URL (https://user:password@<site>/mail/events/"
                f"{esp}/tracking/)."
            )
    return problems
