"""Rendering, recording and delivering one e-mail: the leaf every mail goes through.

Each specific mail lives with the app that owns its facts (`provisioning/emails.py`,
`billing/emails.py`, `portal/emails.py`) and is one `<app>/email/<name>.html` and `<name>.txt`
template pair extending `messaging/email/base.html` / `base.txt`. The HTML is written with a
`<style>` block and inlined at render time, because most mail clients drop `<style>`; `@media`
rules cannot be inlined and are kept in a `<style>` tag for the clients that honour them (small
screens). A mail is recorded as a `Message` row once per dedupe key, in the caller's transaction,
and handed to SMTP after commit (`messaging/services.py`).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import css_inline
from django.conf import settings
from django.template.loader import render_to_string

from boxoffice.messaging.models import Message
from boxoffice.messaging.services import message_create, message_send_after_commit

# Never fetch stylesheets over the network while sending: all CSS lives in the templates.
_inliner = css_inline.CSSInliner(keep_at_rules=True, load_remote_stylesheets=False)
_BLANK_LINES = re.compile(r"\n[ \t]*(\n[ \t]*)+\n")


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    text: str
    html: str


def email_render(*, template: str, subject: str, context: dict[str, Any]) -> RenderedEmail:
    """Render `<template>.txt` and `<template>.html` (e.g. `provisioning/email/credentials`)
    with the site facts every mail needs."""
    context = {
        "SITE_NAME": settings.SITE_NAME,
        "SITE_URL": settings.SITE_URL,
        "SUPPORT_EMAIL": settings.SUPPORT_EMAIL,
        "subject": subject,
        **context,
    }
    text = render_to_string(f"{template}.txt", context)
    # Template tags leave runs of blank lines behind; a plain-text reader wants at most one.
    text = _BLANK_LINES.sub("\n\n", text).strip() + "\n"
    html = _inliner.inline(render_to_string(f"{template}.html", context))
    return RenderedEmail(subject=subject, text=text, html=html)


def _reply_to_support() -> dict[str, str]:
    # Mail comes from a no-reply address; the text invites a reply, so replies go to support.
    return {"Reply-To": settings.SUPPORT_EMAIL}


def email_send(
    *,
    kind: str,
    dedupe_key: str | None,
    to_email: str,
    template: str,
    subject: str,
    context: Callable[[], dict[str, Any]],
    customer: Any = None,
    order: Any = None,
    line: Any = None,
    in_worker: bool = False,
    unsubscribe_url: str = "",
    attachments: list[dict[str, str]] | None = None,
) -> Message:
    """Record the mail once per dedupe key (rendered now, in the caller's transaction if there
    is one) and hand it to SMTP after commit (in a task with `in_worker`); a message already
    recorded is left to the outbox. `context` is called only when a new message is rendered.
    `customer`, `order` and `line` are the rows the message is about (for the back office).
    A non-transactional mail passes its `unsubscribe_url`: a link at its foot and the
    `List-Unsubscribe` headers with RFC 8058 one-click, which mailbox providers ask of bulk mail."""
    if dedupe_key:
        existing = Message.objects.filter(dedupe_key=dedupe_key).first()
        if existing is not None:
            return existing
    values = context()
    headers = _reply_to_support()
    if unsubscribe_url:
        values["unsubscribe_url"] = unsubscribe_url
        headers["List-Unsubscribe"] = f"<{unsubscribe_url}>"
        headers["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    rendered = email_render(template=template, subject=subject, context=values)
    message, created = message_create(
        kind=kind,
        to_email=to_email,
        subject=rendered.subject,
        body_text=rendered.text,
        body_html=rendered.html,
        dedupe_key=dedupe_key,
        headers=headers,
        customer=customer,
        order=order,
        line=line,
        attachments=attachments,
    )
    if created:
        message_send_after_commit(message=message, in_worker=in_worker)
    return message


def site_link(path: str) -> str:
    """An absolute link to a page of this site, for a mail (`path` from `reverse`)."""
    return f"{settings.SITE_URL}{path}"


def greeting_name(name: str) -> str:
    """How a mail greets its reader: the name typed on the order it is about, or nobody by name
    (an account's own mails greet nobody: whoever first ordered with an address may not be its
    owner)."""
    return name.strip() or "there"


def format_expiry(moment: datetime) -> str:
    moment = moment.astimezone(UTC)
    return f"{moment.day} {moment:%B %Y, %H:%M} UTC"
