"""The site-wide half of what a production start refuses: configuration that is safe on a
laptop and unsafe on the internet (DEBUG, a plain-http or local SITE_URL, open ALLOWED_HOSTS).
Each app adds its own (the gateways' secrets: `billing.gateways.registry`); `boxoffice.runtime`
puts them together and refuses to start (`runtime/production.py`).
"""

from __future__ import annotations

from urllib.parse import urlsplit

from django.http.request import validate_host

from boxoffice.lib import local_defaults


def site_settings_problems(settings) -> list[str]:
    """One sentence per problem, naming the variable and what to do."""
    problems = []
    if settings.DEBUG:
        problems.append(
            "DEBUG is on: unset it (or DEBUG=0); error pages would show code and settings to "
            "anyone."
        )
    site_url = settings.SITE_URL
    if not site_url:
        problems.append(
            "SITE_URL is not set: set it to the public https:// address of this site "
            "(used in e-mails and gateway callbacks)."
        )
    elif site_url.rstrip("/") == local_defaults.SITE_URL:
        problems.append(
            f"SITE_URL is the local default ({site_url}): set it to the public https:// address "
            "of this site."
        )
    elif not site_url.lower().startswith("https://"):
        problems.append(
            f"SITE_URL={site_url} is not https://: customers' links would send order and login "
            "tokens in clear text. Use the https:// address."
        )
    site_ok = site_url.lower().startswith("https://")
    host = urlsplit(site_url).hostname if site_ok else None
    if "*" in settings.ALLOWED_HOSTS:
        problems.append(
            "ALLOWED_HOSTS contains '*': list the host names this site answers to (by default "
            "the host of SITE_URL), or forged Host headers reach password-reset and other links."
        )
    elif host and not validate_host(host, settings.ALLOWED_HOSTS):
        problems.append(
            f"ALLOWED_HOSTS={','.join(settings.ALLOWED_HOSTS)} does not include {host}, the host "
            "of SITE_URL: every request to the site would be refused. Add it (or leave "
            "ALLOWED_HOSTS unset)."
        )
    return problems
