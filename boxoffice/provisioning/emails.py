"""The mails a line owes its customer: credentials when it first works, a short-delay notice
while a paid order waits for its panel, and a mail for each change the customer must know of
(moved, new password, suspended). Templates: `provisioning/email/<kind>.{html,txt}`."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

from django.conf import settings
from django.urls import reverse
from django.utils.functional import lazy
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from boxoffice.customers.models import SignInLink
from boxoffice.customers.services import (
    lifetime_in_words,
    sign_in_link_issue,
    unsubscribe_token,
)
from boxoffice.messaging.emails import email_send, format_expiry, greeting_name, site_link
from boxoffice.messaging.models import Message
from boxoffice.messaging.services import stale_check_register
from boxoffice.messaging.templating import Category, mail_register
from boxoffice.panels.adapters.base import AccessItem, AccessSection, LineAccess
from boxoffice.panels.services import line_access_for
from boxoffice.provisioning.models import Line
from boxoffice.provisioning.paylinks import renewal_pay_token


def _template(kind: str) -> str:
    return f"provisioning/email/{kind}"


def _order_name(order: Any) -> str:
    return order.name if order is not None else ""


def portal_url() -> str:
    return site_link(reverse("portal:overview"))


def credentials_email_send(*, line: Line) -> Message:
    """The line's credentials and how to use them. A security mail: no open or click tracking."""
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
            "name": greeting_name(_order_name(line.order)),
            "line": line,
            "plan": line.plan,
            "expires": format_expiry(line.expires_at) if line.expires_at else "",
            "access": line_access_for(line),
            "is_mag": line.device == "mag",
            "magic_link_url": link,
            "magic_link_lifetime": lifetime_in_words(SignInLink.Purpose.WELCOME),
            "magic_link_button": _("Choose a password") if sets_password else _("Open my account"),
            "sets_password": sets_password,
            "guides_url": portal_url(),
        }

    return email_send(
        kind="credentials",
        dedupe_key=f"credentials:line:{line.pk}",
        to_email=customer.email,
        template=_template("credentials"),
        subject=f"Your {settings.SITE_NAME} login is ready",
        context=context,
        customer=customer,
        order=line.order,
        line=line,
    )


def provisioning_delayed_email_send(*, order: Any) -> Message:
    """Paid, but the panel is slow: reassure once, the credentials follow on their own."""
    return email_send(
        kind="provisioning_delayed",
        dedupe_key=f"delay:order:{order.pk}",
        to_email=order.customer.email,
        template=_template("provisioning_delayed"),
        subject=f"Your {settings.SITE_NAME} line is on its way ({order.reference})",
        context=lambda: {
            "name": greeting_name(order.name),
            "order": order,
            "plan": order.plan,
            "status_url": site_link(
                reverse("storefront:order_status", kwargs={"token": order.status_token})
            ),
        },
        customer=order.customer,
        order=order,
    )


@stale_check_register("provisioning_delayed")
def _delay_notice_is_stale(message: Message) -> str:
    if (
        message.order_id
        and not Line.objects.filter(order_id=message.order_id, status=Line.Status.RESERVED).exists()
    ):
        return "the line is no longer waiting to be created"
    return ""


