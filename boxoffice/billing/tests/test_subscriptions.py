"""Automatic renewal through Stripe Subscriptions, against the Stripe emulator (subscriptions,
invoices, billing portal) and the XUI One emulator over HTTP, mail on loopback, time moved with
time-machine. Webhooks are the emulator's own signed bodies, handed to our endpoint in the
order a test chooses (Stripe does not promise one); every object is re-fetched from the
emulator before anything is written. The panel's expiry and enabled flag are read from the
panel emulator, the mails counted by kind."""

from __future__ import annotations

import dataclasses
import json
import re
import time
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
import stripe
import time_machine
from django.db import transaction
from django.test import Client
from django.utils import timezone

from boxoffice.billing.gateways import base as gw
from boxoffice.billing.gateways.base import PaymentUpdate
from boxoffice.billing.gateways.registry import gateway_for
from boxoffice.billing.models import Order, Payment, Subscription, WebhookEvent
from boxoffice.billing.services import checkout_request
from boxoffice.billing.subscriptions import Fetched, subscription_event_apply
from boxoffice.customers.models import Customer
from boxoffice.customers.services import customer_portal_user
from boxoffice.messaging.models import Message
from boxoffice.provisioning.engine import operation_execute
from boxoffice.provisioning.lifecycle import OVERDUE, lines_lifecycle_run
from boxoffice.provisioning.models import Line, PanelOperation
from boxoffice.provisioning.reconcile import lines_mark_expired

pytestmark = pytest.mark.django_db(transaction=True)

T0 = datetime(2027, 1, 4, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)
PERIOD = 30 * DAY
URL = "/billing/webhooks/stripe/"


@pytest.fixture
def stripe_site(settings, stripe_emulator, plan):
    settings.STRIPE_API_BASE = stripe_emulator.base_url
    settings.STRIPE_SECRET_KEY = stripe_emulator.api_key
    settings.STRIPE_WEBHOOK_SECRET = stripe_emulator.webhook_secret
    settings.PAYMENT_GATEWAYS = ["stripe", "manual"]
    stripe_emulator.configure(webhook_url=None)  # each test delivers the events itself
    plan.auto_renew = True
    plan.save()
    return stripe_emulator


class Sub:
    """One auto-renewing Stripe customer: the checkout, the webhooks, the worker's passes."""

    def __init__(self, stripe, make_order, run_tasks, xui, clock=None):
        self.stripe, self.run_tasks, self.xui, self.clock = stripe, run_tasks, xui, clock
        self.client = Client()
        self.delivered: set[str] = set()
        self.order = make_order(gateway="stripe")
        start = gateway_for("stripe").start_checkout(
            checkout_request(
                self.order, success_url="http://shop.test/s", cancel_url="http://shop.test/c"
            )
        )
        Order.objects.filter(pk=self.order.pk).update(gateway_reference=start.gateway_reference)
        self.session_id = start.gateway_reference

    def pay(self, *, deliver: bool = True) -> None:
        self.stripe.pay(self.session_id)
        session = self.stripe.session(self.session_id)
        self.sub_id = session["subscription"]
        if deliver:
            self.deliver()

    def post(self, event: dict, body: bytes | None = None):
        body = body if body is not None else json.dumps(event).encode()
        header = stripe.WebhookSignature.generate_signature_header(
            body.decode(), self.stripe.webhook_secret, timestamp=int(time.time())
        )
        return self.client.post(
            URL, data=body, content_type="application/json", HTTP_STRIPE_SIGNATURE=header
        )

    def deliver(self, *, types: tuple[str, ...] | None = None) -> list[dict]:
        """Every event not yet delivered (or of `types` only), oldest first, then the tasks."""
        sent = []
        for event in self.stripe.events():
            if event["id"] in self.delivered or (types and event["type"] not in types):
                continue
            event.pop("deliveries")
            assert self.post(event).status_code == 200
            self.delivered.add(event["id"])
            sent.append(event)
        self.run_tasks()
        return sent

    @property
    def line(self) -> Line:
        return Line.objects.get(order=self.order)

    def row(self) -> dict:
        [row] = [r for r in self.xui.lines() if str(r["id"]) == self.line.panel_line_id]
        return row

    def panel_expiry(self) -> datetime:
        return datetime.fromtimestamp(int(self.row()["exp_date"]), tz=UTC)

    def panel_enabled(self) -> bool:
        return str(self.row()["enabled"]) == "1"

    def day(self, n: int) -> None:
        """Day n, 09:00: the scheduler's passes and what they queued."""
        self.clock.move_to(T0 + n * DAY - timedelta(hours=3))
        lines_mark_expired()
        lines_lifecycle_run()
        self.run_tasks()

    def cycle(self, outcome: str) -> dict:
        """Stripe's period end (the subscription's own date): the next invoice is charged."""
        end = self.stripe.subscription(self.sub_id)["items"]["data"][0]["current_period_end"]
        self.clock.move_to(datetime.fromtimestamp(end, tz=UTC))
        invoice = self.stripe.cycle(self.sub_id, outcome=outcome)
        self.deliver()
        return invoice


