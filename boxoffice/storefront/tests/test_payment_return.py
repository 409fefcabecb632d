"""Back from the payment page: a paid card shows as paid on the first screen (asked of Stripe,
not waiting for its webhook), and a customer who left without paying has three ways on."""

from __future__ import annotations

import httpx
import pytest

from boxoffice.billing.models import Order, Payment
from boxoffice.panels.models import Panel
from boxoffice.provisioning.models import Line

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def held_back(site, stripe_emulator):
    """Stripe's webhooks are not delivered (held back): only the return can tell us."""
    stripe_emulator.configure(webhook_url=None)
    return site


def _checkout(site: str) -> tuple[httpx.Client, str, Order]:
    http = httpx.Client(base_url=site, follow_redirects=False, timeout=10)
    http.get("/checkout/monthly/")
    answer = http.post(
        "/checkout/monthly/",
        data={
            "csrfmiddlewaretoken": http.cookies["csrftoken"],
            "email": "returner@example.test",
            "name": "Ray Returner",
            "device": "app",
            "country": "DE",
            "gateway": "stripe",
        },
        headers={"Referer": f"{site}/checkout/monthly/"},
    )
    assert answer.status_code == 303, answer.text[:1000]
    pay_url = answer.headers["location"]
    order = Order.objects.get(gateway_reference=pay_url.rsplit("/", 1)[-1])
    return http, pay_url, order


def _press(http: httpx.Client, pay_url: str, button: str) -> httpx.Response:
    return httpx.post(f"{pay_url}/{button}", data={}, follow_redirects=False)


def _form(http, html: str, action_name: str, path: str, **data) -> httpx.Response:
    assert f'name="{action_name}"' in html
    return http.post(
        path,
        data={"csrfmiddlewaretoken": http.cookies["csrftoken"], action_name: "1", **data},
        headers={"Referer": str(http.base_url)},
    )


def test_it_shows_payment_received_on_the_first_screen_without_the_webhook(
    held_back, stripe_emulator, xui_emulator
):
    http, pay_url, order = _checkout(held_back)
    back = _press(http, pay_url, "pay")
    assert back.status_code in (302, 303)
    location = back.headers["location"]
    assert f"session_id={order.gateway_reference}" in location

    page = http.get(location)
    assert page.status_code == 200
    assert "Payment received" in page.text and "Waiting for your payment" not in page.text
    order.refresh_from_db()
    assert order.status == Order.Status.PAID
    assert Line.objects.filter(order=order).count() == 1

    # The webhook lands late: the same idempotent path, nothing happens twice.
    stripe_emulator.configure(webhook_url=f"{held_back}/billing/webhooks/stripe/")
    for event in stripe_emulator.events():
        stripe_emulator.resend(event["id"])
    stripe_emulator.wait_for_deliveries()
    assert Payment.objects.filter(order=order, status="confirmed").count() == 1
    assert Line.objects.filter(order=order).count() == 1


def test_it_does_not_take_the_address_for_the_payment(held_back, stripe_emulator):
    http, pay_url, order = _checkout(held_back)
    page = http.get(f"/order/{order.status_token}/?session_id={order.gateway_reference}")
    assert "Waiting for your payment" in page.text
    order.refresh_from_db()
    assert order.status == Order.Status.AWAITING_PAYMENT


def test_it_offers_three_ways_on_after_cancel_and_pays_with_a_fresh_checkout(
    held_back, stripe_emulator
):
    http, pay_url, order = _checkout(held_back)
    first_session = order.gateway_reference
    cancel_url = stripe_emulator.session(first_session)["cancel_url"]
    page = http.get(cancel_url)
    assert "You left the payment page" in page.text
    assert "hx-trigger" not in page.text  # no spinner polling for ever
    for label in ("Pay now", "Choose another plan", "Cancel the order"):
        assert label in page.text

    again = _form(
        http, page.text, "pay", f"/order/{order.status_token}/pay", replacing=first_session
    )
    assert again.status_code == 303
    new_pay_url = again.headers["location"]
    order.refresh_from_db()
    assert order.gateway_reference != first_session
    assert new_pay_url.endswith(order.gateway_reference)
    assert stripe_emulator.session(first_session)["status"] == "expired"

    # The old checkout's "expired" notice arrives: it does not end the order.
    stripe_emulator.configure(webhook_url=f"{held_back}/billing/webhooks/stripe/")
    stripe_emulator.wait_for_deliveries()
    for event in stripe_emulator.events():
        stripe_emulator.resend(event["id"])
    stripe_emulator.wait_for_deliveries()
    order.refresh_from_db()
    assert order.status == Order.Status.AWAITING_PAYMENT

    back = _press(http, new_pay_url, "pay")
    page = http.get(back.headers["location"])
    assert "Payment received" in page.text
    order.refresh_from_db()
    assert order.status == Order.Status.PAID


def test_it_cancels_the_order_and_closes_its_checkout(held_back, stripe_emulator):
    http, pay_url, order = _checkout(held_back)
    page = http.get(stripe_emulator.session(order.gateway_reference)["cancel_url"])
    done = _form(http, page.text, "cancel", f"/order/{order.status_token}/cancel")
    assert done.status_code == 303
    page = http.get(done.headers["location"])
    assert "This order is cancelled" in page.text
    order.refresh_from_db()
    assert order.status == Order.Status.CANCELLED
    assert stripe_emulator.session(order.gateway_reference)["status"] == "expired"
    assert httpx.post(f"{pay_url}/pay").status_code != 303  # cannot be paid any more


def test_it_sends_the_customer_to_the_plans_to_choose_another(held_back, stripe_emulator):
    http, pay_url, order = _checkout(held_back)
    page = http.get(stripe_emulator.session(order.gateway_reference)["cancel_url"])
    done = _form(http, page.text, "choose", f"/order/{order.status_token}/cancel", then="plans")
    assert done.status_code == 303 and done.headers["location"] == "/"
    order.refresh_from_db()
    assert order.status == Order.Status.CANCELLED


def test_it_confirms_instead_of_cancelling_an_order_paid_meanwhile(held_back, stripe_emulator):
    http, pay_url, order = _checkout(held_back)
    page = http.get(stripe_emulator.session(order.gateway_reference)["cancel_url"])
    stripe_emulator.pay(order.gateway_reference)  # paid in another tab
    done = _form(http, page.text, "cancel", f"/order/{order.status_token}/cancel")
    assert done.status_code == 303
    order.refresh_from_db()
    assert order.status == Order.Status.PAID


def test_it_answers_bad_input_without_a_500(held_back, stripe_emulator):
    http, pay_url, order = _checkout(held_back)
    status = f"/order/{order.status_token}"
    http.get(f"{status}/")
    token = http.cookies["csrftoken"]
    headers = {"Referer": str(http.base_url)}
    for path in (f"{status}/pay", f"{status}/cancel", "/order/nope/pay"):
        answer = http.post(
            path, data={"csrfmiddlewaretoken": token, "replacing": "x"}, headers=headers
        )
        assert answer.status_code in (303, 404), (path, answer.status_code)
    assert http.get(f"{status}/pay").status_code == 405
    assert http.get(f"{status}/?session_id=%00&payment=%ff").status_code == 200


def test_it_says_at_once_that_the_panel_is_down(make_order, client, panel):
    from boxoffice.billing.services import order_mark_paid

    Panel.objects.filter(pk=panel.pk).update(health=Panel.Health.DOWN)
    order = make_order()
    order_mark_paid(order=order)
    page = client.get(f"/order/{order.status_token}/")
    html = page.content.decode()
    assert "not answering right now" in html
    assert "usually takes a few seconds" not in html
