"""Automatic renewal through PayPal Subscriptions, against the PayPal emulator (catalog products,
billing plans, subscriptions, sales, signed events verified by its verify-webhook-signature) and
the XUI One emulator over HTTP, mail on loopback, time moved with time-machine. Each test hands
the emulator's signed events to our webhook endpoint itself; every subscription and sale is
re-fetched from the emulator before anything is written. The panel's expiry and enabled flag
are read from the panel emulator, the mails counted by kind."""

from __future__ import annotations

import re
from collections import Counter
from datetime import UTC, datetime, timedelta

import httpx
import pytest
import time_machine
from django.test import Client

from boxoffice.billing.gateways.base import VerifiedEvent
from boxoffice.billing.gateways.paypal.subscriptions import plans_forget
from boxoffice.billing.gateways.registry import gateway_for
from boxoffice.billing.models import Order, Payment, Subscription, WebhookEvent
from boxoffice.billing.refunds import order_refund
from boxoffice.billing.services import checkout_request
from boxoffice.customers.services import customer_portal_user
from boxoffice.messaging.models import Message
from boxoffice.provisioning.lifecycle import OVERDUE, lines_lifecycle_run
from boxoffice.provisioning.models import Line, PanelOperation
from boxoffice.provisioning.reconcile import lines_mark_expired

pytestmark = pytest.mark.django_db(transaction=True)

T0 = datetime(2027, 1, 4, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)
PERIOD = 30 * DAY
URL = "/billing/webhooks/paypal/"


@pytest.fixture
def paypal_site(paypal_settings, paypal_emulator, plan):
    plans_forget()
    paypal_emulator.configure(webhook_url=None)  # each test delivers the events itself
    plan.auto_renew = True
    plan.save()
    yield paypal_emulator
    plans_forget()


class Sub:
    """One auto-renewing PayPal customer: the checkout, the webhooks, the worker's passes."""

    def __init__(self, paypal, make_order, run_tasks, xui, clock=None):
        self.paypal, self.run_tasks, self.xui, self.clock = paypal, run_tasks, xui, clock
        self.client = Client()
        self.delivered: set[str] = set()
        self.order = make_order(gateway="paypal")
        request = checkout_request(
            self.order, success_url="http://shop.test/s", cancel_url="http://shop.test/c"
        )
        assert request.recurring_days == 30
        self.start = gateway_for("paypal").start_checkout(request)
        Order.objects.filter(pk=self.order.pk).update(
            gateway_reference=self.start.gateway_reference
        )
        self.sub_id = self.start.gateway_reference

    def approve(self, *, deliver: bool = True) -> None:
        self.paypal.subscription_approve(self.sub_id)
        if deliver:
            self.deliver()

    def post(self, event_id: str):
        headers, body = self.paypal.signed(event_id)
        return self.client.post(
            URL,
            data=body,
            content_type="application/json",
            headers=headers,
        )

    def deliver(self, *, types: tuple[str, ...] | None = None) -> list[dict]:
        sent = []
        for event in self.paypal.events():
            if event["id"] in self.delivered or (types and event["event_type"] not in types):
                continue
            answer = self.post(event["id"])
            assert answer.status_code == 200, answer.content
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
        """PayPal bills (or retries) a cycle through the emulator's test control, over HTTP."""
        answer = httpx.post(
            f"{self.paypal.base_url}/_emulator/subscriptions/{self.sub_id}/cycle",
            json={"outcome": outcome},
        )
        assert answer.status_code == 200, answer.text
        self.deliver()
        return answer.json()


def _mails() -> Counter:
    return Counter(Message.objects.exclude(kind="operator_alert").values_list("kind", flat=True))


def test_the_plan_is_a_day_cycle_billing_plan_made_once_per_price(paypal_site, make_order):
    first = Sub(paypal_site, make_order, lambda: None, None)
    second = Sub(paypal_site, make_order, lambda: None, None)
    plans_forget()  # a restarted process finds the plan at PayPal by its product id
    third = Sub(paypal_site, make_order, lambda: None, None)
    with paypal_site._lock:
        plans = list(paypal_site._plans.values())
        products = list(paypal_site._products)
        subs = [paypal_site._subs[s.sub_id] for s in (first, second, third)]
    assert len(plans) == 1 and len(products) == 1
    [cycle] = plans[0]["billing_cycles"]
    assert cycle["frequency"] == {"interval_unit": "DAY", "interval_count": 30}
    assert cycle["pricing_scheme"]["fixed_price"] == {"value": "9.99", "currency_code": "EUR"}
    assert [s["custom_id"] for s in subs] == [
        first.order.reference,
        second.order.reference,
        third.order.reference,
    ]
    assert first.start.redirect_url.startswith(
        f"{paypal_site.base_url}/webapps/billing/subscriptions?ba_token=I-"
    )


