"""The renewal pay link: a signed, expiring token naming one line, with its own salt, so it
opens that line's renewal checkout and nothing else — it is never a sign-in and never shows the
line's password. Whoever holds it can at most pay for that line."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.core import signing

from boxoffice.provisioning.models import Line

_PAY_SALT = "boxoffice.renewal-pay-link"


def renewal_pay_token(line: Line) -> str:
    return signing.dumps({"line": line.pk}, salt=_PAY_SALT)


def renewal_pay_line(token: str) -> Line | None:
    """The line a pay link names, or None (forged, expired, or for a line gone)."""
    try:
        data = signing.loads(
            token, salt=_PAY_SALT, max_age=timedelta(days=settings.RENEWAL_PAY_LINK_DAYS)
        )
    except signing.BadSignature:  # SignatureExpired is a BadSignature
        return None
    pk = data.get("line") if isinstance(data, dict) else None
    if not isinstance(pk, int) or isinstance(pk, bool):
        return None
    return Line.objects.select_related("plan", "customer", "panel").filter(pk=pk).first()
