"""The welcome sequence across the first eight days, against the XUI One emulator over HTTP with
mail on a loopback SMTP server: four mails in order, the day-1 variant by what the panel reports,
unsubscribed and cancelled customers, and a worker that was stopped for two days."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.test import Client

from boxoffice.billing.services import order_mark_paid
from boxoffice.customers.models import Customer
from boxoffice.messaging.models import Message
from boxoffice.messaging.services import messages_deliver_due
from boxoffice.provisioning.models import LineActivity, OnboardingSettings, OnboardingStep
from boxoffice.provisioning.onboarding import onboarding_run
from boxoffice.provisioning.services import line_operator_request

pytestmark = pytest.mark.django_db(transaction=True)

T0 = datetime(2027, 3, 1, 12, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)


class Week:
    """Customers who bought a line at T0, a clock, and the worker's passes."""

    def __init__(self, clock, make_order, run_tasks, inbox, emulator):
        self.clock, self.make_order, self.run_tasks = clock, make_order, run_tasks
        self.inbox, self.emulator = inbox, emulator

    def buy(self, email: str):
        customer = Customer.objects.create(email=email, name=email.split("@")[0].title())
        order = self.make_order(customer=customer, name=customer.name)
        assert order_mark_paid(order=order, gateway_payment_id=f"pay_{customer.pk}")
        self.run_tasks()
        return order.lines.get()

    def at(self, moment: datetime) -> None:
        """The scheduler's passes at that moment, then whatever they queued."""
        self.clock.move_to(moment)
        onboarding_run()
        self.run_tasks()
        messages_deliver_due()

    def walk(self, until: datetime, *, step: timedelta = 3 * HOUR, start: datetime | None = None):
        moment = start or T0
        while moment <= until:
            self.at(moment)
            moment += step

    def subjects_to(self, email: str) -> list[str]:
        return [m["Subject"] for m in self.inbox.messages() if m["To"] == email]

    def received(self, email: str) -> list:
        return [m for m in self.inbox.messages() if m["To"] == email]


@pytest.fixture
def week(make_order, run_tasks, smtp_inbox, xui_emulator, settings, plan):
    settings.SITE_NAME = "Demo TV"
    plan.extra_connection_price = Decimal("3.00")
    plan.max_extra_connections = 2
    plan.save()
    with time_machine.travel(T0, tick=False) as clock:
        yield Week(clock, make_order, run_tasks, smtp_inbox, xui_emulator)


def unsubscribe_url(mail) -> str:
    # Long header values arrive folded over lines.
    return re.fullmatch(r"<(.+)>", re.sub(r"\s+", "", str(mail["List-Unsubscribe"]))).group(1)


def _kinds(line) -> list[str]:
    return list(
        Message.objects.filter(line=line, status=Message.Status.SENT)
        .order_by("sent_at", "pk")
        .values_list("kind", flat=True)
    )


def test_it_sends_exactly_four_mails_in_order_over_eight_days(week, xui_emulator, settings):
    watching = week.buy("watcher@example.test")
    idle = week.buy("idle@example.test")
    # The first customer starts watching an hour in; the second never connects.
    week.walk(T0 + 2 * HOUR, step=HOUR)
    xui_emulator.simulate_watching(watching.username)

    week.walk(T0 + 8 * DAY, start=T0 + 3 * HOUR)

    assert _kinds(watching) == [
        "credentials",
        "welcome_day1",
        "welcome_day3",
        "welcome_day7",
    ]
    assert _kinds(idle) == [
        "credentials",
        "welcome_day1_start",
        "welcome_day3",
        "welcome_day7",
    ]
    assert week.subjects_to("watcher@example.test") == [
        "Your Demo TV login is ready",
        "Get more out of Demo TV: apps, settings and the TV guide",
        "Your Demo TV account: the portal and what is in your plan",
        "One week with Demo TV: how is it going?",
    ]
    assert week.subjects_to("idle@example.test")[1] == "Let's get you watching Demo TV"
    # Each on its day, not before: the day-1 mail a day after activation, and so on.
    sent = dict(Message.objects.filter(line=watching).values_list("kind", "sent_at"))
    assert T0 + DAY <= sent["welcome_day1"] < T0 + DAY + 3 * HOUR
    assert T0 + 3 * DAY <= sent["welcome_day3"] < T0 + 3 * DAY + 3 * HOUR
    assert T0 + 7 * DAY <= sent["welcome_day7"] < T0 + 7 * DAY + 3 * HOUR
    steps = dict(OnboardingStep.objects.filter(line=watching).values_list("step", "variant"))
    assert steps["day1"] == "watching"
    assert OnboardingStep.objects.get(line=idle, step="day1").variant == "not_watching"
    assert LineActivity.objects.get(line=watching).first_watched_at is not None
    assert LineActivity.objects.get(line=idle).first_watched_at is None

    # The not-watching mail carries the device guide and the direct support address.
    start_mail = week.received("idle@example.test")[1]
    text = start_mail.get_body(("plain",)).get_content()
    assert "TiviMate" in text
    assert settings.SUPPORT_EMAIL in text
    day7 = week.received("watcher@example.test")[3].get_body(("plain",)).get_content()
    assert "3.00 EUR" in day7
    assert f"/portal/lines/{watching.pk}/connections/" in day7
    # Nothing more after the week.
    week.walk(T0 + 12 * DAY, start=T0 + 8 * DAY + 6 * HOUR, step=12 * HOUR)
    assert len(week.received("watcher@example.test")) == 4