def _line_email_send(
    *, line: Line, kind: str, operation_id: int, subject: str, **extra: Any
) -> Message:
    """A mail about a change to a line, once per operation, with the line's login and access."""
    return email_send(
        kind=kind,
        dedupe_key=f"{kind}:operation:{operation_id}",
        to_email=line.customer.email,
        template=_template(kind),
        subject=subject,
        context=lambda: {
            "name": greeting_name(_order_name(line.order)),
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


def trial_converted_email_send(*, line: Line, operation_id: int) -> Message:
    """The trial line is a paid one now: same login, the new expiry. Once per conversion."""
    return _line_email_send(
        line=line,
        kind="trial_converted",
        operation_id=operation_id,
        subject=f"Your {settings.SITE_NAME} subscription is active",
        expires=format_expiry(line.expires_at) if line.expires_at else "",
    )


def line_plan_changed_email_send(*, line: Line, operation_id: int) -> Message:
    """A paid upgrade or add-on is on the panel: the plan and connections now, the same login
    and expiry. Once per operation."""
    return _line_email_send(
        line=line,
        kind="line_plan_changed",
        operation_id=operation_id,
        subject=f"Your {settings.SITE_NAME} subscription is upgraded",
        expires=format_expiry(line.expires_at) if line.expires_at else "",
    )


# Why a line was suspended, in the customer's words, and what they can do about it.
_SUSPENSION_REASONS = {
    "payment refunded": (
        _("the payment for this subscription was refunded."),
        _("To keep watching, renew your subscription from your account."),
    ),
    "payment overdue": (
        _("the subscription expired and its renewal has not been paid."),
        _(
            "Renew it with the button below: your line works again the moment the payment is "
            "confirmed, with the same login."
        ),
    ),
    "payment disputed": (
        _("the payment for this subscription was disputed with your bank or card issuer."),
        _(
            "If the dispute was a mistake, withdraw it with your bank and let us know: we resume "
            "your line as soon as it is settled."
        ),
    ),
}


def line_suspended_email_send(*, line: Line, operation_id: int, reason: str = "") -> Message:
    """The line was suspended: why, and what to do. Once per suspension."""
    why, what_to_do = _SUSPENSION_REASONS.get(
        reason.strip().lower(),
        (
            # The operator's own words stay as typed.
            (reason.strip().rstrip(".") + ".") if reason.strip() else _("your provider paused it."),
            _("Contact us to find out how to resume it."),
        ),
    )
    overdue = reason.strip().lower() == "payment overdue"
    if overdue and line.auto_renew:
        # Charged by its gateway, which is still trying: paying by hand would charge twice.
        what_to_do = _(
            "We could not charge your card for the automatic renewal. Update your card from your "
            "account: your line works again the moment a payment goes through, with the same "
            "login."
        )
        overdue = False
    return _line_email_send(
        line=line,
        kind="line_suspended",
        operation_id=operation_id,
        subject=f"Your {settings.SITE_NAME} line is suspended",
        reason=why,
        what_to_do=what_to_do,
        pay_url=renewal_pay_url(renewal_pay_token(line)) if overdue else "",
    )


# --- the renewal lifecycle (provisioning/lifecycle.py) -----------------------------------------


def extra_connections_offer_url(line: Line) -> str:
    """Where a mail offering extra connections links (the welcome sequence's day-7 mail): the
    line's add-on page in the portal (signing in first), or "" when its plan sells none."""
    plan = line.plan
    if line.is_trial or not plan.sells_extra_connections:
        return ""
    if line.extra_connections >= plan.max_extra_connections:
        return ""
    return site_link(reverse("portal:addon", args=[line.pk]))


def renewal_pay_url(token: str) -> str:
    return site_link(reverse("storefront:renew", kwargs={"token": token}))


def message_exists(dedupe_key: str) -> bool:
    return Message.objects.filter(dedupe_key=dedupe_key).exists()


def _lifecycle_email_send(
    *,
    line: Line,
    kind: str,
    dedupe_key: str,
    subject: str,
    unsubscribe_url: str = "",
    **extra: Any,
) -> Message:
    return email_send(
        kind=kind,
        dedupe_key=dedupe_key,
        to_email=line.customer.email,
        template=_template(kind),
        subject=subject,
        context=lambda: {
            "name": greeting_name(_order_name(line.order)),
            "line": line,
            "plan": line.plan,
            "expires": format_expiry(line.expires_at) if line.expires_at else "",
            "pay_url": renewal_pay_url(renewal_pay_token(line)),
            "portal_url": portal_url(),
            **extra,
        },
        customer=line.customer,
        order=line.order,
        line=line,
        unsubscribe_url=unsubscribe_url,
    )


def _when_in_words(days: int) -> str:
    if days <= 0:
        return gettext("today")
    if days == 1:
        return gettext("tomorrow")
    return ngettext("in %(days)d day", "in %(days)d days", days) % {"days": days}


# Lazy: worded when the mail is rendered, in its reader's language.
_renewal_when = lazy(_when_in_words, str)


def renewal_reminder_email_send(*, line: Line, dedupe_key: str, days: int) -> Message:
    """Before expiry: when it ends, and a one-click pay link for this line."""
    when = _renewal_when(days)
    return _lifecycle_email_send(
        line=line,
        kind="renewal_reminder",
        dedupe_key=dedupe_key,
        subject=f"Your {settings.SITE_NAME} subscription ends {when}",
        when=when,
    )


def line_renewed_email_send(*, line: Line, operation_id: int) -> Message:
    """The panel confirmed the renewal: the new expiry, once per renewal."""
    return _lifecycle_email_send(
        line=line,
        kind="line_renewed",
        dedupe_key=f"line_renewed:operation:{operation_id}",
        subject=f"Your {settings.SITE_NAME} subscription is renewed",
    )


def line_terminated_email_send(*, line: Line, operation_id: int) -> Message:
    """Unpaid past the plan's termination point: the line is gone; how to start again."""
    return _lifecycle_email_send(
        line=line,
        kind="line_terminated",
        dedupe_key=f"line_terminated:operation:{operation_id}",
        subject=f"Your {settings.SITE_NAME} line has been closed",
        plans_url=site_link(reverse("storefront:plans")),
    )


def winback_email_send(*, line: Line, dedupe_key: str) -> Message:
    """Some time after termination: an invitation to come back."""
    return _lifecycle_email_send(
        line=line,
        kind="winback",
        dedupe_key=dedupe_key,
        subject=f"We miss you at {settings.SITE_NAME}",
        plans_url=site_link(reverse("storefront:plans")),
        unsubscribe_url=site_link(
            reverse("portal:unsubscribe", args=[unsubscribe_token(line.customer)])
        ),
    )


@stale_check_register("winback")
def _winback_is_stale(message: Message) -> str:
    customer = message.customer
    if customer is not None and customer.unsubscribed_at is not None:
        return "the customer unsubscribed"
    return ""


@stale_check_register("renewal_reminder")
def _reminder_is_stale(message: Message) -> str:
    line = Line.objects.filter(pk=message.line_id).first() if message.line_id else None
    if line is None:
        return ""
    if line.stage not in (Line.Stage.ACTIVE, Line.Stage.REMINDED, Line.Stage.GRACE):
        return "the line is no longer waiting for its renewal"
    # The reminder's key names the expiry it was about; a renewed line has another.
    if line.expires_at and f":{line.expires_at:%Y%m%d%H%M%S}:" not in (message.dedupe_key or ""):
        return "the line was renewed"
    return ""


# --- the back office's editable templates (messaging/templating.py) --------------------------
# Sample data for the editor's preview and for checking a template before it is saved: made-up
# values of the same shape as the real context, never a real customer.

_LINE_VARIABLES = (
    "name",
    "line.username",
    "line.password",
    "line.expires_at",
    "line.connections",
    "plan.name",
    "plan.duration_days",
    "expires",
    "portal_url",
)
_ACCESS_VARIABLES = (
    "is_mag",
    "access.asks_login",
    "access.sections.title",
    "access.sections.intro",
    "access.sections.items.label",
    "access.sections.items.value",
    "access.steps",
    "access.details.label",
    "access.details.value",
    "access.with_password.label",
    "access.with_password.value",
)


def _sample_context(**extra: Any) -> dict[str, Any]:
    line = SimpleNamespace(
        username="sample.viewer",
        password="k7Qm-sample-Zp4",
        requested_username="viewer",
        username_adjusted=False,
        expires_at=datetime(2027, 12, 1, 12, 0, tzinfo=UTC),
        connections=2,
    )
    server = AccessItem(key="server_url", label=_("Server"), value="http://tv.example.net:8080")
    playlist = AccessItem(
        key="m3u_url",
        label=_("M3U playlist"),
        value="http://tv.example.net:8080/get.php?username=sample.viewer&password=k7Qm-sample-Zp4",
        secret=True,
    )
    access = LineAccess(
        sections=(
            AccessSection(
                title=_("Server"),
                intro=_("For apps that ask for a server, a username and a password."),
                items=(server,),
            ),
            AccessSection(title=_("Playlist"), items=(playlist,)),
        ),
        steps=(
            _("Install a player app such as TiviMate or IPTV Smarters."),
            _("Choose “Xtream Codes” and enter the server, username and password above."),
        ),
    )
    return {
        "name": "Alex",
        "line": line,
        "plan": SimpleNamespace(
            name="Premium 12 months",
            duration_days=365,
            winback_text=_("Come back this week and your first month costs half."),
        ),
        "expires": format_expiry(line.expires_at),
        "access": access,
        "is_mag": False,
        "portal_url": f"{settings.SITE_URL}/portal/",
        "pay_url": f"{settings.SITE_URL}/renew/sample-token/",
        **extra,
    }


def _register(kind: str, label: Any, category: str, subject: Any, *variables: str, **sample: Any):
    mail_register(
        name=_template(kind),
        label=label,
        category=category,
        subject=subject,
        variables=(*_LINE_VARIABLES, *variables),
        sample=lambda: _sample_context(**sample),
    )


_register(
    "credentials",
    _("Credentials (line ready)"),
    Category.TRANSACTIONAL,
    _("Your {{ SITE_NAME }} login is ready"),
    *_ACCESS_VARIABLES,
    "line.requested_username",
    "line.username_adjusted",
    "guides_url",
    "magic_link_url",
    "magic_link_lifetime",
    "magic_link_button",
    "sets_password",
    guides_url="https://tv.example.net/portal/",
    magic_link_url="https://tv.example.net/portal/link/sample/",
    magic_link_lifetime=_("7 days"),
    magic_link_button=_("Choose a password"),
    sets_password=True,
)
mail_register(
    name=_template("provisioning_delayed"),
    label=_("Line on its way (panel slow)"),
    category=Category.TRANSACTIONAL,
    subject=_("Your {{ SITE_NAME }} line is on its way ({{ order.reference }})"),
    variables=("name", "order.reference", "plan.name", "status_url"),
    sample=lambda: {
        "name": "Alex",
        "order": SimpleNamespace(reference="BX-7Q2M9K"),
        "plan": SimpleNamespace(name="Premium 12 months"),
        "status_url": "https://tv.example.net/order/sample-token/",
    },
)
_register(
    "line_moved",
    _("Line moved to a new server"),
    Category.TRANSACTIONAL,
    _("New server details for your {{ SITE_NAME }} line"),
    *_ACCESS_VARIABLES,
)
_register(
    "line_password_changed",
    _("Line password changed"),
    Category.TRANSACTIONAL,
    _("Your {{ SITE_NAME }} line has a new password"),
    *_ACCESS_VARIABLES,
)
_register(
    "trial_converted",
    _("Trial converted to a paid subscription"),
    Category.TRANSACTIONAL,
    _("Your {{ SITE_NAME }} subscription is active"),
)
_register(
    "line_plan_changed",
    _("Plan upgraded or add-on active"),
    Category.TRANSACTIONAL,
    _("Your {{ SITE_NAME }} subscription is upgraded"),
)
_register(
    "line_suspended",
    _("Line suspended"),
    Category.TRANSACTIONAL,
    _("Your {{ SITE_NAME }} line is suspended"),
    "reason",
    "what_to_do",
    "pay_url",
    reason=_("the subscription expired and its renewal has not been paid."),
    what_to_do=_(
        "Renew it with the button below: your line works again the moment the payment is "
        "confirmed, with the same login."
    ),
)
_register(
    "renewal_reminder",
    _("Renewal reminder"),
    Category.TRANSACTIONAL,
    _("Your {{ SITE_NAME }} subscription ends {{ when }}"),
    "when",
    "pay_url",
    when=_("in 3 days"),
)
_register(
    "line_renewed",
    _("Subscription renewed"),
    Category.TRANSACTIONAL,
    _("Your {{ SITE_NAME }} subscription is renewed"),
    "pay_url",
)
_register(
    "line_terminated",
    _("Line closed (unpaid)"),
    Category.TRANSACTIONAL,
    _("Your {{ SITE_NAME }} line has been closed"),
    "plans_url",
    plans_url="https://tv.example.net/",
)
_register(
    "winback",
    _("Win-back offer"),
    Category.MARKETING,
    _("We miss you at {{ SITE_NAME }}"),
    "plans_url",
    "plan.winback_text",
    plans_url="https://tv.example.net/",
    unsubscribe_url="https://tv.example.net/portal/unsubscribe/sample/",
)