def test_first_payment_one_line_then_a_renewal_sale_delivered_twice_extends_once(
    paypal_site, make_order, run_tasks, xui_emulator, smtp_inbox
):
    with time_machine.travel(T0, tick=False) as clock:
        life = Sub(paypal_site, make_order, run_tasks, xui_emulator, clock)
        life.approve(deliver=False)
        # The sale first, then the activation: either order gives one line.
        life.deliver(types=("PAYMENT.SALE.COMPLETED",))
        life.deliver()
        assert Line.objects.count() == 1 and Subscription.objects.count() == 1
        assert life.line.auto_renew
        assert life.panel_expiry() == T0 + PERIOD  # PayPal's next billing time, to the second
        sub = Subscription.objects.get()
        assert sub.status == "active" and sub.gateway == "paypal"
        for n in (10, 20, 30):
            life.day(n)
        answer = life.cycle("paid")
        sale_id = answer["sale"]["id"]
        [event] = [
            e
            for e in paypal_site.events()
            if e["event_type"] == "PAYMENT.SALE.COMPLETED" and e["resource"]["id"] == sale_id
        ]
        assert life.post(event["id"]).json()["duplicate"] is True  # PayPal's retry, same id
        paypal_site.resend(event["id"])
        run_tasks()
        assert PanelOperation.objects.filter(kind="extend").count() == 1
        assert life.panel_expiry() == T0 + 2 * PERIOD
        renewal = Order.objects.get(kind=Order.Kind.RENEWAL)
        assert renewal.status == Order.Status.PAID and renewal.gateway_reference == sale_id
        assert Payment.objects.filter(gateway_payment_id=sale_id).count() == 1
    assert _mails() == Counter(credentials=1, line_renewed=1)


def test_a_failed_payment_then_a_retry_within_grace_keeps_the_line_and_extends_once(
    paypal_site, make_order, run_tasks, xui_emulator, smtp_inbox
):
    with time_machine.travel(T0, tick=False) as clock:
        life = Sub(paypal_site, make_order, run_tasks, xui_emulator, clock)
        life.approve()
        life.day(30)
        life.cycle("failed")
        assert life.panel_expiry() == T0 + PERIOD + 3 * DAY  # grace lent on the panel
        assert life.line.expires_at == T0 + PERIOD
        sub = Subscription.objects.get()
        assert (sub.status, sub.failures) == ("active", 1)
        life.day(31)
        assert life.panel_enabled() and life.line.stage == Line.Stage.GRACE
        life.day(32)
        life.cycle("paid")  # PayPal's retry goes through inside the grace days
        assert life.panel_expiry() == T0 + 2 * PERIOD
        assert life.line.stage == Line.Stage.ACTIVE and life.panel_enabled()
        assert Subscription.objects.get().failures == 0
        for n in range(33, 40):
            life.day(n)
            assert life.panel_enabled(), f"day {n}"
    assert not PanelOperation.objects.filter(kind=PanelOperation.Kind.SUSPEND).exists()
    assert _mails() == Counter(credentials=1, subscription_payment_failed=1, line_renewed=1)
    assert len(smtp_inbox.wait_for(3)) == 3
    failed = Message.objects.get(kind="subscription_payment_failed")
    path = re.search(r"https?://[^/\s]+(/billing/subscriptions/card/[^\s]+/)", failed.body_text)
    client = Client(enforce_csrf_checks=True)
    page = client.get(path.group(1))
    assert "Automatic payments in your PayPal account" in page.content.decode()
    token = client.cookies["csrftoken"].value
    sent = client.post(path.group(1), {"csrfmiddlewaretoken": token})
    assert sent.status_code == 303
    assert sent["Location"] == f"{paypal_site.base_url}/myaccount/autopay/"
    assert Order.objects.filter(kind=Order.Kind.RENEWAL, status=Order.Status.PAID).count() == 1


