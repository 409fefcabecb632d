"""A reminder's pay link renews a line with either crypto gateway: the renewal order goes to the
emulator's page, the payment arrives as a signed notification over real HTTP, and the line gets
its one `extend` operation (an underpaid renewal goes to review instead)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.test import Client
from django.utils import timezone

from boxoffice.billing.models import Order
from boxoffice.provisioning.lifecycle import renewal_pay_token
from boxoffice.provisioning.models import Line, PanelOperation

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def line(plan, customer):
    return Line.objects.create(
        customer=customer,
        plan=plan,
        panel=plan.panel_mappings.get().panel,
        username="renewme",
        password="renewme-Secret-pw",
        status=Line.Status.ACTIVE,
        expires_at=timezone.now().replace(microsecond=0) + timedelta(days=3),
        panel_line_id="21",
    )


@pytest.fixture
def gateways(settings, live_server, btcpay_emulator, nowpayments_emulator):
    settings.SITE_URL = live_server.url
    settings.PAYMENT_GATEWAYS = ["stripe", "btcpay", "nowpayments", "manual"]
    settings.BTCPAY_URL = btcpay_emulator.base_url
    settings.BTCPAY_API_KEY = btcpay_emulator.api_key
    settings.BTCPAY_STORE_ID = btcpay_emulator.store_id
    settings.BTCPAY_WEBHOOK_SECRET = btcpay_emulator.webhook_secret
    btcpay_emulator.configure(webhook_url=f"{live_server.url}/billing/webhooks/btcpay/")
    settings.NOWPAYMENTS_API_BASE = nowpayments_emulator.base_url
    settings.NOWPAYMENTS_API_KEY = nowpayments_emulator.api_key
    settings.NOWPAYMENTS_IPN_SECRET = nowpayments_emulator.ipn_secret
    return {"btcpay": btcpay_emulator, "nowpayments": nowpayments_emulator}


def _renew(line, kind, gateways, run_tasks, *, part: Decimal | None = None) -> Order:
    page = Client().get(f"/renew/{renewal_pay_token(line)}/")
    assert page.status_code == 200 and f'value="{kind}"' in page.content.decode()
    answer = Client().post(f"/renew/{renewal_pay_token(line)}/", {"gateway": kind})
    emulator = gateways[kind]
    assert answer.status_code == 303 and answer["Location"].startswith(emulator.base_url)
    order = Order.objects.get(kind=Order.Kind.RENEWAL, gateway=kind)
    assert order.target_line == line
    if kind == "btcpay":
        if part is None:
            emulator.pay(order.gateway_reference)
        else:
            emulator.pay(order.gateway_reference, part)
            emulator.expire(order.gateway_reference)
    elif part is None:
        emulator.pay(order.gateway_reference)
    else:
        emulator.pay_part(order.gateway_reference, part)
    emulator.wait_for_deliveries()
    run_tasks()
    order.refresh_from_db()
    return order


@pytest.mark.parametrize("kind", ["btcpay", "nowpayments"])
def test_a_pay_link_renews_with_a_crypto_gateway(line, kind, gateways, run_tasks):
    order = _renew(line, kind, gateways, run_tasks)
    assert order.status == Order.Status.PAID
    [extend] = PanelOperation.objects.filter(line=line, kind="extend")
    assert extend.idempotency_key == f"renewal:order:{order.pk}"
    assert not Line.objects.exclude(pk=line.pk).exists()  # renewed, not a second line


@pytest.mark.parametrize("kind", ["btcpay", "nowpayments"])
def test_an_underpaid_renewal_waits_for_review(line, kind, gateways, run_tasks):
    order = _renew(line, kind, gateways, run_tasks, part=Decimal("2.00"))
    assert order.status == Order.Status.PAYMENT_PENDING and order.needs_review
    assert "partial payment: 2.00 EUR of 9.99 EUR" in order.review_reason
    assert not PanelOperation.objects.filter(line=line).exists()
