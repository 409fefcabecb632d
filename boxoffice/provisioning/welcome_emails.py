"""The welcome sequence's mails (after the credentials mail, which is `emails.py`'s): day 1 in
two variants (already watching: tips; not yet: "let's get you watching"), day 3 and day 7.

Onboarding mail is non-transactional: tracked (opens, clicks; `messaging/tracking.py`), with
its own unsubscribe category (`onboarding`) in a link at its foot and the RFC 8058 headers.
Templates: `provisioning/email/welcome_<kind>.{html,txt}`, every human string translatable.
No password or secret link is in these mails (they are tracked and may be forwarded): the
customer's details are one click away in the portal and in the credentials mail.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

from django.conf import settings
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from boxoffice.customers.services import ONBOARDING, unsubscribe_token
from boxoffice.lib.exists import rows_exist
from boxoffice.messaging.emails import email_render, greeting_name, site_link
from boxoffice.messaging.models import Message
from boxoffice.messaging.services import stale_check_register
from boxoffice.messaging.templating import Category, mail_register
from boxoffice.messaging.tracking import tracked_email_send
from boxoffice.provisioning.emails import extra_connections_offer_url, portal_url
from boxoffice.provisioning.models import Line, OnboardingSettings, OnboardingStep

Step = OnboardingStep.Step
Variant = OnboardingStep.Variant

# Message kinds, one per template (the report's rates are per kind and per step).
KIND_DAY1_TIPS = "welcome_day1"
KIND_DAY1_START = "welcome_day1_start"
KIND_DAY3 = "welcome_day3"
KIND_DAY7 = "welcome_day7"
WELCOME_KINDS = (KIND_DAY1_TIPS, KIND_DAY1_START, KIND_DAY3, KIND_DAY7)


@dataclass(frozen=True)
class RecommendedApp:
    name: str
    url: str


@dataclass(frozen=True)
class DeviceGuide:
    device: str
    apps: tuple[RecommendedApp, ...]
    how: str


def device_guides(*, is_mag: bool) -> list[DeviceGuide]:
    """Recommended players per device, with where to get them (the vendors' own pages)."""
    guides = [
        DeviceGuide(
            _("Android phone, Android TV, Fire TV"),
            (
                RecommendedApp("TiviMate", "https://tivimate.com/"),
                RecommendedApp("IPTV Smarters Pro", "https://www.iptvsmarters.com/"),
            ),
            _('Choose "Xtream Codes" and enter your username, password and server URL.'),
        ),
        DeviceGuide(
            _("iPhone, iPad, Apple TV"),
            (
                RecommendedApp(
                    "IPTV Smarters Pro",
                    "https://apps.apple.com/app/smarters-player-lite/id1628995509",
                ),
                RecommendedApp("GSE Smart IPTV", "https://gsesmartiptv.com/"),
            ),
            _('Add a playlist with "Xtream Codes API" and enter your login.'),
        ),
        DeviceGuide(
            _("Smart TV (Samsung, LG)"),
            (RecommendedApp("IBO Player", "https://iboplayer.com/"),),
            _("Install the app from your TV's store, then add your playlist on its website."),
        ),
        DeviceGuide(
            _("Computer"),
            (RecommendedApp("VLC", "https://www.videolan.org/vlc/"),),
            _("Media > Open Network Stream, then paste your M3U playlist link from the portal."),
        ),
    ]
    if is_mag:
        guides.insert(
            0,
            DeviceGuide(
                _("MAG / Formuler box"),
                (),
                _(
                    "Settings > Servers > Portals: enter the portal URL from your login mail, "
                    "save and restart the box."
                ),
            ),
        )
    return guides


def _onboarding_settings_saved():
    return OnboardingSettings.objects.filter(pk=1)


def onboarding_settings() -> OnboardingSettings:
    # Until an operator saves them, the defaults: no read of the row (one precompiled EXISTS).
    found = (
        OnboardingSettings.objects.filter(pk=1).first()
        if rows_exist(_onboarding_settings_saved)
        else None
    )
    return found if found is not None else OnboardingSettings(pk=1)


def _common(line: Line, config: OnboardingSettings) -> dict[str, Any]:
    return {
        "name": greeting_name(line.order.name if line.order is not None else ""),
        "line": line,
        "plan": line.plan,
        "is_mag": line.device == "mag",
        "portal_url": portal_url(),
        "knowledge_base_url": config.knowledge_base_url or portal_url(),
        "support_url": config.support_url,
    }


def _day1_context(line: Line, config: OnboardingSettings) -> dict[str, Any]:
    return {**_common(line, config), "guides": device_guides(is_mag=line.device == "mag")}


def _day3_context(line: Line, config: OnboardingSettings) -> dict[str, Any]:
    plan = line.plan
    has_vod = config.pk is not None and config.vod_plans.filter(pk=plan.pk).exists()
    return {
        **_common(line, config),
        "has_vod": has_vod,
        "connections": line.connections,
        # More devices where the plan allows: its own connections, or extra ones to buy.
        "more_devices": line.connections > 1,
        "addon_url": extra_connections_offer_url(line),
    }


def _day7_context(line: Line, config: OnboardingSettings) -> dict[str, Any]:
    plan = line.plan
    addon_url = extra_connections_offer_url(line)
    return {
        **_common(line, config),
        "community_url": config.community_url,
        "addon_url": addon_url,
        "addon_price": plan.extra_connection_price if addon_url else None,
        "addon_currency": plan.currency,
    }


# The subjects are templates like every registered mail's (the back office shows and edits them),
# translated when the mail is rendered in its reader's language.
_SUBJECTS = {
    KIND_DAY1_TIPS: gettext_lazy(
        "Get more out of {{ SITE_NAME }}: apps, settings and the TV guide"
    ),
    KIND_DAY1_START: gettext_lazy("Let's get you watching {{ SITE_NAME }}"),
    KIND_DAY3: gettext_lazy("Your {{ SITE_NAME }} account: the portal and what is in your plan"),
    KIND_DAY7: gettext_lazy("One week with {{ SITE_NAME }}: how is it going?"),
}


def _subject(kind: str):
    return _SUBJECTS[kind]


def welcome_kind(step: str, variant: str) -> str:
    if step == Step.DAY1:
        return KIND_DAY1_START if variant == Variant.NOT_WATCHING else KIND_DAY1_TIPS
    return {Step.DAY3.value: KIND_DAY3, Step.DAY7.value: KIND_DAY7}[step]


def welcome_context(line: Line, kind: str) -> dict[str, Any]:
    config = onboarding_settings()
    if kind in (KIND_DAY1_TIPS, KIND_DAY1_START):
        return _day1_context(line, config)
    if kind == KIND_DAY3:
        return _day3_context(line, config)
    return _day7_context(line, config)


def welcome_email_send(*, line: Line, step: str, variant: str = "") -> Message:
    """Record (tracked) the welcome mail of one step, once per line and step."""
    kind = welcome_kind(step, variant)
    return tracked_email_send(
        kind=kind,
        dedupe_key=f"welcome:{step}:line:{line.pk}",
        to_email=line.customer.email,
        template=f"provisioning/email/{kind}",
        subject=_subject(kind),
        context=lambda: welcome_context(line, kind),
        customer=line.customer,
        order=line.order,
        line=line,
        unsubscribe_url=site_link(
            reverse("portal:unsubscribe", args=[unsubscribe_token(line.customer, ONBOARDING)])
        ),
    )


def welcome_preview_render(*, line: Line, kind: str):
    """A welcome mail as it would go to this line now, for the back office (not recorded)."""
    context = {
        **welcome_context(line, kind),
        "unsubscribe_url": site_link(
            reverse("portal:unsubscribe", args=[unsubscribe_token(line.customer, ONBOARDING)])
        ),
    }
    return email_render(
        template=f"provisioning/email/{kind}", subject=_subject(kind), context=context
    )


def _welcome_is_stale(message: Message) -> str:
    """Right before SMTP: a welcome mail queued for a line cancelled (or a customer who
    unsubscribed) since it was recorded is dropped."""
    line = (
        Line.objects.select_related("customer", "order").filter(pk=message.line_id).first()
        if message.line_id
        else None
    )
    if line is None:
        return "the line is gone"
    return welcome_skip_reason(line)


for _kind in WELCOME_KINDS:
    stale_check_register(_kind)(_welcome_is_stale)


def welcome_skip_reason(line: Line) -> str:
    """Why a line's welcome mail no longer goes out, or "" to send it."""
    if line.customer.onboarding_unsubscribed_at is not None:
        return "the customer unsubscribed from welcome mail"
    if line.status != Line.Status.ACTIVE:
        return f"the line is {line.get_status_display().lower()}"
    if line.stage not in (Line.Stage.ACTIVE, Line.Stage.REMINDED):
        return f"the line is in {line.get_stage_display().lower()}"
    order = line.order
    if order is not None and order.status in ("refunded", "cancelled", "disputed"):
        return f"the order is {order.status}"
    return ""


# --- the back office's editable templates (messaging/templating.py) ----------------------------

_COMMON_VARIABLES = (
    "name",
    "plan.name",
    "is_mag",
    "portal_url",
    "knowledge_base_url",
    "support_url",
)
_GUIDE_VARIABLES = ("guides.device", "guides.apps.name", "guides.apps.url", "guides.how")


def _sample(**extra: Any) -> dict[str, Any]:
    """Made-up data for the preview and the editor's check: nobody's real line."""
    site = settings.SITE_URL
    return {
        "name": "Alex",
        "plan": SimpleNamespace(name="Premium 12 months"),
        "is_mag": False,
        "portal_url": f"{site}/portal/",
        "knowledge_base_url": f"{site}/help/",
        "support_url": f"{site}/support/",
        **extra,
    }


def _day1_sample() -> dict[str, Any]:
    return _sample(guides=device_guides(is_mag=False))


_LABELS = {
    KIND_DAY1_TIPS: gettext_lazy("Welcome, day 1: tips (already watching)"),
    KIND_DAY1_START: gettext_lazy("Welcome, day 1: let's get you watching (not watching yet)"),
    KIND_DAY3: gettext_lazy("Welcome, day 3: the portal and the plan"),
    KIND_DAY7: gettext_lazy("Welcome, day 7: how is it going?"),
}
_REGISTRATIONS: dict[str, tuple[tuple[str, ...], Any]] = {
    KIND_DAY1_TIPS: (_GUIDE_VARIABLES, _day1_sample),
    KIND_DAY1_START: (_GUIDE_VARIABLES, _day1_sample),
    KIND_DAY3: (
        ("has_vod", "connections", "more_devices", "addon_url"),
        lambda: _sample(
            has_vod=True,
            connections=2,
            more_devices=True,
            addon_url=f"{settings.SITE_URL}/portal/add-connection/sample/",
        ),
    ),
    KIND_DAY7: (
        ("community_url", "addon_url", "addon_price", "addon_currency"),
        lambda: _sample(
            community_url="https://community.example.net/",
            addon_url=f"{settings.SITE_URL}/portal/add-connection/sample/",
            addon_price=Decimal("3.00"),
            addon_currency="EUR",
        ),
    ),
}
for _kind, (_variables, _sample_builder) in _REGISTRATIONS.items():
    mail_register(
        name=f"provisioning/email/{_kind}",
        label=_LABELS[_kind],
        category=Category.ONBOARDING,
        subject=_SUBJECTS[_kind],
        variables=(*_COMMON_VARIABLES, *_variables),
        sample=_sample_builder,
    )
