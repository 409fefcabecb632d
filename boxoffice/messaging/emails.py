"""Rendering, recording and delivering one e-mail: the leaf every mail goes through.

Each specific mail lives with the app that owns its facts (`provisioning/emails.py`,
`billing/emails.py`, `portal/emails.py`) and is one `<app>/email/<name>.html` and `<name>.txt`
template pair extending `messaging/email/base.html` / `base.txt`. The HTML is written with a
`<style>` block and inlined at render time, because most mail clients drop `<style>`; `@media`
rules cannot be inlined and are kept in a `<style>` tag for the clients that honour them (small
screens). A mail is recorded as a `Message` row once per dedupe key, in the caller's transaction,
and handed to SMTP after commit (`messaging/services.py`).

A mail registered for the back office (`messaging/templating.py`) may have an operator's wording
(`MailTemplate`) in the language it is written in: that wins over the files. Every mail is
rendered in its reader's language (the customer's `locale`, chosen at checkout), with `lang`
and `dir` set for right-to-left scripts.
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
from django.utils import dateformat, translation
from django.utils.functional import Promise, lazy

from boxoffice.lib.exists import rows_exist, rows_exist_with
from boxoffice.messaging.models import MailTemplate, Message
from boxoffice.messaging.services import message_create, message_send_after_commit
from boxoffice.messaging.templating import (
    MailDefinition,
    mail_definition,
    sample_values,
    sandbox_compiled,
    sandbox_context,
    sandbox_render,
)

# Never fetch stylesheets over the network while sending: all CSS lives in the templates.
_inliner = css_inline.CSSInliner(keep_at_rules=True, load_remote_stylesheets=False)
_BLANK_LINES = re.compile(r"\n[ \t]*(\n[ \t]*)+\n")


def _messages_by_key(dedupe_key: str):
    return Message.objects.filter(dedupe_key=dedupe_key)


def _any_mail_template():
    return MailTemplate.objects.all()


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    text: str
    html: str


def email_render(
    *,
    template: str,
    subject: str | Promise,
    context: dict[str, Any],
    language: str | None = None,
) -> RenderedEmail:
    """Render `<template>.txt` and `<template>.html` (e.g. `provisioning/email/credentials`)
    with the site facts every mail needs, in `language` (default: the active one). A registered
    mail takes its subject from its registration (translated) and, where the operator saved
    one for this language, its whole wording from `MailTemplate`; `subject` is the fallback for
    a mail nobody registered."""
    language = language or translation.get_language() or settings.LANGUAGE_CODE
    with translation.override(language):
        info = translation.get_language_info(translation.get_language())
        context = {
            "SITE_NAME": settings.SITE_NAME,
            "SITE_URL": settings.SITE_URL,
            "SUPPORT_EMAIL": settings.SUPPORT_EMAIL,
            "LANGUAGE_CODE": info["code"],
            "LANGUAGE_BIDI": info["bidi"],
            "subject": str(subject),
            **context,
        }
        definition = mail_definition(template)
        if definition is not None:
            # Most shops never reword a mail: with no wording saved at all (one precompiled
            # EXISTS) the files are used without looking this one up.
            override = (
                MailTemplate.objects.filter(name=template, language=info["code"]).first()
                if rows_exist(_any_mail_template)
                else None
            )
            if override is not None:
                return email_render_override(
                    definition=definition,
                    subject=override.subject,
                    html=override.html,
                    text=override.text,
                    values=context,
                )
            context["subject"] = _render_subject(definition, str(definition.subject), context)
        text = render_to_string(f"{template}.txt", context)
        html = render_to_string(f"{template}.html", context)
        return _finish(subject=context["subject"], text=text, html=html)


def email_render_override(
    *, definition: MailDefinition, subject: str, html: str, text: str, values: dict[str, Any]
) -> RenderedEmail:
    """An operator's wording rendered in the sandbox (only the mail's declared variables);
    raises MailTemplateInvalid with the part, line and reason when it does not render."""
    sandboxed = sandbox_context(definition, values)
    sandboxed["LANGUAGE_CODE"] = values.get("LANGUAGE_CODE", settings.LANGUAGE_CODE)
    sandboxed["LANGUAGE_BIDI"] = bool(values.get("LANGUAGE_BIDI"))
    sandboxed["subject"] = _render_subject(definition, subject, sandboxed)
    rendered_text = sandbox_render(sandbox_compiled("text", text), "text", sandboxed)
    rendered_html = sandbox_render(sandbox_compiled("html", html), "html", sandboxed)
    return _finish(subject=sandboxed["subject"], text=rendered_text, html=rendered_html)


def _render_subject(definition: MailDefinition, subject: str, values: dict[str, Any]) -> str:
    compiled = sandbox_compiled("subject", subject)
    rendered = sandbox_render(compiled, "text", sandbox_context(definition, values))
    return " ".join(rendered.split())  # a header is one line


def _finish(*, subject: str, text: str, html: str) -> RenderedEmail:
    # Template tags leave runs of blank lines behind; a plain-text reader wants at most one.
    text = _BLANK_LINES.sub("\n\n", text).strip() + "\n"
    return RenderedEmail(subject=subject, text=text, html=_inliner.inline(html))


def email_language(*, customer: Any = None, order: Any = None) -> str:
    """The language a mail to this reader is written in: the one they chose at checkout."""
    codes = {code for code, _name in settings.LANGUAGES}
    for candidate in (getattr(order, "language", ""), getattr(customer, "locale", "")):
        if candidate in codes:
            return candidate
    return settings.LANGUAGE_CODE


def _reply_to_support() -> dict[str, str]:
    # Mail comes from a no-reply address; the text invites a reply, so replies go to support.
    return {"Reply-To": settings.SUPPORT_EMAIL}


def email_send(
    *,
    kind: str,
    dedupe_key: str | None,
    to_email: str,
    template: str,
    subject: str | Promise,
    context: Callable[[], dict[str, Any]],
    customer: Any = None,
    order: Any = None,
    line: Any = None,
    in_worker: bool = False,
    unsubscribe_url: str = "",
    attachments: list[dict[str, str]] | None = None,
    prepare: Callable[[Message], object] | None = None,
) -> Message:
    """Record the mail once per dedupe key (rendered now, in the caller's transaction if there
    is one) and hand it to SMTP after commit (in a task with `in_worker`); a message already
    recorded is left to the outbox. `context` is called only when a new message is rendered.
    `customer`, `order` and `line` are the rows the message is about (for the back office).
    A non-transactional mail passes its `unsubscribe_url`: a link at its foot and the
    `List-Unsubscribe` headers with RFC 8058 one-click, which mailbox providers ask of bulk mail.
    `prepare(message)` changes a newly recorded message before it is handed over (tracking)."""
    # Recorded already? The usual answer (no) is one precompiled EXISTS (lib/exists.py).
    if dedupe_key and rows_exist_with(_messages_by_key, (dedupe_key,)):
        existing = Message.objects.filter(dedupe_key=dedupe_key).first()
        if existing is not None:
            return existing
    language = email_language(customer=customer, order=order)
    headers = _reply_to_support()
    with translation.override(language):
        # The context's own words ("tomorrow", a suspension's reason) are in the reader's too.
        values = context()
        if unsubscribe_url:
            values["unsubscribe_url"] = unsubscribe_url
            headers["List-Unsubscribe"] = f"<{unsubscribe_url}>"
            headers["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
        rendered = email_render(
            template=template, subject=subject, context=values, language=language
        )
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
        looked_up=True,
        sender_claims=not in_worker,
    )
    if created:
        if prepare is not None:
            prepare(message)
        message_send_after_commit(message=message, in_worker=in_worker)
    return message


def site_link(path: str) -> str:
    """An absolute link to a page of this site, for a mail (`path` from `reverse`)."""
    return f"{settings.SITE_URL}{path}"


def greeting_name(name: str) -> str:
    """How a mail greets its reader: the name typed on the order it is about, or nobody by name
    (an account's own mails greet nobody: whoever first ordered with an address may not be its
    owner)."""
    return name.strip() or _greeting_nobody()


def _nobody() -> str:
    # "Hello there," in the reader's language: evaluated when the mail is rendered.
    return translation.pgettext("greeting a reader whose name we do not know", "there")


_greeting_nobody = lazy(_nobody, str)


def _expiry_in_words(moment: datetime) -> str:
    # The month's name in the reader's language; the time is always UTC, and says so.
    # The date's shape is the reader's too (a translator may reorder it, or use "،").
    shape = translation.pgettext("expiry date in mails, PHP-style date format", "j F Y, H:i")
    return dateformat.format(moment.astimezone(UTC), shape) + " UTC"


# Lazy: callers compute it before `email_send` activates the reader's language.
format_expiry = lazy(_expiry_in_words, str)


# --- the operator's wording (back office editor) -------------------------------------------


def mail_template_preview(
    *, definition: MailDefinition, language: str, subject: str, html: str, text: str
) -> RenderedEmail:
    """The mail as this wording renders on the mail's sample data, in `language`. Raises
    MailTemplateInvalid (part, line, reason) when it does not compile or does not render."""
    with translation.override(language):
        info = translation.get_language_info(language)
        values = {
            **sample_values(definition),
            "LANGUAGE_CODE": info["code"],
            "LANGUAGE_BIDI": info["bidi"],
        }
        return email_render_override(
            definition=definition, subject=subject, html=html, text=text, values=values
        )


def mail_template_save(
    *,
    definition: MailDefinition,
    language: str,
    subject: str,
    html: str,
    text: str,
    user: Any = None,
) -> MailTemplate:
    """Store the operator's wording of a mail in one language, only once it compiled and
    rendered on the sample data (MailTemplateInvalid otherwise: nothing is saved)."""
    mail_template_preview(
        definition=definition, language=language, subject=subject, html=html, text=text
    )
    template, _created = MailTemplate.objects.update_or_create(
        name=definition.name,
        language=language,
        defaults={"subject": subject, "html": html, "text": text, "updated_by": user},
    )
    return template


def mail_template_reset(*, name: str, language: str) -> bool:
    """Back to the shipped wording: the override is deleted. True when there was one."""
    deleted, _rows = MailTemplate.objects.filter(name=name, language=language).delete()
    return bool(deleted)
