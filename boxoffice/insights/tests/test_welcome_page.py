"""The back office's welcome sequence page: rates per template and step, and a preview of both
day-1 variants (and the other mails) on sample data."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from boxoffice.messaging.models import Message, MessageTracking
from boxoffice.provisioning.models import Line, OnboardingStep

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client, db):
    user = get_user_model().objects.create_user(
        "operator", "op@operator.test", "pw", is_staff=True, is_superuser=True
    )
    client.force_login(user)
    return client


def _sent(kind: str, *, opened: bool = False, clicked: bool = False) -> Message:
    message = Message.objects.create(
        kind=kind, to_email="a@example.test", subject="s", body_text="t", status="sent"
    )
    now = timezone.now()
    MessageTracking.objects.create(
        message=message,
        first_opened_at=now if opened or clicked else None,
        first_clicked_at=now if clicked else None,
    )
    return message


def test_it_shows_open_and_click_rates_per_template_and_step(staff_client, plan, customer):
    line = Line.objects.create(
        customer=customer, plan=plan, panel=plan.panel_mappings.first().panel, username="u1"
    )
    other = Line.objects.create(
        customer=customer, plan=plan, panel=plan.panel_mappings.first().panel, username="u2"
    )
    tips = _sent("welcome_day1", opened=True)
    start = _sent("welcome_day1_start", clicked=True)
    _sent("welcome_day1_start")
    now = timezone.now()
    OnboardingStep.objects.create(
        line=line, step="day1", due_at=now, status="sent", variant="watching", message=tips
    )
    OnboardingStep.objects.create(
        line=other, step="day1", due_at=now, status="sent", variant="not_watching", message=start
    )
    OnboardingStep.objects.create(line=line, step="day3", due_at=now)

    page = staff_client.get("/backoffice/welcome/").content.decode()

    tips_row = page.split('data-template="welcome_day1"')[1].split("</tr>")[0]
    assert "<td>1</td><td>1</td>" in tips_row and "100 %" in tips_row
    start_row = page.split('data-template="welcome_day1_start"')[1].split("</tr>")[0]
    assert "<td>2</td><td>1</td>" in start_row and "50 %" in start_row
    day1 = page.split('data-step="day1"')[1].split("</tr>")[0]
    # Two day-1 mails sent, both opened (a click counts), one clicked; one of each variant.
    assert "<td>2</td>" in day1 and "100 %" in day1 and "50 %" in day1
    assert day1.count("<td>1</td>") == 2
    day3 = page.split('data-step="day3"')[1].split("</tr>")[0]
    assert "<td>1</td><td>0</td>" in day3  # one scheduled, none skipped


@pytest.mark.parametrize(
    ("kind", "words"),
    [
        ("welcome_day1", "Recommended apps"),
        ("welcome_day1_start", "get you watching"),
        ("welcome_day3", "Your account, in one place"),
        ("welcome_day7", "how is it going"),
    ],
)
def test_it_previews_each_welcome_mail_on_sample_data(staff_client, kind, words):
    response = staff_client.get(f"/backoffice/welcome/preview/{kind}/")

    assert response.status_code == 200
    page = response.content.decode()
    assert words in page
    assert "srcdoc=" in page and "data-text" in page


def test_the_pages_are_for_staff_only(client, db):
    assert client.get("/backoffice/welcome/").status_code == 302
    assert client.get("/backoffice/welcome/preview/welcome_day1/").status_code == 302


def test_an_unknown_template_is_a_404(staff_client):
    assert staff_client.get("/backoffice/welcome/preview/credentials/").status_code == 404