def _mails() -> Counter:
    return Counter(Message.objects.exclude(kind="operator_alert").values_list("kind", flat=True))


def test_three_months_auto_renewing_with_one_failed_payment_recovered_in_grace(
    stripe_site, make_order, run_tasks, xui_emulator, smtp_inbox
):
    with time_machine.travel(T0, tick=False) as clock:
        life = Sub(stripe_site, make_order, run_tasks, xui_emulator, clock)
        life.pay()
        assert life.line.auto_renew
        assert life.panel_expiry() == T0 + PERIOD  # Stripe's first period end, to the second
        failed_invoice = None
        for n in range(1, 96):
            life.day(n)
            assert life.panel_enabled(), f"day {n}"
            if n == 30:
                life.cycle("paid")
                assert life.panel_expiry() == T0 + 2 * PERIOD
            if n == 60:
                failed_invoice = life.cycle("failed")
                # Grace days lent on the panel, the paid expiry unchanged.
                assert life.panel_expiry() == T0 + 2 * PERIOD + 3 * DAY
                assert life.line.expires_at == T0 + 2 * PERIOD
                assert life.panel_enabled()
                sub = Subscription.objects.get()
                assert (sub.status, sub.failures) == ("past_due", 1)
            if n == 61:
                assert life.line.stage == Line.Stage.GRACE
            if n == 62:  # Smart Retries: the retry goes through inside the 3-day grace
                stripe_site.retry(failed_invoice["id"], outcome="paid")
                life.deliver()
                assert life.panel_expiry() == T0 + 3 * PERIOD  # from the anchor, not the retry
                assert life.line.stage == Line.Stage.ACTIVE
                assert Subscription.objects.get().failures == 0
            if n == 90:
                life.cycle("paid")
        line = life.line
        assert life.panel_expiry() == T0 + 4 * PERIOD  # the first period and three renewals
        assert line.expires_at == T0 + 4 * PERIOD
        assert line.status == Line.Status.ACTIVE and line.auto_renew
    assert not PanelOperation.objects.filter(kind=PanelOperation.Kind.SUSPEND).exists()
    # No pay-by-hand reminders for a line its gateway charges; the failure told once.
    assert _mails() == Counter(credentials=1, line_renewed=3, subscription_payment_failed=1)
    assert len(smtp_inbox.wait_for(5)) == 5
    failed = Message.objects.get(kind="subscription_payment_failed")
    assert "/billing/subscriptions/card/" in failed.body_text
    # The ledger: four paid invoices, each keyed by the PaymentIntent that paid it (what its
    # refunds and disputes name), one failed attempt, keyed by its invoice id.
    payments = Payment.objects.order_by("pk")
    assert [p.status for p in payments] == [
        "confirmed",
        "confirmed",
        "failed",
        "confirmed",
        "confirmed",
    ]
    invoices = [i["id"] for i in stripe_site.invoices(life.sub_id)]
    assert {p.gateway_payment_id for p in payments if p.status == "confirmed"} == {
        stripe_site.invoice_payment_intent(i) for i in invoices
    }
    assert {p.gateway_payment_id for p in payments if p.status == "failed"} <= set(invoices)
    assert Order.objects.filter(kind=Order.Kind.RENEWAL, status=Order.Status.PAID).count() == 3


