"""Open and click tracking of non-transactional mail (the welcome sequence, offers).

`tracked_email_send` records a mail like `email_send` and then, in the same transaction and so
before SMTP sees it, rewrites the HTML part: every http(s) link becomes
`/m/c/<token>/` and a 1x1 image `/m/o/<token>.gif` is added. Each token is signed with
`django.core.signing` (its own salt) and names the message, and for a click the number of the
link; the link's address is stored (`MessageLink`), so the redirect can only reach an address
that was in that message: no open redirect, and a tampered token is a 404.

What is not tracked: the plain-text part (its links stay as written, readable), the unsubscribe
link (it must work as it is, and a scanner's fetch must not look like interest) and `mailto:`.
Transactional mail (credentials, receipts, password and security notices) is sent with
`email_send` and never tracked: no tracking on security and receipt mail.
"""

from __future__ import annotations

import html
import re
from typing import Any

from django.core import signing
from django.db import transaction
from django.db.models import F
from django.db.models.functions import Coalesce
from django.urls import reverse
from django.utils import timezone

from boxoffice.messaging.emails import email_send, site_link
from boxoffice.messaging.models import Message, MessageLink, MessageTracking

_OPEN_SALT = "boxoffice.messaging.open"
_CLICK_SALT = "boxoffice.messaging.click"
_HREF = re.compile(r'href="([^"]*)"')
# The smallest transparent GIF.
PIXEL_GIF = (
    b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00"
    b"\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;"
)


def open_token(message_id: int) -> str:
    return signing.dumps(message_id, salt=_OPEN_SALT, compress=False)


def click_token(message_id: int, number: int) -> str:
    return signing.dumps([message_id, number], salt=_CLICK_SALT, compress=False)


def _loads(token: str, salt: str) -> Any:
    try:
        return signing.loads(token, salt=salt)
    except (signing.BadSignature, ValueError, TypeError, UnicodeDecodeError):
        return None


def open_token_message_id(token: str) -> int | None:
    value = _loads(token, _OPEN_SALT)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def click_token_target(token: str) -> tuple[int, int] | None:
    value = _loads(token, _CLICK_SALT)
    if (
        isinstance(value, list)
        and len(value) == 2
        and all(isinstance(v, int) and not isinstance(v, bool) for v in value)
    ):
        return value[0], value[1]
    return None


def tracked_email_send(**kwargs: Any) -> Message:
    """`email_send` (same arguments) with opens and clicks tracked. The rewrite happens in the
    transaction that records the message, so the fast path and the outbox (both after commit)
    send the tracked body; a message recorded before (its dedupe key) is left as it is."""
    with transaction.atomic():
        return email_send(**kwargs, prepare=_track_if_html)


def _track_if_html(message: Message) -> None:
    if message.body_html:
        message_track(message=message)


def message_track(*, message: Message) -> Message:
    """Rewrite the message's HTML links to the click redirect and add the open image."""
    skip = {str(message.headers.get("List-Unsubscribe", "")).strip("<>")}
    numbers: dict[str, int] = {}

    def rewrite(match: re.Match[str]) -> str:
        url = html.unescape(match.group(1))
        if not url.lower().startswith(("http://", "https://")) or url in skip:
            return match.group(0)
        number = numbers.setdefault(url, len(numbers) + 1)
        tracked = site_link(reverse("messaging:click", args=[click_token(message.pk, number)]))
        return f'href="{html.escape(tracked)}"'

    body = _HREF.sub(rewrite, message.body_html)
    pixel = site_link(reverse("messaging:open", args=[open_token(message.pk)]))
    image = f'<img src="{html.escape(pixel)}" width="1" height="1" alt="" style="display:block;border:0;">'
    body = body.replace("</body>", f"{image}</body>") if "</body>" in body else body + image
    MessageLink.objects.bulk_create(
        MessageLink(message=message, number=number, url=url) for url, number in numbers.items()
    )
    MessageTracking.objects.create(message=message)
    message.body_html = body
    message.save(update_fields=["body_html"])
    return message


def message_opened(*, message_id: int) -> bool:
    """Count one fetch of the open image; False for a message that is not tracked."""
    now = timezone.now()
    return bool(
        MessageTracking.objects.filter(message_id=message_id).update(
            opens=F("opens") + 1, first_opened_at=Coalesce("first_opened_at", now)
        )
    )


def message_clicked(*, message_id: int, number: int) -> str | None:
    """Count one click of a link of the message and return its address, or None when the
    message had no such link (a forged or stale token)."""
    link = MessageLink.objects.filter(message_id=message_id, number=number).first()
    if link is None:
        return None
    now = timezone.now()
    with transaction.atomic():
        MessageLink.objects.filter(pk=link.pk).update(
            clicks=F("clicks") + 1, first_clicked_at=Coalesce("first_clicked_at", now)
        )
        # A click is also proof the mail was opened (with images off, the pixel never loads).
        MessageTracking.objects.filter(message_id=message_id).update(
            clicks=F("clicks") + 1,
            first_clicked_at=Coalesce("first_clicked_at", now),
            first_opened_at=Coalesce("first_opened_at", now),
        )
    return link.url
