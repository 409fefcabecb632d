"""The customer e-mails: rendered from templates (HTML + plain text), recorded as `Message` rows
and handed to the mail backend once per dedupe key.

Each mail is one `messaging/email/<name>.html` and `<name>.txt` pair extending the shared base
templates. The HTML is written with a `<style>` block and inlined at send time, because most mail
clients drop `<style>`; `@media` rules cannot be inlined and are kept in a `<style>` tag for the
clients that honour them (small screens).
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

from boxoffice.billing.models import Order
from boxoffice.customers.models import Customer, SignInLink
from boxoffice.customers.services import lifetime_in_words, sign_in_link_issue
from boxoffice.messaging.models import Message
from boxoffice.messaging.services import message_create, message_send_after_commit
from boxoffice.provisioning.models import Line

# Never fetch stylesheets over the network while sending: all CSS lives in the templates.
_inliner = css_inline.CSSInliner(keep_at_rules=True, load_remote_stylesheets=False)
_BLANK_LINES = re.compile(r"\n[ \t]*(\n[ \t]*)+\n")


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    text: str
    html: str


def email_render(*, template: str, subject: str, context: dict[str, Any]) -> RenderedEmail:
    """Render `messaging/email/<template>.{txt,html}` with the site facts every mail needs."""
    context = {
        "SITE_NAME": settings.SITE_NAME,
        "SITE_URL": settings.SITE_URL,
        "SUPPORT_EMAIL": settings.SUPPORT_EMAIL,
        "subject": subject,
        **context,
    }
    text = render_to_string(f"messaging/email/{template}.txt", context)
    # Template tags leave runs of blank lines behind; a plain-text reader wants at most one.
    text = _BLANK_LINES.sub("\n\n", text).strip() + "\n"
    html = _inliner.inline(render_to_string(f"messaging/email/{template}.html", context))
    return RenderedEmail(subject=subject, text=text, html=html)


def _reply_to_support() -> dict[str, str]:
    # Mail comes from a no-reply address; the text invites a reply, so replies go to support.
    return {"Reply-To": settings.SUPPORT_EMAIL}


def _email_send(
    *,
    kind: str,
    dedupe_key: str | None,
    to_email: str,
    template: str,
    subject: str,
    context: Callable[[], dict[str, Any]],
    customer: Customer | None = None,
    order: Order | None = None,
    line: Line | None = None,
    in_worker: bool = False,
) -> Message:
    """Record the mail once per dedupe key (rendered now, in the caller's transaction if there
    is one) and hand it to SMTP after commit (in a task with `in_worker`); a message already
    recorded is left to the outbox. `context` is called only when a new message is rendered."""
    if dedupe_key:
        existing = Message.objects.filter(dedupe_key=dedupe_key).first()
        if existing is not None:
            return existing
    rendered = email_render(template=template, subject=subject, context=context())
    message, created = message_create(
        kind=kind,
        to_email=to_email,
        subject=rendered.subject,
        body_text=rendered.text,
        body_html=rendered.html,
        dedupe_key=dedupe_key,
        headers=_reply_to_support(),
        customer=customer,
        order=order,
        line=line,
    )
    if created:
        message_send_after_commit(message=message, in_worker=in_worker)
    return message


def order_status_url(order: Order) -> str:
    return f"{settings.SITE_URL}/order/{order.status_token}/"


def portal_url() -> str:
    return f"{settings.SITE_URL}/portal/"


def _greeting_name(order: Order | None) -> str:
    """An order's mails greet the name typed on that order. The account's own mails greet
    nobody by name: whoever first ordered with an address may not be its owner."""
    name = order.name.strip() if order is not None else ""
    return name or "there"


def _format_expiry(moment: datetime) -> str:
    moment = moment.astimezone(UTC)
    return f"{moment.day} {moment:%B %Y, %H:%M} UTC"


def credentials_email_send(*, line: Line) -> Message:
    """The line's credentials and how to use them. A security mail: no open or click tracking."""
    from boxoffice.panels.services import line_access_for

    customer = line.customer

    def context() -> dict[str, Any]:
        # A single-use sign-in link, made only when the mail is rendered (once per line); a
        # customer without a password lands on the page that sets one.
        sets_password = customer.user is None or not customer.user.has_usable_password()
        link = sign_in_link_issue(
            customer=customer,
            purpose=SignInLink.Purpose.WELCOME,
            next_path="/portal/password/" if sets_password else "/portal/",
        )
        return {
            "name": _greeting_name(line.order),
            "line": line,
            "plan": line.plan,
            "expires": _format_expiry(line.expires_at) if line.expires_at else "",
            "access": line_access_for(line),
            "is_mag": line.device == "mag",
            "magic_link_url": link,
            "magic_link_lifetime": lifetime_in_words(SignInLink.Purpose.WELCOME),
            "magic_link_button": "Choose a password" if sets_password else "Open my account",
            "sets_password": sets_password,
            "guides_url": portal_url(),
        }

    return _email_send(
        kind="credentials",
        dedupe_key=f"credentials:line:{line.pk}",
        to_email=customer.email,
        template="credentials",
        subject=f"Your {settings.SITE_NAME} login is ready",
        context=context,
        customer=customer,
        order=line.order,
        line=line,
    )


