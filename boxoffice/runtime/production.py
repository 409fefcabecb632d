"""What a production start refuses: configuration that is safe on a laptop and unsafe on the
internet (the emulators' published secrets, the demo bank account, DEBUG, a plain-http site).

`RuntimeConfig.ready()` runs `production_settings_check` in every process Django starts with
BOXOFFICE_ENV=production (web, worker, migrate, check, ...), so a bad configuration stops
the process before it serves or processes anything.
"""

from __future__ import annotations

import warnings

from django.core.exceptions import ImproperlyConfigured
from django.db import DatabaseError

from boxoffice.billing.gateways.registry import gateway_config_problems
from boxoffice.lib.production import site_settings_problems
from boxoffice.messaging.production import mail_settings_problems


def production_settings_problems(settings, *, with_accounts: bool = True) -> list[str]:
    """Every problem of the site and of every enabled gateway (its back-office account's
    config, or the settings'): one sentence each, naming the variable and what to do."""
    return [
        *site_settings_problems(settings),
        *mail_settings_problems(settings),
        *gateway_config_problems(settings, with_accounts=with_accounts),
    ]


def production_settings_check(settings) -> None:
    try:
        with warnings.catch_warnings():
            # Reading the back office's gateways while apps start is deliberate: a process must
            # not start with an enabled account that would take money unsafely.
            warnings.filterwarnings("ignore", "Accessing the database during app initialization")
            problems = production_settings_problems(settings)
    except DatabaseError:
        # No gateway table yet (the first `migrate`): there is no back-office gateway.
        problems = production_settings_problems(settings, with_accounts=False)
    if problems:
        raise ImproperlyConfigured(
            "refusing to start with BOXOFFICE_ENV=production:\n"
            + "\n".join(f"  - {p}" for p in problems)
        )