def test_a_failed_payment_past_grace_suspends_and_the_retry_resumes_and_extends(
    stripe_site, make_order, run_tasks, xui_emulator, smtp_inbox
):
    with time_machine.travel(T0, tick=False) as clock:
        life = Sub(stripe_site, make_order, run_tasks, xui_emulator, clock)
        life.pay()
        failed = None
        for n in range(1, 37):
            life.day(n)
            if n == 30:
                failed = life.cycle("failed")
            if n < 34:
                assert life.panel_enabled(), f"day {n}"
            if 30 <= n < 34:  # still playing: the panel's expiry is the end of the grace days
                assert life.panel_expiry() == T0 + PERIOD + 3 * DAY > timezone.now()
        assert not life.panel_enabled()  # expiry + 3 days of grace: suspended on the panel
        assert life.line.suspension_reason == OVERDUE
        stripe_site.retry(failed["id"], outcome="paid")
        life.deliver()
        assert life.panel_enabled()
        assert life.panel_expiry() == T0 + 2 * PERIOD
        assert life.line.status == Line.Status.ACTIVE
        # The grace days' extend, run again after the renewal (a retry after an outage), never
        # takes a paid day back.
        grace = PanelOperation.objects.get(params__grace=True)
        PanelOperation.objects.filter(pk=grace.pk).update(status="pending", attempts=0)
        assert operation_execute(operation_id=grace.pk) == "succeeded"
        assert life.panel_expiry() == T0 + 2 * PERIOD
    assert _mails() == Counter(
        credentials=1, subscription_payment_failed=1, line_suspended=1, line_renewed=1
    )
    suspended = Message.objects.get(kind="line_suspended").body_text
    assert "Update your card" in suspended and "/renew/" not in suspended


def test_invoice_paid_before_checkout_completed_and_a_renewal_delivered_twice_extend_once(
    stripe_site, make_order, run_tasks, xui_emulator, smtp_inbox
):
    with time_machine.travel(T0, tick=False) as clock:
        life = Sub(stripe_site, make_order, run_tasks, xui_emulator, clock)
        life.pay(deliver=False)
        life.deliver(types=("invoice.paid",))  # first
        assert Line.objects.filter(order=life.order).count() == 1
        life.deliver()  # then checkout.session.completed (and the rest)
        assert Line.objects.count() == 1 and Subscription.objects.count() == 1
        assert life.panel_expiry() == T0 + PERIOD
        assert Payment.objects.count() == 1

        life.cycle("paid")
        [renewal] = [e for e in stripe_site.events() if e["type"] == "invoice.paid"][1:]
        again = life.post({}, body=_body_of(stripe_site, renewal["id"]))
        assert again.json()["duplicate"] is True
        # The same invoice told again under another event id (a replay): still one extend.
        copy = {k: v for k, v in renewal.items() if k != "deliveries"} | {"id": "evt_replay"}
        assert life.post(copy).json()["duplicate"] is False
        run_tasks()
        assert PanelOperation.objects.filter(kind="extend").count() == 1
        assert life.panel_expiry() == T0 + 2 * PERIOD
    assert _mails() == Counter(credentials=1, line_renewed=1)


def test_the_customer_cancels_at_period_end_from_the_portal_and_the_line_runs_to_its_end(
    stripe_site, make_order, run_tasks, xui_emulator, smtp_inbox
):
    with time_machine.travel(T0, tick=False) as clock:
        life = Sub(stripe_site, make_order, run_tasks, xui_emulator, clock)
        life.pay()
        client = Client(enforce_csrf_checks=True)
        client.force_login(customer_portal_user(customer=life.order.customer))
        page = client.get("/portal/").content.decode()
        assert "Renews automatically on" in page and "Cancel auto-renewal" in page
        client.get("/portal/")
        card = client.post(
            f"/portal/lines/{life.line.pk}/auto-renew/card/",
            {"csrfmiddlewaretoken": client.cookies["csrftoken"].value},
        )
        assert card.status_code == 303
        assert card["Location"].startswith(stripe_site.base_url + "/portal/bps_test_")
        url = f"/portal/lines/{life.line.pk}/auto-renew/cancel/"
        assert client.post(url, {"reason": "too expensive"}).status_code == 403  # no CSRF token
        token = client.cookies["csrftoken"].value
        done = client.post(url, {"reason": "too expensive", "csrfmiddlewaretoken": token})
        assert done.status_code == 302
        remote = stripe_site.subscription(life.sub_id)
        assert remote["cancel_at_period_end"] is True
        assert remote["cancellation_details"]["comment"] == "too expensive"
        life.deliver()  # customer.subscription.updated: re-fetched, still cancelled
        assert not life.line.auto_renew
        page = client.get("/portal/").content.decode()
        assert "Resume auto-renewal" in page and "Renews automatically" not in page
        for n in range(1, 31):
            life.day(n)
            assert life.panel_enabled(), f"day {n}"
        life.cycle("paid")  # the period end: Stripe ends the subscription, charges nothing
        assert stripe_site.subscription(life.sub_id)["status"] == "canceled"
        assert Subscription.objects.get().status == "canceled"
        assert life.panel_expiry() == T0 + PERIOD  # what was paid, not a day more
        for n in range(31, 35):
            life.day(n)
        assert not life.panel_enabled()  # then the one-time lifecycle: grace, suspension
    mails = _mails()
    assert mails["line_renewed"] == 0 and mails["renewal_reminder"] >= 1