def _order_email_send(
    *,
    order: Order,
    kind: str,
    dedupe_key: str,
    subject: str,
    in_worker: bool = False,
    **extra: Any,
) -> Message:
    """A mail about an order, with the context every order mail shares."""
    return _email_send(
        kind=kind,
        dedupe_key=dedupe_key,
        to_email=order.customer.email,
        template=kind,
        subject=subject,
        context=lambda: {
            "name": _greeting_name(order),
            "order": order,
            "plan": order.plan,
            "status_url": order_status_url(order),
            **extra,
        },
        customer=order.customer,
        order=order,
        in_worker=in_worker,
    )


def payment_pending_email_send(*, order: Order, in_worker: bool = False) -> Message:
    """The gateway acknowledged the payment but has not confirmed it yet."""
    return _order_email_send(
        order=order,
        kind="payment_pending",
        dedupe_key=f"payment_pending:order:{order.pk}",
        subject=f"We are processing your payment ({order.reference})",
        in_worker=in_worker,
    )


def provisioning_delayed_email_send(*, order: Order) -> Message:
    """Paid, but the panel is slow: reassure once, the credentials follow on their own."""
    return _order_email_send(
        order=order,
        kind="provisioning_delayed",
        dedupe_key=f"delay:order:{order.pk}",
        subject=f"Your {settings.SITE_NAME} line is on its way ({order.reference})",
    )


def bank_transfer_instructions_email_send(*, order: Order, instructions: str) -> Message:
    """How to pay an order by bank transfer (the operator confirms the money by hand). Owed at
    checkout, in the customer's request: SMTP happens in a worker."""
    return _order_email_send(
        order=order,
        in_worker=True,
        kind="bank_transfer_instructions",
        dedupe_key=f"bank:order:{order.pk}",
        subject=f"How to pay your order {order.reference} by bank transfer",
        amount=f"{order.amount} {order.currency}",
        instructions=instructions.strip(),
    )


def magic_link_email_send(*, customer: Customer, url: str, lifetime: str) -> Message:
    """A sign-in link the customer asked for. Not deduplicated: each request gets a fresh link."""
    return _email_send(
        kind="magic_link",
        dedupe_key=None,
        to_email=customer.email,
        template="magic_link",
        subject=f"Your {settings.SITE_NAME} sign-in link",
        context=lambda: {"magic_link_url": url, "lifetime": lifetime},
        customer=customer,
    )


def password_reset_email_send(*, customer: Customer, url: str, lifetime: str) -> Message:
    """A link to choose a (new) password, sent to the account's address only."""
    return _email_send(
        kind="password_reset",
        dedupe_key=None,
        to_email=customer.email,
        template="password_reset",
        subject=f"Choose a password for {settings.SITE_NAME}",
        context=lambda: {"reset_url": url, "lifetime": lifetime},
        customer=customer,
    )


def _line_email_send(
    *, line: Line, kind: str, operation_id: int, subject: str, **extra: Any
) -> Message:
    """A mail about a change to a line, once per operation, with the line's login and access."""
    from boxoffice.panels.services import line_access_for

    return _email_send(
        kind=kind,
        dedupe_key=f"{kind}:operation:{operation_id}",
        to_email=line.customer.email,
        template=kind,
        subject=subject,
        context=lambda: {
            "name": _greeting_name(line.order),
            "line": line,
            "plan": line.plan,
            "access": line_access_for(line),
            "is_mag": line.device == "mag",
            "portal_url": portal_url(),
            **extra,
        },
        customer=line.customer,
        order=line.order,
        line=line,
    )


def line_moved_email_send(*, line: Line, operation_id: int) -> Message:
    """The line now lives on another panel: the new server details, once per move."""
    return _line_email_send(
        line=line,
        kind="line_moved",
        operation_id=operation_id,
        subject=f"New server details for your {settings.SITE_NAME} line",
    )


def line_password_changed_email_send(*, line: Line, operation_id: int) -> Message:
    """The operator reset the line's password: the player stops working until it has the new
    one, so the customer gets it at once."""
    return _line_email_send(
        line=line,
        kind="line_password_changed",
        operation_id=operation_id,
        subject=f"Your {settings.SITE_NAME} line has a new password",
    )


# Why a line was suspended, in the customer's words, and what they can do about it.
_SUSPENSION_REASONS = {
    "payment refunded": (
        "the payment for this subscription was refunded.",
        "To keep watching, renew your subscription from your account.",
    ),
    "payment disputed": (
        "the payment for this subscription was disputed with your bank or card issuer.",
        "If the dispute was a mistake, withdraw it with your bank and let us know: we resume "
        "your line as soon as it is settled.",
    ),
}


def line_suspended_email_send(*, line: Line, operation_id: int, reason: str = "") -> Message:
    """The line was suspended: why, and what to do. Once per suspension."""
    why, what_to_do = _SUSPENSION_REASONS.get(
        reason.strip().lower(),
        (
            (reason.strip().rstrip(".") + ".") if reason.strip() else "your provider paused it.",
            "Contact us to find out how to resume it.",
        ),
    )
    return _line_email_send(
        line=line,
        kind="line_suspended",
        operation_id=operation_id,
        subject=f"Your {settings.SITE_NAME} line is suspended",
        reason=why,
        what_to_do=what_to_do,
    )
