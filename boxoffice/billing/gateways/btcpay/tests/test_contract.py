"""The gateway contract for BTCPay Server: the emulator takes the payments and delivers its signed
webhooks over real HTTP to the live webhook endpoint; the queued tasks then run as a worker's
(and re-read each invoice from the emulator before applying it)."""

from __future__ import annotations

import json
import time

import httpx
import pytest

from boxoffice.billing.gateways.contract import GatewayContract, GatewayDriver

pytestmark = pytest.mark.django_db(transaction=True)


class BTCPayDriver(GatewayDriver):
    def __init__(self, emulator, live_url, run_tasks):
        self.emulator = emulator
        self.site_url = live_url
        self.webhook_url = f"{live_url}/billing/webhooks/btcpay/"
        self.run_tasks = run_tasks

    def _invoice_id(self, order) -> str:
        order.refresh_from_db()
        assert order.gateway_reference, "no invoice"
        return order.gateway_reference

    def _settle(self):
        self.emulator.wait_for_deliveries()
        self.run_tasks()

    def pay(self, order):
        invoice_id = self._invoice_id(order)
        if self.emulator.invoice(invoice_id)["status"] == "Processing":
            self.emulator.confirm(invoice_id)
        else:
            self.emulator.pay(invoice_id)
        self._settle()

    def leave_pending(self, order):
        self.emulator.pay(self._invoice_id(order), confirm=False)
        self._settle()

    def fail(self, order):
        self.emulator.invalidate(self._invoice_id(order))
        self._settle()

    def expire(self, order):
        self.emulator.expire(self._invoice_id(order))
        self._settle()

    def deliver_again(self, order):
        last = self.emulator.events(self._invoice_id(order))[-1]
        self.emulator.redeliver(last["deliveryId"])
        self._settle()

    def deliver_forged(self, order):
        invoice_id = self._invoice_id(order)
        body = json.dumps(
            {
                "deliveryId": "forged-delivery",
                "webhookId": "emulator-webhook",
                "originalDeliveryId": "forged-delivery",
                "isRedelivery": False,
                "type": "InvoiceSettled",
                "timestamp": int(time.time()),
                "storeId": self.emulator.store_id,
                "invoiceId": invoice_id,
                "metadata": {"orderId": order.reference},
            }
        ).encode()
        response = httpx.post(
            self.webhook_url,
            content=body,
            headers={
                "Content-Type": "application/json",
                "BTCPay-Sig": self.emulator.sign(body, secret="not-the-store-secret"),
            },
        )
        return response.status_code

    def deliver_out_of_order(self, order):
        invoice_id = self._invoice_id(order)
        # "Received" and "Processing" are held back; "Settled" overtakes them.
        self.emulator.configure(webhook_url=None)
        self.emulator.pay(invoice_id, confirm=False)
        self.emulator.configure(webhook_url=self.webhook_url)
        self.emulator.confirm(invoice_id)
        self._settle()
        assert self.emulator.release_held(self.webhook_url) == 2
        self._settle()

    def pay_partially(self, order, amount):
        invoice_id = self._invoice_id(order)
        self.emulator.pay(invoice_id, amount)
        self.emulator.expire(invoice_id)
        self._settle()


@pytest.fixture
def btcpay_settings(settings, live_server, btcpay_emulator):
    settings.SITE_URL = live_server.url
    settings.PAYMENT_GATEWAYS = [*settings.PAYMENT_GATEWAYS, "btcpay"]
    settings.BTCPAY_URL = btcpay_emulator.base_url
    settings.BTCPAY_API_KEY = btcpay_emulator.api_key
    settings.BTCPAY_STORE_ID = btcpay_emulator.store_id
    settings.BTCPAY_WEBHOOK_SECRET = btcpay_emulator.webhook_secret
    btcpay_emulator.configure(webhook_url=f"{live_server.url}/billing/webhooks/btcpay/")
    return settings


class TestBTCPayGatewayContract(GatewayContract):
    kind = "btcpay"

    @pytest.fixture
    def gateway_driver(self, btcpay_settings, live_server, btcpay_emulator, run_tasks):
        return BTCPayDriver(btcpay_emulator, live_server.url, run_tasks)
