"""The welcome mails as the back office's editable templates: written in the reader's language
(right to left for Arabic) with a translated subject, and an operator's wording of a step is the
mail that goes out."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from django.utils import translation

from boxoffice.messaging.emails import mail_template_save
from boxoffice.messaging.templating import Category, mail_definition, shipped_source
from boxoffice.messaging.tests.test_tracking import line  # noqa: F401 - fixture
from boxoffice.provisioning.models import OnboardingSettings
from boxoffice.provisioning.welcome_emails import WELCOME_KINDS, welcome_email_send
from boxoffice.storefront.tests.test_browser import browser  # noqa: F401 - fixture

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _site(settings):
    settings.SITE_NAME = "Demo TV"
    settings.SITE_URL = "https://tv.shop.test"


def test_every_welcome_mail_is_registered_as_onboarding():
    for kind in WELCOME_KINDS:
        definition = mail_definition(f"provisioning/email/{kind}")
        assert definition is not None, kind
        assert definition.category == Category.ONBOARDING


@pytest.mark.parametrize(
    ("step", "variant", "heading"),
    [
        ("day1", "watching", "Recommended apps"),
        ("day1", "not_watching", "Let's get you watching"),
        ("day3", "", "Your account, in one place"),
        ("day7", "", "One week in: how is it going?"),
    ],
)
def test_a_welcome_mail_to_an_arabic_customer_is_in_arabic_right_to_left(
    line,  # noqa: F811 - the fixture imported above
    step,
    variant,
    heading,
):
    line.customer.locale = "ar"
    line.customer.save(update_fields=["locale"])
    message = welcome_email_send(line=line, step=step, variant=variant)

    with translation.override("ar"):
        arabic_heading = translation.gettext(heading)
    assert arabic_heading != heading  # the catalogue has it
    assert arabic_heading in message.body_html
    assert heading not in message.body_html
    assert '<html lang="ar" dir="rtl">' in message.body_html
    assert 'dir="rtl"' in message.body_html.split("<body", 1)[1][:40]
    # The plain-text part too: greeted in Arabic, not in English.
    assert message.body_text.startswith("مرحبًا")
    assert "Hello" not in message.body_text
    # The subject is the registered one, translated, with the site's name filled in.
    assert "Demo TV" in message.subject
    assert not any(c.isascii() and c.isalpha() for c in message.subject.replace("Demo TV", ""))


def test_an_english_customer_still_gets_english(line):  # noqa: F811
    message = welcome_email_send(line=line, step="day7")
    assert message.subject == "One week with Demo TV: how is it going?"
    assert 'dir="ltr"' in message.body_html


def test_an_operators_wording_of_day3_is_what_is_sent(line):  # noqa: F811
    mail_template_save(
        definition=mail_definition("provisioning/email/welcome_day3"),
        language="en",
        subject="{{ name }}, your {{ plan.name }} on {{ SITE_NAME }}",
        html=(
            '{% extends "provisioning/email/welcome_base.html" %}{% block content %}'
            "<p>Edited day 3 for {{ name }}: {{ connections }} screens.</p>"
            '<p><a href="{{ portal_url }}">Portal</a></p>{% endblock %}'
        ),
        text="Edited day 3 text for {{ name }} ({{ plan.name }}).",
    )
    message = welcome_email_send(line=line, step="day3")

    assert message.subject == "there, your Monthly on Demo TV"
    assert "Edited day 3 for there: 1 screens." in message.body_html
    assert "In your account you can copy" not in message.body_html
    assert message.body_text.strip() == "Edited day 3 text for there (Monthly)."
    # The operator's wording keeps the onboarding foot: its own unsubscribe link.
    assert "from welcome tips like this one" in message.body_html
    assert "/portal/unsubscribe/" in message.headers["List-Unsubscribe"]


def test_an_operators_wording_in_english_leaves_the_arabic_mail_alone(line):  # noqa: F811
    mail_template_save(
        definition=mail_definition("provisioning/email/welcome_day3"),
        language="en",
        subject="Edited",
        html='{% extends "provisioning/email/welcome_base.html" %}{% block content %}x{% endblock %}',
        text="Edited",
    )
    line.customer.locale = "ar"
    line.customer.save(update_fields=["locale"])
    message = welcome_email_send(line=line, step="day3")
    assert message.subject != "Edited"
    assert 'dir="rtl"' in message.body_html


SHOTS = Path(
    os.environ.get(
        "BOXOFFICE_WELCOME_SCREENSHOTS",
        Path(__file__).resolve().parents[3] / "test-artifacts" / "screenshots" / "welcome",
    )
)


@pytest.mark.browser
@pytest.mark.parametrize("width", [360, 1280])
@pytest.mark.parametrize("language", ["en", "ar"])
def test_each_welcome_mail_lays_out_in_english_and_arabic(
    line,  # noqa: F811
    browser,  # noqa: F811 - the fixture imported above
    language,
    width,
):
    """Every mail with every block shown (support, community, films, add-on), as a mail client
    shows it: nothing wider than the screen, and in Arabic the text runs right to left while
    addresses and prices keep their own left-to-right order."""
    config = OnboardingSettings.objects.create(
        pk=1,
        community_url="https://community.example.test/",
        knowledge_base_url="https://help.example.test/",
        support_url="https://help.example.test/contact/",
    )
    config.vod_plans.add(line.plan)
    line.customer.locale = language
    line.customer.save(update_fields=["locale"])
    SHOTS.mkdir(parents=True, exist_ok=True)
    for step, variant in [
        ("day1", "watching"),
        ("day1", "not_watching"),
        ("day3", ""),
        ("day7", ""),
    ]:
        message = welcome_email_send(line=line, step=step, variant=variant)
        message.dedupe_key = None  # the second day-1 variant needs its own key
        message.save(update_fields=["dedupe_key"])
        page = browser.new_page(viewport={"width": width, "height": 900})
        page.set_content(message.body_html)
        name = f"{step}{'-' + variant if variant else ''}"
        page.screenshot(path=str(SHOTS / f"welcome-{name}-{language}-{width}.png"), full_page=True)
        assert page.evaluate("document.documentElement.scrollWidth") <= width + 1, name
        direction = page.evaluate("getComputedStyle(document.querySelector('h1')).direction")
        assert direction == ("rtl" if language == "ar" else "ltr"), name
        # A link's text (an address, an app's name) is laid out by its own characters.
        assert page.evaluate("getComputedStyle(document.querySelector('a')).unicodeBidi") == (
            "plaintext"
        )
        page.close()


def test_the_back_office_lists_and_previews_the_welcome_mails(admin_client):
    listing = admin_client.get("/admin/messaging/mailtemplate/mails/")
    assert listing.status_code == 200
    for label in ("Welcome, day 1: tips", "Welcome, day 3", "Welcome, day 7"):
        assert label in listing.content.decode()
    name = "provisioning/email/welcome_day1_start"
    with translation.override("ar"):
        subject = str(mail_definition(name).subject)  # the editor's starting point in Arabic
    answer = admin_client.post(
        "/admin/messaging/mailtemplate/preview/",
        {
            "name": name,
            "language": "ar",
            "subject": subject,
            "html": shipped_source(name, "html"),
            "text": shipped_source(name, "txt"),
        },
    )
    assert answer.status_code == 200
    data = answer.json()
    assert data["subject"] == "لنبدأ المشاهدة على Demo TV"
    assert 'dir="rtl"' in data["html"]
    assert "TiviMate" in data["html"]  # the sample's device guides
    assert data["text"].startswith("مرحبًا Alex")