def test_suspended_after_the_failure_threshold_suspends_the_line_on_the_panel(
    paypal_site, make_order, run_tasks, xui_emulator, smtp_inbox
):
    with time_machine.travel(T0, tick=False) as clock:
        life = Sub(paypal_site, make_order, run_tasks, xui_emulator, clock)
        life.approve()
        life.day(30)
        for n in (30, 35, 40):  # PayPal retries every 5 days; the third failure suspends
            life.day(n)
            life.cycle("failed")
        assert paypal_site.subscription(life.sub_id)["status"] == "SUSPENDED"
        sub = Subscription.objects.get()
        assert sub.status == "suspended" and not sub.renews
        assert sub.failures == 3
        assert not life.line.auto_renew
        life.day(41)
        assert not life.panel_enabled()
        assert life.line.suspension_reason == OVERDUE
        assert life.panel_expiry() <= T0 + PERIOD + 3 * DAY
    mails = _mails()
    # The unpaid cycle is told once (its retries count as failures, not as new mails).
    assert mails["subscription_payment_failed"] == 1 and mails["line_suspended"] == 1
    assert mails["line_renewed"] == 0


def test_cancel_from_the_portal_the_line_runs_to_the_end_of_the_paid_period(
    paypal_site, make_order, run_tasks, xui_emulator, smtp_inbox
):
    with time_machine.travel(T0, tick=False) as clock:
        life = Sub(paypal_site, make_order, run_tasks, xui_emulator, clock)
        life.approve()
        client = Client(enforce_csrf_checks=True)
        client.force_login(customer_portal_user(customer=life.order.customer))
        page = client.get("/portal/").content.decode()
        assert "Cancel auto-renewal" in page
        assert "Automatic payments in your PayPal account" in page  # no card portal: said so
        card = client.post(
            f"/portal/lines/{life.line.pk}/auto-renew/card/",
            {"csrfmiddlewaretoken": client.cookies["csrftoken"].value},
        )
        # No card-update session at PayPal: their automatic-payments page.
        assert card.status_code == 303
        assert card["Location"] == f"{paypal_site.base_url}/myaccount/autopay/"
        url = f"/portal/lines/{life.line.pk}/auto-renew/cancel/"
        assert client.post(url, {"reason": "too expensive"}).status_code == 403  # no CSRF
        token = client.cookies["csrftoken"].value
        done = client.post(url, {"reason": "too expensive", "csrfmiddlewaretoken": token})
        assert done.status_code == 302
        assert paypal_site.subscription(life.sub_id)["status"] == "CANCELLED"  # at once
        life.deliver()  # BILLING.SUBSCRIPTION.CANCELLED, re-fetched
        sub = Subscription.objects.get()
        assert sub.status == "cancelled" and sub.cancel_at_period_end and not sub.renews
        assert not life.line.auto_renew
        page = client.get("/portal/").content.decode()
        assert "Auto-renewal is cancelled: your line runs until the end" in page
        assert "Resume auto-renewal" not in page  # PayPal cannot restart it
        for n in range(1, 31):
            life.day(n)
            assert life.panel_enabled(), f"day {n}"
        assert life.panel_expiry() == T0 + PERIOD  # what was paid, not a day more
        for n in range(31, 35):
            life.day(n)
        assert not life.panel_enabled()  # then the one-time lifecycle: grace, suspension
    mails = _mails()
    assert mails["line_renewed"] == 0 and mails["renewal_reminder"] >= 1


def test_the_storefront_sells_it_and_the_return_confirms_the_first_payment(
    paypal_site, run_tasks, xui_emulator, smtp_inbox, client
):
    client.get("/checkout/monthly/")
    answer = client.post(
        "/checkout/monthly/",
        {
            "email": "sub@example.test",
            "name": "Sue Scriber",
            "device": "app",
            "country": "DE",
            "gateway": "paypal",
        },
    )
    assert answer.status_code == 303
    order = Order.objects.get(gateway="paypal")
    assert order.gateway_reference.startswith("I-")
    page = httpx.get(answer["Location"], follow_redirects=True)
    assert "Agree and subscribe" in page.text
    back = httpx.post(
        f"{paypal_site.base_url}/webapps/billing/subscriptions/{order.gateway_reference}/approve"
    ).headers["location"]
    assert "returned=1" in back and f"subscription_id={order.gateway_reference}" in back
    path = back.split("://", 1)[1].split("/", 1)[1]
    assert client.get("/" + path).status_code == 200
    order.refresh_from_db()
    assert order.status == Order.Status.PAID
    run_tasks()
    for event in paypal_site.events():
        headers, body = paypal_site.signed(event["id"])
        client.post(URL, data=body, content_type="application/json", headers=headers)
    run_tasks()
    assert Line.objects.count() == 1 and Payment.objects.count() == 1
    assert Line.objects.get().auto_renew
    assert not WebhookEvent.objects.filter(status=WebhookEvent.Status.NEEDS_REVIEW).exists()


