"""What a production start refuses: configuration that is safe on a laptop and unsafe on the
internet (the emulators' published secrets, the demo bank account, DEBUG, a plain-http site).

`RuntimeConfig.ready()` runs `production_settings_check` in every process Django starts with
BOXOFFICE_ENV=production (web, worker, migrate, check, ...), so a bad configuration stops
the process before it serves or processes anything.
"""

from __future__ import annotations

from django.core.exceptions import ImproperlyConfigured

from boxoffice.billing.gateways.registry import gateway_config_problems
from boxoffice.lib.production import site_settings_problems


def production_settings_problems(settings) -> list[str]:
    """Every problem of the site and of every enabled gateway: one sentence each, naming the
    variable and what to do."""
    return [*site_settings_problems(settings), *gateway_config_problems(settings)]


def production_settings_check(settings) -> None:
    problems = production_settings_problems(settings)
    if problems:
        raise ImproperlyConfigured(
            "refusing to start with BOXOFFICE_ENV=production:\n"
            + "\n".join(f"  - {p}" for p in problems)
        )