def test_the_onboarding_mails_carry_one_click_unsubscribe_and_the_credentials_do_not(week):
    line = week.buy("ann@example.test")
    week.walk(T0 + DAY + HOUR)

    credentials, day1 = week.received("ann@example.test")
    assert credentials["List-Unsubscribe"] is None
    assert day1["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    url = unsubscribe_url(day1)
    assert "/portal/unsubscribe/" in url
    # The credentials mail is transactional: not tracked.
    assert "/m/o/" not in credentials.get_body(("html",)).get_content()
    assert "/m/o/" in day1.get_body(("html",)).get_content()
    assert line.customer.onboarding_unsubscribed_at is None


def test_an_unsubscribed_customer_gets_no_day3_and_no_day7_mail(week):
    line = week.buy("leaver@example.test")
    week.walk(T0 + DAY + HOUR)
    [_, day1] = week.received("leaver@example.test")
    url = unsubscribe_url(day1)
    path = url.split("://", 1)[1].split("/", 1)[1]

    # As a mailbox provider sends it: a bare POST, no cookie, no CSRF token.
    response = Client(enforce_csrf_checks=True).post(
        "/" + path,
        data="List-Unsubscribe=One-Click",
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 200
    line.customer.refresh_from_db()
    assert line.customer.onboarding_unsubscribed_at is not None
    assert line.customer.unsubscribed_at is None  # marketing is another choice

    week.walk(T0 + 8 * DAY, start=T0 + DAY + 3 * HOUR)

    assert _kinds(line) == ["credentials", "welcome_day1_start"]
    reasons = set(
        OnboardingStep.objects.filter(line=line, status="skipped").values_list(
            "skip_reason", flat=True
        )
    )
    assert reasons == {"the customer unsubscribed from welcome mail"}


def test_a_cancelled_line_gets_no_welcome_mail_after_cancelling(week):
    line = week.buy("quitter@example.test")
    week.walk(T0 + 2 * DAY)
    line_operator_request(line=line, action="terminate", actor="ops")
    week.run_tasks()
    line.refresh_from_db()
    assert line.status == "cancelled"

    week.walk(T0 + 8 * DAY, start=T0 + 2 * DAY + 3 * HOUR)

    assert _kinds(line) == ["credentials", "welcome_day1_start"]
    assert set(OnboardingStep.objects.filter(line=line).values_list("step", "status")) == {
        ("day1", "sent"),
        ("day3", "skipped"),
        ("day7", "skipped"),
    }


def test_a_worker_stopped_for_two_days_sends_each_overdue_mail_once(week):
    line = week.buy("patient@example.test")
    week.walk(T0 + 12 * HOUR)
    # The worker is down from 12 h to 2 days 12 h: the day-1 mail's time passes meanwhile.
    week.at(T0 + 2 * DAY + 12 * HOUR)
    week.at(T0 + 2 * DAY + 12 * HOUR + timedelta(minutes=10))
    week.at(T0 + 2 * DAY + 13 * HOUR)
    assert _kinds(line) == ["credentials", "welcome_day1_start"]

    week.walk(T0 + 8 * DAY, start=T0 + 2 * DAY + 15 * HOUR)

    assert _kinds(line) == ["credentials", "welcome_day1_start", "welcome_day3", "welcome_day7"]
    assert len(week.received("patient@example.test")) == 4


def test_after_a_longer_outage_only_the_step_that_fits_goes_out(week):
    line = week.buy("away@example.test")
    week.walk(T0 + 12 * HOUR)
    # Down from 12 h to day 4: day 1 and day 3 both passed. One mail, not two in one go.
    week.at(T0 + 4 * DAY)
    week.at(T0 + 4 * DAY + HOUR)

    assert _kinds(line) == ["credentials", "welcome_day3"]
    day1 = OnboardingStep.objects.get(line=line, step="day1")
    assert (day1.status, day1.skip_reason) == ("skipped", "superseded by a later step (overdue)")


def test_the_operator_moves_and_switches_off_steps(week, client, admin_user):
    OnboardingSettings.objects.update_or_create(
        pk=1, defaults={"day3_enabled": False, "day1_offset_hours": 48}
    )
    line = week.buy("tuned@example.test")

    week.walk(T0 + 8 * DAY)

    assert _kinds(line) == ["credentials", "welcome_day1_start", "welcome_day7"]
    sent = dict(Message.objects.filter(line=line).values_list("kind", "sent_at"))
    assert sent["welcome_day1_start"] >= T0 + 2 * DAY
