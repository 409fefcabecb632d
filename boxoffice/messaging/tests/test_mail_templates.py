"""Editable mail templates: the operator's wording wins, a reset restores the shipped one, a
broken wording is refused with its line and reason, and the sandbox shows only what a mail
declares."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.test import Client

from boxoffice.billing.emails import payment_pending_email_send
from boxoffice.messaging.emails import (
    email_render,
    mail_template_reset,
    mail_template_save,
)
from boxoffice.messaging.models import MailTemplate
from boxoffice.messaging.templating import (
    MailTemplateInvalid,
    mail_definition,
    mail_definitions,
    sample_values,
    shipped_source,
)

PENDING = "billing/email/payment_pending"
HTML = '{% extends "messaging/email/base.html" %}{% block content %}<p>Custom {{ order.reference }} for {{ name }}</p>{% endblock %}'
TEXT = '{% extends "messaging/email/base.txt" %}{% block content %}Custom text {{ order.reference }}{% endblock %}'


@pytest.fixture
def staff(db):
    user = User.objects.create_user(
        "ops", "ops@example.test", "pw", is_staff=True, is_superuser=True
    )
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    return client


def _csrf(client: Client, url: str) -> str:
    client.get(url)
    return client.cookies["csrftoken"].value


def test_it_registers_every_mail_the_apps_send():
    names = {d.name for d in mail_definitions()}
    assert {
        "provisioning/email/credentials",
        "provisioning/email/renewal_reminder",
        "provisioning/email/winback",
        "provisioning/email/line_password_changed",
        "billing/email/subscription_payment_failed",
        "billing/email/payment_receipt",
        "portal/email/password_reset",
        "portal/email/magic_link",
        "provisioning/email/welcome_day1",
        "provisioning/email/welcome_day1_start",
        "provisioning/email/welcome_day3",
        "provisioning/email/welcome_day7",
    } <= names
    assert len(names) == 22


@pytest.mark.parametrize("name", sorted(d.name for d in mail_definitions()))
def test_each_shipped_template_renders_the_same_in_the_sandbox(db, name):
    """The declared variables are enough for the shipped wording: an operator who saves it
    unchanged sends the same mail."""
    definition = mail_definition(name)
    values = sample_values(definition)
    plain = email_render(template=name, subject="fallback", context=dict(values))
    MailTemplate.objects.create(
        name=name,
        language="en",
        subject=str(definition.subject),
        html=shipped_source(name, "html"),
        text=shipped_source(name, "txt"),
    )
    sandboxed = email_render(template=name, subject="fallback", context=dict(values))
    assert sandboxed == plain
    assert "{{" not in plain.subject


def test_the_override_wins_and_reset_restores_the_shipped_wording(make_order):
    order = make_order()
    definition = mail_definition(PENDING)
    mail_template_save(
        definition=definition,
        language="en",
        subject="Hold on, {{ order.reference }}",
        html=HTML,
        text=TEXT,
    )
    message = payment_pending_email_send(order=order)
    assert message.subject == f"Hold on, {order.reference}"
    assert f"Custom {order.reference} for Jane" not in message.body_html  # the order has no name
    assert f"Custom {order.reference} for" in message.body_html
    assert message.body_text.startswith(f"Custom text {order.reference}")

    assert mail_template_reset(name=PENDING, language="en")
    assert not MailTemplate.objects.exists()
    order2 = make_order()
    again = payment_pending_email_send(order=order2)
    assert again.subject == f"We are processing your payment ({order2.reference})"
    assert "Custom" not in again.body_html


def test_an_override_in_another_language_leaves_english_alone(make_order):
    mail_template_save(
        definition=mail_definition(PENDING), language="de", subject="Geduld", html=HTML, text=TEXT
    )
    message = payment_pending_email_send(order=make_order())
    assert message.subject.startswith("We are processing your payment")


def test_a_syntax_error_is_refused_with_its_line_and_reason(db):
    broken = HTML.replace("<p>", "\n\n<p>{% if name %}")  # an {% if %} never closed, line 3
    with pytest.raises(MailTemplateInvalid) as caught:
        mail_template_save(
            definition=mail_definition(PENDING), language="en", subject="S", html=broken, text=TEXT
        )
    problem = caught.value.problem
    assert (problem.part, problem.line) == ("html", 3)
    assert "endif" in problem.reason
    assert not MailTemplate.objects.exists()


def test_a_template_that_fails_to_render_on_the_sample_is_refused(db):
    broken = TEXT.replace("Custom text", 'Custom\ntext {% include "messaging/email/nope.txt" %}')
    with pytest.raises(MailTemplateInvalid) as caught:
        mail_template_save(
            definition=mail_definition(PENDING), language="en", subject="S", html=HTML, text=broken
        )
    problem = caught.value.problem
    assert (problem.part, problem.line) == ("text", 2)
    assert "nope.txt" in problem.reason
    assert not MailTemplate.objects.exists()


@pytest.mark.parametrize(
    "source",
    [
        "{% debug %}",
        "{% load static %}{% static 'x' %}",
        "{% load log %}",
    ],
)
def test_dangerous_tags_are_refused(db, source):
    with pytest.raises(MailTemplateInvalid):
        mail_template_save(
            definition=mail_definition(PENDING), language="en", subject="S", html=source, text=TEXT
        )


def test_the_sandbox_reaches_only_declared_variables(make_order, settings):
    settings.SECRET_KEY = "the-secret-key-value-that-must-not-leak-0123456789"
    order = make_order()
    order.customer.user = User.objects.create_user("c", password="pw")
    order.customer.save()
    mail_template_save(
        definition=mail_definition(PENDING),
        language="en",
        subject="S",
        html=HTML.replace(
            "Custom",
            "[{{ order.customer.email }}|{{ order.customer.user.password }}|{{ settings.SECRET_KEY }}"
            "|{{ order.status_token }}|{{ order.plan.name }}]",
        ),
        text=TEXT,
    )
    body = payment_pending_email_send(order=order).body_html
    assert "[||||]" in body
    assert settings.SECRET_KEY not in body
    assert "pbkdf2" not in body


def test_the_editor_lists_every_mail_and_saves_a_valid_template(staff):
    index = staff.get("/admin/messaging/mailtemplate/mails/")
    assert index.status_code == 200
    assert b"Renewal reminder" in index.content
    url = f"/admin/messaging/mailtemplate/mails/en/{PENDING}/"
    page = staff.get(url)
    assert page.status_code == 200
    assert b"order.reference" in page.content  # the variables beside the editor
    assert b"We are processing your payment" in page.content  # the shipped wording to start from
    token = staff.cookies["csrftoken"].value
    saved = staff.post(
        url,
        {
            "csrfmiddlewaretoken": token,
            "action": "save",
            "subject": "S",
            "html": HTML,
            "text": TEXT,
        },
    )
    assert saved.status_code == 302
    assert MailTemplate.objects.get(name=PENDING, language="en").updated_by.username == "ops"
    refused = staff.post(
        url,
        {
            "csrfmiddlewaretoken": token,
            "action": "save",
            "subject": "S",
            "html": "{% if %}",
            "text": TEXT,
        },
    )
    assert refused.status_code == 200
    assert "html, line 1" in refused.content.decode()
    assert MailTemplate.objects.get(name=PENDING, language="en").html == HTML  # not overwritten
    reset = staff.post(url, {"csrfmiddlewaretoken": token, "action": "reset"})
    assert reset.status_code == 302
    assert not MailTemplate.objects.exists()


def test_the_preview_renders_sample_data_html_and_text(staff):
    token = _csrf(staff, "/admin/messaging/mailtemplate/")
    answer = staff.post(
        "/admin/messaging/mailtemplate/preview/",
        {
            "csrfmiddlewaretoken": token,
            "name": PENDING,
            "language": "ar",
            "subject": "S {{ order.reference }}",
            "html": HTML,
            "text": TEXT,
        },
    )
    assert answer.status_code == 200
    data = answer.json()
    assert data["subject"] == "S BX-7Q2M9K"
    assert "Custom BX-7Q2M9K for Alex" in data["html"]
    assert 'dir="rtl"' in data["html"]
    assert data["text"].startswith("Custom text BX-7Q2M9K")
    broken = staff.post(
        "/admin/messaging/mailtemplate/preview/",
        {
            "csrfmiddlewaretoken": token,
            "name": PENDING,
            "language": "en",
            "subject": "S",
            "html": "a\n{{ x|nofilter }}",
            "text": TEXT,
        },
    )
    assert broken.status_code == 400
    assert broken.json()["line"] == 2 and broken.json()["part"] == "html"


def test_the_preview_requires_csrf_and_staff(staff, db):
    form = {"name": PENDING, "language": "en", "subject": "S", "html": HTML, "text": TEXT}
    assert staff.post("/admin/messaging/mailtemplate/preview/", form).status_code == 403
    anonymous = Client()
    answer = anonymous.post("/admin/messaging/mailtemplate/preview/", form)
    assert answer.status_code == 302 and "/login/" in answer["Location"]
    customer_user = User.objects.create_user("cust", password="pw")
    anonymous.force_login(customer_user)
    assert anonymous.post("/admin/messaging/mailtemplate/preview/", form).status_code == 302