def test_a_renewal_sale_refunded_from_the_back_office_is_one_refund_of_its_order(
    paypal_site, make_order, run_tasks, xui_emulator, smtp_inbox
):
    with time_machine.travel(T0, tick=False) as clock:
        life = Sub(paypal_site, make_order, run_tasks, xui_emulator, clock)
        life.approve()
        life.day(30)
        sale = life.cycle("paid")["sale"]
        renewal = Order.objects.get(kind=Order.Kind.RENEWAL)
        # Not a capture: the adapter refunds the sale through /v1/payments/sale/{id}/refund.
        assert order_refund(order=renewal, actor="operator") == "refunded"
        assert paypal_site.api_sale_get(sale["id"])["state"] == "refunded"
        life.deliver()  # PAYMENT.SALE.REFUNDED: the same refund, nothing more
        renewal.refresh_from_db()
        assert renewal.status == Order.Status.REFUNDED
        [refund] = Payment.objects.filter(order=renewal, status=Payment.Status.REFUNDED)
        assert refund.amount == -renewal.amount
        life.order.refresh_from_db()
        assert life.order.status == Order.Status.PAID  # the first period is untouched
    update = gateway_for("paypal").parse_event(
        _event("PAYMENT.SALE.REVERSED", {"id": sale["id"], "amount": sale["amount"]})
    )
    assert (update.status, update.gateway_payment_id) == ("refunded", sale["id"])


def test_a_sale_that_is_not_a_subscription_s_is_not_ours(paypal_site):
    assert gateway_for("paypal").parse_event(_event("PAYMENT.SALE.COMPLETED", {"id": "S1"})) is None


def _event(event_type: str, resource: dict) -> VerifiedEvent:
    payload = {"id": "WH-X", "event_type": event_type, "resource": resource}
    return VerifiedEvent("WH-X", event_type, payload)


def test_a_forged_sale_is_refused_and_a_sale_paypal_does_not_have_grants_nothing(
    paypal_site, make_order, run_tasks, xui_emulator, smtp_inbox
):
    life = Sub(paypal_site, make_order, run_tasks, xui_emulator)
    body = (
        '{"id": "WH-FORGED", "event_type": "PAYMENT.SALE.COMPLETED", "resource": {"id": "FAKE",'
        f' "billing_agreement_id": "{life.sub_id}", "custom": "{life.order.reference}"}}}}'
    )
    headers = {
        "PAYPAL-TRANSMISSION-ID": "made-up",
        "PAYPAL-TRANSMISSION-TIME": "2027-01-01T00:00:00Z",
        "PAYPAL-TRANSMISSION-SIG": "Zm9yZ2Vk",
        "PAYPAL-CERT-URL": f"{paypal_site.base_url}/v1/notifications/certs/CERT-x",
        "PAYPAL-AUTH-ALGO": "SHA256withRSA",
    }
    refused = life.client.post(URL, data=body, content_type="application/json", headers=headers)
    assert refused.status_code == 400 and not WebhookEvent.objects.exists()
    # Signed by PayPal but naming a sale it does not have (say, a stale copy): re-fetched, the
    # event waits for a retry and nothing is granted.
    with paypal_site._lock:
        paypal_site._record_event(
            "PAYMENT.SALE.COMPLETED",
            "sale",
            {"id": "NOSUCHSALE", "billing_agreement_id": life.sub_id},
        )
    life.deliver()
    stored = WebhookEvent.objects.get()
    assert stored.status == WebhookEvent.Status.RECEIVED and stored.attempts == 1
    assert not Line.objects.exists() and not Payment.objects.exists()
