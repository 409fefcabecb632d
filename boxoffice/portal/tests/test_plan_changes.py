"""Upgrades, downgrades and add-on connections, end to end: the portal's pages (CSRF enforced),
the payment (bank transfer confirmed by the operator, or Stripe's webhook), and the XUI One
emulator over HTTP, read back after every change. Figures worked out by hand in the comments."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.test import Client

from boxoffice.billing.checkout import renewal_checkout_begin
from boxoffice.billing.models import Order
from boxoffice.billing.services import (
    TransferNotConfirmable,
    order_confirm_bank_transfer,
    order_create,
    order_mark_paid,
)
from boxoffice.catalog.models import Plan, PlanPanel
from boxoffice.customers.models import Customer
from boxoffice.customers.services import customer_portal_user
from boxoffice.messaging.models import Message
from boxoffice.provisioning.models import Line, PanelOperation

pytestmark = pytest.mark.django_db(transaction=True)

T0 = datetime(2027, 1, 4, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)


@pytest.fixture(autouse=True)
def manual_only(settings):
    settings.PAYMENT_GATEWAYS = ["manual"]


def _plan(panel, slug, *, price, connections, bouquets, days=30, extra=None, max_extra=0):
    plan = Plan.objects.create(
        slug=slug,
        name=slug.title(),
        duration_days=days,
        connections=connections,
        price=Decimal(price),
        currency="EUR",
        extra_connection_price=Decimal(extra) if extra else None,
        max_extra_connections=max_extra,
    )
    PlanPanel.objects.create(
        plan=plan, panel=panel, mapping={"bouquets": bouquets, "outputs": ["m3u8", "ts"]}
    )
    return plan


@pytest.fixture
def basic(panel):
    return _plan(
        panel, "basic", price="10.00", connections=1, bouquets=[1], extra="3.00", max_extra=2
    )


@pytest.fixture
def plus(panel):
    return _plan(panel, "plus", price="15.00", connections=2, bouquets=[1, 2])


@pytest.fixture
def site(live_server, settings, stripe_emulator):
    """The application on a live server, paying through the Stripe emulator, which delivers
    its signed webhooks back to it."""
    settings.SITE_URL = live_server.url
    settings.STRIPE_API_BASE = stripe_emulator.base_url
    settings.STRIPE_SECRET_KEY = stripe_emulator.api_key
    settings.STRIPE_WEBHOOK_SECRET = stripe_emulator.webhook_secret
    stripe_emulator.configure(webhook_url=f"{live_server.url}/billing/webhooks/stripe/")
    return live_server.url


def _bought(customer, plan, run_tasks) -> Line:
    order = order_create(customer=customer, plan=plan, gateway="manual")
    assert order_mark_paid(order=order, gateway_payment_id="pay_first")
    run_tasks()
    line = Line.objects.get(order=order)
    assert line.status == Line.Status.ACTIVE
    return line


def _portal(customer) -> Client:
    client = Client(enforce_csrf_checks=True)
    client.force_login(customer_portal_user(customer=customer))
    return client


def _submit(client: Client, path: str, data: dict):
    """Get the form, then post it with the token it set and the amounts it showed (its hidden
    fields), as a browser would."""
    page = client.get(path)
    assert page.status_code == 200, page.content.decode()[:500]
    token = client.cookies["csrftoken"].value
    shown = dict(re.findall(r'name="(shown-\d+)" value="([0-9.]+)"', page.content.decode()))
    return client.post(path, {"csrfmiddlewaretoken": token, **shown, **data})


def _row(emulator, line: Line) -> dict:
    [row] = [r for r in emulator.lines() if str(r["id"]) == line.panel_line_id]
    return row


def _bouquets(row: dict) -> list[int]:
    value = row["bouquet"]
    return sorted(json.loads(value) if isinstance(value, str) else value)


def _confirm(order: Order) -> None:
    order.refresh_from_db()
    order_confirm_bank_transfer(
        order=order,
        amount=order.amount,
        received_on=order.created_at.date(),
        bank_reference=f"TRX-{order.pk}",
        actor="ops",
    )


def test_an_upgrade_paid_by_bank_transfer_changes_the_line_on_the_panel_and_keeps_expiry_and_login(
    customer, basic, plus, run_tasks, xui_emulator, smtp_inbox
):
    with time_machine.travel(T0, tick=False) as clock:
        line = _bought(customer, basic, run_tasks)
        before = _row(xui_emulator, line)
        assert str(before["max_connections"]) == "1" and _bouquets(before) == [1]

        clock.move_to(T0 + 18 * DAY)  # 12 of 30 days left
        portal = _portal(customer)
        path = f"/portal/lines/{line.pk}/plan/"
        assert f'href="{path}"' in portal.get("/portal/").content.decode()
        page = portal.get(path).content.decode()
        # Plus for the 12 days left: 15.00 × 12/30 = 6.00; unused Basic: 10.00 × 12/30 = 4.00;
        # pay now 6.00 − 4.00 = 2.00. The rule is stated on the page.
        assert "12.0 days left: Plus for that time 6.00 − unused Basic 4.00" in page
        assert "pay now 2.00 EUR" in page
        assert "less the unused value of your current plan" in page

        # Without the form's token the post is refused.
        forged = portal.post(path, {"plan": plus.pk, "gateway": "manual"})
        assert forged.status_code == 403
        answer = _submit(portal, path, {"plan": plus.pk, "gateway": "manual"})
        assert answer.status_code == 303

        order = Order.objects.get(kind=Order.Kind.UPGRADE)
        assert order.target_line == line and order.plan == plus
        assert order.amount == Decimal("2.00") and order.status == Order.Status.PAYMENT_PENDING
        assert (order.quote["credit"], order.quote["charge"], order.quote["pay"]) == (
            "4.00",
            "6.00",
            "2.00",
        )
        assert order.quote["expires_at"] == line.expires_at.isoformat()
        assert not PanelOperation.objects.filter(order=order).exists()

        # The transfer arrives two days later: the frozen figures stand (the customer paid
        # 2.00, not the 1.67 that 10 days would cost now).
        clock.move_to(T0 + 20 * DAY)
        _confirm(order)
        with pytest.raises(TransferNotConfirmable):
            _confirm(order)  # a second confirmation
        assert not order_mark_paid(order=order, gateway_payment_id="pay_again")
        run_tasks()

        [op] = PanelOperation.objects.filter(order=order)
        assert op.kind == "change_plan" and op.status == "succeeded"
        after = _row(xui_emulator, line)
        assert after["id"] == before["id"] and len(xui_emulator.lines()) == 1
        assert (after["username"], after["password"]) == (before["username"], before["password"])
        assert after["exp_date"] == before["exp_date"]  # the expiry stays
        assert str(after["max_connections"]) == "2" and _bouquets(after) == [1, 2]
        line.refresh_from_db()
        assert line.plan == plus and line.connections == 2
        assert line.plan_mapping["bouquets"] == [1, 2]
        assert line.expires_at == T0 + 30 * DAY
        status = portal.get(f"/order/{order.status_token}/").content.decode()
        assert "Your subscription is upgraded" in status
    mails = smtp_inbox.wait_for(2)
    assert "upgraded" in mails[-1]["Subject"]
    assert Message.objects.filter(kind="line_plan_changed", line=line).count() == 1


def test_an_upgrade_paid_after_the_line_was_renewed_goes_to_review(
    customer, basic, plus, run_tasks, xui_emulator, smtp_inbox
):
    with time_machine.travel(T0, tick=False) as clock:
        line = _bought(customer, basic, run_tasks)
        clock.move_to(T0 + 18 * DAY)
        answer = _submit(
            _portal(customer),
            f"/portal/lines/{line.pk}/plan/",
            {"plan": plus.pk, "gateway": "manual"},
        )
        assert answer.status_code == 303
        upgrade = Order.objects.get(kind=Order.Kind.UPGRADE)

        # Meanwhile the customer renews: 30 more days the 2.00 quote did not cover.
        renewal = renewal_checkout_begin(line=line, gateway="manual", status_url_for=lambda o: "/")
        _confirm(renewal.order)
        run_tasks()
        _confirm(upgrade)
        run_tasks()

    upgrade.refresh_from_db()
    assert upgrade.status == Order.Status.PAID and upgrade.needs_review
    assert "priced for the time until" in upgrade.review_reason
    assert not PanelOperation.objects.filter(order=upgrade).exists()
    line.refresh_from_db()
    assert line.plan == basic and line.expires_at == T0 + 60 * DAY
    assert str(_row(xui_emulator, line)["max_connections"]) == "1"


def test_an_upgrade_paid_by_stripe_with_its_webhook_twice_changes_the_line_once(
    site, settings, customer, basic, plus, run_tasks, xui_emulator, stripe_emulator, smtp_inbox
):
    from boxoffice.billing.checkout import upgrade_checkout_begin

    settings.PAYMENT_GATEWAYS = ["stripe", "manual"]
    line = _bought(customer, basic, run_tasks)
    result = upgrade_checkout_begin(
        line=line, plan=plus, gateway="stripe", status_url_for=lambda o: f"{site}/"
    )
    order = result.order
    # 30 days left less the seconds the test took: about 15.00 − 10.00 = 5.00.
    assert Decimal("4.99") <= order.amount <= Decimal("5.00")
    stripe_emulator.pay(order.gateway_reference)
    stripe_emulator.wait_for_deliveries()
    for event in stripe_emulator.events():
        stripe_emulator.resend(event["id"])  # the same webhook again
    stripe_emulator.wait_for_deliveries()
    run_tasks()

    order.refresh_from_db()
    assert order.status == Order.Status.PAID
    [event] = stripe_emulator.events()
    assert len(event["deliveries"]) == 2  # delivered twice
    assert order.payments.filter(status="confirmed").count() == 1
    assert PanelOperation.objects.filter(order=order).count() == 1
    row = _row(xui_emulator, line)
    assert str(row["max_connections"]) == "2" and _bouquets(row) == [1, 2]
    line.refresh_from_db()
    assert line.plan == plus


def test_a_downgrade_waits_for_the_next_renewal_and_changes_the_line_with_its_extend(
    customer, basic, plus, run_tasks, xui_emulator, smtp_inbox
):
    with time_machine.travel(T0, tick=False) as clock:
        line = _bought(customer, plus, run_tasks)
        before = _row(xui_emulator, line)
        clock.move_to(T0 + 25 * DAY)
        portal = _portal(customer)
        path = f"/portal/lines/{line.pk}/plan/"
        page = portal.get(path).content.decode()
        assert "From your next renewal" in page and "Nothing to pay now" in page
        answer = _submit(portal, path, {"plan": basic.pk})
        assert answer.status_code == 302
        line.refresh_from_db()
        assert line.next_plan == basic and line.plan == plus
        assert not Order.objects.filter(kind=Order.Kind.UPGRADE).exists()
        overview = portal.get("/portal/").content.decode()
        assert "Changes to <strong>Basic</strong> at the next renewal" in overview
        assert str(_row(xui_emulator, line)["max_connections"]) == "2"  # nothing changed yet

        renewal = renewal_checkout_begin(line=line, gateway="manual", status_url_for=lambda o: "/")
        assert renewal.order.plan == basic and renewal.order.amount == Decimal("10.00")
        _confirm(renewal.order)
        run_tasks()

    [op] = PanelOperation.objects.filter(order=renewal.order)
    assert op.kind == "extend" and op.status == "succeeded"
    after = _row(xui_emulator, line)
    assert (after["username"], after["password"]) == (before["username"], before["password"])
    assert int(after["exp_date"]) == int((T0 + 60 * DAY).timestamp())  # + Basic's 30 days
    assert str(after["max_connections"]) == "1" and _bouquets(after) == [1]
    line.refresh_from_db()
    assert line.plan == basic and line.next_plan is None and line.connections == 1
    assert line.expires_at == T0 + 60 * DAY


def test_a_downgrade_cancelled_before_the_renewal_renews_the_same_plan(
    customer, basic, plus, run_tasks, xui_emulator
):
    line = _bought(customer, plus, run_tasks)
    portal = _portal(customer)
    assert _submit(portal, f"/portal/lines/{line.pk}/plan/", {"plan": basic.pk}).status_code == 302
    page = portal.get(f"/portal/lines/{line.pk}/plan/").content.decode()
    assert "changes to <strong>Basic</strong> at its next renewal" in page
    token = portal.cookies["csrftoken"].value
    assert portal.post(f"/portal/lines/{line.pk}/plan/cancel/").status_code == 403
    cancelled = portal.post(f"/portal/lines/{line.pk}/plan/cancel/", {"csrfmiddlewaretoken": token})
    assert cancelled.status_code == 302
    line.refresh_from_db()
    assert line.next_plan is None
    renewal = renewal_checkout_begin(line=line, gateway="manual", status_url_for=lambda o: "/")
    assert renewal.order.plan == plus and renewal.order.amount == Decimal("15.00")


def test_an_add_on_connection_paid_adds_one_on_the_panel_and_to_every_renewal_after(
    customer, basic, run_tasks, xui_emulator, smtp_inbox
):
    with time_machine.travel(T0, tick=False) as clock:
        line = _bought(customer, basic, run_tasks)
        before = _row(xui_emulator, line)
        clock.move_to(T0 + 18 * DAY)
        portal = _portal(customer)
        path = f"/portal/lines/{line.pk}/connections/"
        assert f'href="{path}"' in portal.get("/portal/").content.decode()
        page = portal.get(path).content.decode()
        # One extra connection: 3.00 per 30 days, 12 days left: 3.00 × 12/30 = 1.20.
        # Two: 6.00 × 12/30 = 2.40.
        assert '+1 → 2 connections · <strong class="quote-pay">pay now 1.20 EUR' in page
        assert '+2 → 3 connections · <strong class="quote-pay">pay now 2.40 EUR' in page
        assert "every renewal after includes it" in page
        assert _submit(portal, path, {"count": 1, "gateway": "manual"}).status_code == 303
        order = Order.objects.get(kind=Order.Kind.ADDON)
        assert order.amount == Decimal("1.20") and order.quote["extra_to"] == 1
        _confirm(order)
        with pytest.raises(TransferNotConfirmable):
            _confirm(order)  # a second confirmation
        run_tasks()

        assert PanelOperation.objects.filter(order=order).count() == 1
        after = _row(xui_emulator, line)
        assert str(after["max_connections"]) == "2"  # + 1 on the panel
        assert after["exp_date"] == before["exp_date"] and after["password"] == before["password"]
        line.refresh_from_db()
        assert (line.connections, line.extra_connections) == (2, 1)
        # Renewals charge the plan and the add-on: 10.00 + 3.00.
        renewal = renewal_checkout_begin(line=line, gateway="manual", status_url_for=lambda o: "/")
        assert renewal.order.amount == Decimal("13.00")
        _confirm(renewal.order)
        run_tasks()
    line.refresh_from_db()
    assert line.connections == 2 and line.expires_at == T0 + 60 * DAY
    assert str(_row(xui_emulator, line)["max_connections"]) == "2"
    smtp_inbox.wait_for(3)
    assert Message.objects.filter(kind="line_plan_changed", line=line).count() == 1


# --- who may do what -------------------------------------------------------------------------


@pytest.fixture
def running_line(customer, basic):
    return Line.objects.create(
        customer=customer,
        plan=basic,
        panel=basic.panel_mappings.get().panel,
        panel_line_id="41",
        username="jane41",
        password="Secret41",
        connections=1,
        status=Line.Status.ACTIVE,
        expires_at=datetime.now(UTC).replace(microsecond=0) + 12 * DAY,
    )


@pytest.mark.django_db
@pytest.mark.parametrize("page", ["plan", "connections", "plan/cancel"])
def test_another_customers_line_is_not_found(running_line, plus, page):
    other = Customer.objects.create(email="mallory@example.test", name="Mallory")
    client = Client()
    client.force_login(customer_portal_user(customer=other))

    assert client.get(f"/portal/lines/{running_line.pk}/{page}/").status_code in (404, 405)
    answer = client.post(f"/portal/lines/{running_line.pk}/{page}/", {"plan": plus.pk})
    assert answer.status_code == 404
    assert not Order.objects.exists()
    running_line.refresh_from_db()
    assert running_line.next_plan is None


@pytest.mark.django_db
@pytest.mark.parametrize("value", ["999999", "abc", "", "-1"])
def test_a_tampered_plan_is_refused_with_a_clear_error(running_line, plus, value):
    client = Client()
    client.force_login(customer_portal_user(customer=running_line.customer))
    answer = client.post(
        f"/portal/lines/{running_line.pk}/plan/", {"plan": value, "gateway": "manual"}
    )
    assert answer.status_code == 400
    body = answer.content.decode()
    assert "Choose one of the plans shown for this line." in body or "Choose a plan." in body
    assert not Order.objects.exists()


@pytest.mark.django_db
def test_a_plan_not_offered_for_this_line_is_refused(running_line, plus, panel):
    other_currency = Plan.objects.create(
        slug="usd", name="USD", duration_days=30, price=Decimal("50"), currency="USD"
    )
    PlanPanel.objects.create(plan=other_currency, panel=panel, mapping={"bouquets": [1]})
    client = Client()
    client.force_login(customer_portal_user(customer=running_line.customer))
    answer = client.post(
        f"/portal/lines/{running_line.pk}/plan/", {"plan": other_currency.pk, "gateway": "manual"}
    )
    assert answer.status_code == 400 and "Choose one of the plans shown" in answer.content.decode()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("change", "says"),
    [
        ({"is_trial": True}, "a trial line is not upgraded"),
        ({"status": Line.Status.SUSPENDED}, "renew it first"),
        ({"status": Line.Status.EXPIRED}, "renew it first"),
        ({"status": Line.Status.CANCELLED}, "cancelled"),
    ],
)
def test_trial_suspended_and_ended_lines_are_not_upgraded(running_line, plus, change, says):
    Line.objects.filter(pk=running_line.pk).update(**change)
    client = Client()
    client.force_login(customer_portal_user(customer=running_line.customer))

    page = client.get(f"/portal/lines/{running_line.pk}/plan/")
    assert page.status_code == 200 and says in page.content.decode()
    answer = client.post(
        f"/portal/lines/{running_line.pk}/plan/", {"plan": plus.pk, "gateway": "manual"}
    )
    assert answer.status_code == 400 and says in answer.content.decode()
    addon = client.post(
        f"/portal/lines/{running_line.pk}/connections/", {"count": 1, "gateway": "manual"}
    )
    assert addon.status_code == 400
    assert not Order.objects.exists()
    overview = client.get("/portal/").content.decode()
    assert f"/portal/lines/{running_line.pk}/plan/" not in overview


@pytest.mark.django_db
def test_the_back_office_shows_a_downgrade_waiting_for_the_next_renewal(
    admin_client, running_line, plus
):
    from boxoffice.provisioning.plan_changes import line_downgrade_schedule

    line_downgrade_schedule(line=running_line, plan=plus)

    listing = admin_client.get("/admin/provisioning/line/").content.decode()
    page = admin_client.get(f"/admin/provisioning/line/{running_line.pk}/change/").content.decode()
    assert "changes to Plus at next renewal" in listing
    assert "changes to Plus at next renewal" in page


@pytest.mark.django_db
def test_the_day_7_mail_can_link_to_the_add_on_page_of_a_plan_that_sells_them(
    settings, running_line, plus, customer
):
    from boxoffice.provisioning.emails import extra_connections_offer_url

    settings.SITE_URL = "https://tv.example.test"
    assert extra_connections_offer_url(running_line) == (
        f"https://tv.example.test/portal/lines/{running_line.pk}/connections/"
    )
    running_line.plan = plus  # sells none
    assert extra_connections_offer_url(running_line) == ""
    # The link needs a sign-in, and then opens only the customer's own line.
    anonymous = Client().get(f"/portal/lines/{running_line.pk}/connections/")
    assert anonymous.status_code == 302 and "/portal/login/" in anonymous["Location"]


@pytest.mark.django_db
def test_the_renewal_page_shows_the_add_on_and_the_scheduled_plan(running_line, plus, panel):
    from boxoffice.provisioning.lifecycle import renewal_pay_token

    lite = _plan(panel, "lite", price="7.00", connections=1, bouquets=[1])
    Line.objects.filter(pk=running_line.pk).update(extra_connections=1, connections=2)
    page = Client().get(f"/renew/{renewal_pay_token(running_line)}/").content.decode()
    # Basic 10.00 + one extra connection at 3.00.
    assert "Renew · 13.00 EUR" in page and "+ 1 extra connection at 3.00 EUR" in page

    Line.objects.filter(pk=running_line.pk).update(next_plan=lite)
    page = Client().get(f"/renew/{renewal_pay_token(running_line)}/").content.decode()
    # Lite sells no extra connections: 7.00, and the line changes with this renewal.
    assert "Renew · 7.00 EUR" in page and "changes from Basic to Lite" in page


@pytest.mark.django_db
def test_nothing_is_charged_above_the_amount_the_page_showed(running_line, plus):
    client = Client()
    client.force_login(customer_portal_user(customer=running_line.customer))
    path = f"/portal/lines/{running_line.pk}/plan/"
    # 12 days left: 15 × 12/30 − 10 × 12/30 = 6.00 − 4.00 = 2.00, but the page said 1.99.
    answer = client.post(path, {"plan": plus.pk, "gateway": "manual", f"shown-{plus.pk}": "1.99"})
    assert answer.status_code == 400
    body = answer.content.decode()
    assert "The price changed since you opened this page: it is now 2.00 EUR" in body
    assert not Order.objects.exists()
    for shown in ("", "NaN", "abc"):  # missing or tampered: shown again, nothing charged
        answer = client.post(
            path, {"plan": plus.pk, "gateway": "manual", f"shown-{plus.pk}": shown}
        )
        assert answer.status_code == 400
    assert not Order.objects.exists()
    # What the page showed, or more, is fine: the order is the amount computed now (2.00).
    answer = client.post(path, {"plan": plus.pk, "gateway": "manual", f"shown-{plus.pk}": "2.00"})
    assert answer.status_code == 303
    assert Order.objects.get().amount == Decimal("2.00")


@pytest.mark.django_db
def test_a_renewal_into_a_cancelled_downgrade_or_of_a_plan_left_since_goes_to_review(
    running_line, plus, panel
):
    from boxoffice.provisioning.plan_changes import line_downgrade_cancel, line_downgrade_schedule

    lite = _plan(panel, "lite", price="7.00", connections=1, bouquets=[1])
    line_downgrade_schedule(line=running_line, plan=lite)
    into_lite = renewal_checkout_begin(
        line=running_line, gateway="manual", status_url_for=lambda o: "/"
    ).order
    assert into_lite.plan == lite and into_lite.quote["plan_change"]["to_plan"] == lite.pk
    line_downgrade_cancel(line=running_line)
    _confirm(into_lite)
    into_lite.refresh_from_db()
    assert into_lite.needs_review and "no change to Lite is scheduled" in into_lite.review_reason

    # A renewal of Basic started, then the line moved to Plus, then the renewal is paid.
    of_basic = renewal_checkout_begin(
        line=running_line, gateway="manual", status_url_for=lambda o: "/"
    ).order
    Line.objects.filter(pk=running_line.pk).update(plan=plus)
    _confirm(of_basic)
    of_basic.refresh_from_db()
    assert of_basic.needs_review and "is on Plus" in of_basic.review_reason
    assert not PanelOperation.objects.exists()


def test_a_renewal_started_before_an_add_on_goes_to_review_not_to_free_connections(
    customer, basic, run_tasks, xui_emulator, smtp_inbox
):
    """Review finding: a renewal priced without extras, paid after extras were bought, would
    give a whole period of connections nobody paid for."""
    with time_machine.travel(T0, tick=False) as clock:
        line = _bought(customer, basic, run_tasks)
        clock.move_to(T0 + 29 * DAY)
        stale = renewal_checkout_begin(line=line, gateway="manual", status_url_for=lambda o: "/")
        assert stale.order.amount == Decimal("10.00")  # no extras yet
        portal = _portal(customer)
        path = f"/portal/lines/{line.pk}/connections/"
        assert _submit(portal, path, {"count": 2, "gateway": "manual"}).status_code == 303
        _confirm(Order.objects.get(kind=Order.Kind.ADDON))
        run_tasks()
        line.refresh_from_db()
        assert line.extra_connections == 2

        _confirm(stale.order)
        run_tasks()
    stale.order.refresh_from_db()
    line.refresh_from_db()
    assert stale.order.needs_review and "priced for 0 extra connection" in stale.order.review_reason
    assert line.expires_at == T0 + 30 * DAY  # not extended
    assert not PanelOperation.objects.filter(order=stale.order).exists()