def test_the_card_link_opens_a_fresh_portal_session_per_click_and_refuses_forgeries(
    stripe_site, make_order, run_tasks, xui_emulator, smtp_inbox
):
    with time_machine.travel(T0, tick=False) as clock:
        life = Sub(stripe_site, make_order, run_tasks, xui_emulator, clock)
        life.pay()
        life.day(30)
        life.cycle("failed")
        client = Client()
        client.force_login(customer_portal_user(customer=life.order.customer))
        page = client.get("/portal/").content.decode()
        assert "Paid until 3 February 2027" in page and "did not go through" in page
        assert "Renews automatically" not in page
        text = Message.objects.get(kind="subscription_payment_failed").body_text
        path = re.search(r"https?://[^/\s]+(/billing/subscriptions/card/[^\s]+/)", text).group(1)
        client = Client(enforce_csrf_checks=True)
        assert client.get(path).status_code == 200
        token = client.cookies["csrftoken"].value
        first = client.post(path, {"csrfmiddlewaretoken": token})
        second = client.post(path, {"csrfmiddlewaretoken": token})
        assert first.status_code == second.status_code == 303
        assert first["Location"] != second["Location"]
        assert first["Location"].startswith(stripe_site.base_url + "/portal/")
        [one, two] = stripe_site.portal_sessions()
        assert one["flow"] == {"type": "payment_method_update"}
        assert "bps_" not in json.dumps([e.payload for e in WebhookEvent.objects.all()])
        assert client.get(path.replace("card/", "card/x")).status_code == 400
        clock.shift(timedelta(days=8))
        assert client.get(path).status_code == 400  # expired


def _body_of(stripe, event_id: str) -> bytes:
    with stripe._lock:
        return stripe._events[event_id]["body"]


def test_the_back_office_shows_the_renewal_mode_next_renewal_last_payment_and_failures(
    stripe_site, make_order, run_tasks, xui_emulator, smtp_inbox, admin_user
):
    with time_machine.travel(T0, tick=False) as clock:
        life = Sub(stripe_site, make_order, run_tasks, xui_emulator, clock)
        life.pay()
        life.day(30)
        life.cycle("failed")
        admin_client = Client()
        admin_client.force_login(admin_user)  # signed in now: a session from before has expired
        listing = admin_client.get("/admin/provisioning/line/").content.decode()
        page = admin_client.get(f"/admin/provisioning/line/{life.line.pk}/change/").content.decode()
        subs = admin_client.get("/admin/billing/subscription/")
    assert "auto (Card (Stripe))" in listing and "renews 2027-02-03" in listing
    assert "1 (last 2027-02-03" in page
    assert life.order.reference in page  # the last payment: the first invoice, paid at checkout
    assert subs.status_code == 200 and life.sub_id in subs.content.decode()


def test_the_storefront_sells_an_auto_renewing_plan_as_a_subscription_confirmed_on_return(
    stripe_site, run_tasks, xui_emulator, smtp_inbox, client
):
    client.get("/checkout/monthly/")
    answer = client.post(
        "/checkout/monthly/",
        {
            "email": "sub@example.test",
            "name": "Sue Scriber",
            "device": "app",
            "country": "DE",
            "gateway": "stripe",
        },
    )
    assert answer.status_code == 303
    session_id = answer["Location"].rsplit("/", 1)[-1]
    session = stripe_site.session(session_id)
    assert session["mode"] == "subscription"
    order = Order.objects.get(gateway_reference=session_id)
    stripe_site.pay(session_id)
    # Back on the status page before any webhook: Stripe is asked, the line is on its way.
    status_url = f"/order/{order.status_token}/?session_id={session_id}"
    assert client.get(status_url).status_code == 200
    order.refresh_from_db()
    assert order.status == Order.Status.PAID
    run_tasks()
    sub = Subscription.objects.get()
    assert sub.order == order and sub.status == "active"
    [item] = stripe_site.subscription(sub.gateway_subscription_id)["items"]["data"]
    assert Line.objects.get(order=order).expires_at == datetime.fromtimestamp(
        item["current_period_end"], tz=UTC
    )
    # The webhooks, when they land, find everything done.
    for event in stripe_site.events():
        event.pop("deliveries")
        body = json.dumps(event)
        header = stripe.WebhookSignature.generate_signature_header(
            body, stripe_site.webhook_secret, timestamp=int(time.time())
        )
        client.post(URL, data=body, content_type="application/json", HTTP_STRIPE_SIGNATURE=header)
    run_tasks()
    assert Line.objects.count() == 1 and Payment.objects.count() == 1
    assert Line.objects.get().auto_renew


