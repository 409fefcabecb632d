"""When a crypto gateway cannot be reached or refuses us: the customer reads a sentence (no key,
no traceback), the order is cancelled, not half-started; a notification whose invoice cannot be
read anew is retried with backoff, never applied from its payload alone."""

from __future__ import annotations

import logging
from decimal import Decimal

import pytest

from boxoffice.billing.gateways.base import CheckoutRequest, PaymentError, UnableToTakePayment
from boxoffice.billing.gateways.btcpay.adapter import BTCPayConfig, BTCPayGateway
from boxoffice.billing.gateways.nowpayments.adapter import NOWPaymentsConfig, NOWPaymentsGateway
from boxoffice.billing.models import Order, WebhookEvent
from boxoffice.billing.webhooks import webhook_event_process

REQUEST = CheckoutRequest(
    order_reference="BX-FAIL0001",
    amount=Decimal("9.99"),
    currency="EUR",
    description="Demo TV — Monthly",
    customer_email="jane@example.test",
    success_url="http://shop.test/ok",
    cancel_url="http://shop.test/no",
)


def test_a_wrong_btcpay_key_is_a_sentence_for_the_customer_and_no_key_in_the_log(
    btcpay_emulator, caplog
):
    adapter = BTCPayGateway(
        BTCPayConfig(
            url=btcpay_emulator.base_url,
            store_id=btcpay_emulator.store_id,
            api_key="wrong-key-1234",
            webhook_secret="s",
        )
    )
    with caplog.at_level(logging.WARNING), pytest.raises(UnableToTakePayment) as refused:
        adapter.start_checkout(REQUEST)
    assert "Bitcoin payments are not available right now" in str(refused.value)
    assert "HTTP 401" in caplog.text and "wrong-key-1234" not in caplog.text


def test_an_unreachable_nowpayments_is_a_sentence_for_the_customer(unused_panel_url):
    adapter = NOWPaymentsGateway(
        NOWPaymentsConfig(api_key="k", ipn_secret="s", api_base=unused_panel_url)
    )
    with pytest.raises(UnableToTakePayment) as refused:
        adapter.start_checkout(REQUEST)
    assert "Crypto payments are not available right now" in str(refused.value)
    with pytest.raises(PaymentError):
        adapter.payment_fetch("123")


@pytest.mark.django_db(transaction=True)
def test_a_notification_whose_invoice_cannot_be_read_is_retried(
    make_order, settings, btcpay_emulator, unused_panel_url
):
    settings.PAYMENT_GATEWAYS = ["btcpay"]
    settings.BTCPAY_URL = unused_panel_url  # BTCPay is down when the task runs
    settings.BTCPAY_STORE_ID = btcpay_emulator.store_id
    settings.BTCPAY_API_KEY = "secret-api-key-9"
    order = make_order(gateway="btcpay")
    stored = WebhookEvent.objects.create(
        gateway="btcpay",
        event_id="d-1",
        event_type="InvoiceSettled",
        payload={
            "deliveryId": "d-1",
            "type": "InvoiceSettled",
            "invoiceId": "inv-1",
            "storeId": btcpay_emulator.store_id,
            "metadata": {"orderId": order.reference},
        },
    )
    assert webhook_event_process(event_pk=stored.pk) == "retry"
    stored.refresh_from_db()
    assert (stored.status, stored.attempts) == (WebhookEvent.Status.RECEIVED, 1)
    assert "PaymentError" in stored.error and "secret-api-key-9" not in stored.error
    order.refresh_from_db()
    assert order.status == Order.Status.AWAITING_PAYMENT and not order.lines.exists()