def test_a_one_time_plan_or_a_gateway_without_recurring_charges_sells_one_payment(
    stripe_site, plan, make_order
):
    manual = make_order(gateway="manual")
    assert checkout_request(manual).recurring_days == 0  # manual has no recurring capability
    assert checkout_request(make_order(gateway="stripe")).recurring_days == 30
    plan.auto_renew = False
    plan.save()
    assert checkout_request(make_order(gateway="stripe")).recurring_days == 0


def test_a_forged_invoice_paid_is_refused_and_a_stripe_outage_retries_the_event(
    stripe_site, make_order, run_tasks, xui_emulator, smtp_inbox, settings, unused_panel_url
):
    life = Sub(stripe_site, make_order, run_tasks, xui_emulator)
    life.pay(deliver=False)
    [paid] = [e for e in stripe_site.events() if e["type"] == "invoice.paid"]
    paid.pop("deliveries")
    body = json.dumps(paid)
    forged = stripe.WebhookSignature.generate_signature_header(
        body, "whsec_not_the_secret", timestamp=int(time.time())
    )
    refused = life.client.post(
        URL, data=body, content_type="application/json", HTTP_STRIPE_SIGNATURE=forged
    )
    assert refused.status_code == 400 and not WebhookEvent.objects.exists()
    settings.STRIPE_API_BASE = unused_panel_url  # Stripe cannot be asked: nothing is granted
    assert life.post(paid).status_code == 200
    run_tasks()
    stored = WebhookEvent.objects.get()
    assert stored.status == WebhookEvent.Status.RECEIVED and stored.attempts == 1
    assert not Line.objects.exists()


def test_a_view_of_the_subscription_fetched_earlier_never_overwrites_a_newer_one(
    stripe_site, make_order, run_tasks, xui_emulator, smtp_inbox
):
    life = Sub(stripe_site, make_order, run_tasks, xui_emulator)
    life.pay()
    sub = Subscription.objects.get()
    newer = gateway_for("stripe").subscription_cancel_at_period_end(life.sub_id, cancel=True)
    update = PaymentUpdate(status=gw.SUBSCRIPTION, gateway_subscription_id=life.sub_id)
    now = sub.fetched_at + timedelta(seconds=10)
    with transaction.atomic():
        subscription_event_apply(
            gateway="stripe",
            update=update,
            fetched=Fetched(subscription=newer, invoice=None, fetched_at=now),
            source_event=None,
        )
    stale = dataclasses.replace(newer, cancel_at_period_end=False)
    with transaction.atomic():
        subscription_event_apply(
            gateway="stripe",
            update=update,
            fetched=Fetched(
                subscription=stale, invoice=None, fetched_at=now - timedelta(seconds=5)
            ),
            source_event=None,
        )
    sub.refresh_from_db()
    assert sub.cancel_at_period_end is True
    assert not life.line.auto_renew


def test_another_customer_cannot_cancel_the_auto_renewal(
    stripe_site, make_order, run_tasks, xui_emulator, smtp_inbox
):
    life = Sub(stripe_site, make_order, run_tasks, xui_emulator)
    life.pay()
    outsider = Customer.objects.create(email="outsider@example.test", name="Out Sider")
    client = Client()
    client.force_login(customer_portal_user(customer=outsider))
    url = f"/portal/lines/{life.line.pk}/auto-renew/cancel/"
    assert client.post(url, {"reason": "mine now"}).status_code == 404
    assert client.get(url).status_code == 405
    assert stripe_site.subscription(life.sub_id)["cancel_at_period_end"] is False
    assert "Cancel auto-renewal" not in client.get("/portal/").content.decode()


def test_the_checkout_says_which_payment_methods_renew_automatically(stripe_site, client, plan):
    page = client.get("/checkout/monthly/").content.decode()
    assert "Paid with Card (Stripe), it renews automatically every" in page
    plan.auto_renew = False
    plan.save()
    assert "renews automatically" not in client.get("/checkout/monthly/").content.decode()
