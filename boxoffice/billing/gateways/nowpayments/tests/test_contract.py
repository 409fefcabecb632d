"""The gateway contract for NOWPayments: the emulator takes the payments and POSTs its signed IPNs
over real HTTP to the invoice's ipn_callback_url (the live webhook endpoint); the queued tasks
then run as a worker's (and re-read each payment from the emulator before applying it)."""

from __future__ import annotations

import json

import httpx
import pytest

from boxoffice.billing.gateways.contract import GatewayContract, GatewayDriver

pytestmark = pytest.mark.django_db(transaction=True)


class NOWPaymentsDriver(GatewayDriver):
    def __init__(self, emulator, live_url, run_tasks):
        self.emulator = emulator
        self.site_url = live_url
        self.webhook_url = f"{live_url}/billing/webhooks/nowpayments/"
        self.run_tasks = run_tasks

    def _invoice_id(self, order) -> str:
        order.refresh_from_db()
        assert order.gateway_reference, "no invoice"
        return order.gateway_reference

    def _settle(self):
        self.emulator.wait_for_deliveries()
        self.run_tasks()

    def pay(self, order):
        self.emulator.pay(self._invoice_id(order))
        self._settle()

    def leave_pending(self, order):
        self.emulator.pay(self._invoice_id(order), confirm=False)
        self._settle()

    def fail(self, order):
        self.emulator.fail(self._invoice_id(order))
        self._settle()

    def expire(self, order):
        self.emulator.expire(self._invoice_id(order))
        self._settle()

    def deliver_again(self, order):
        self.emulator.resend(-1)
        self._settle()

    def deliver_forged(self, order):
        invoice_id = self._invoice_id(order)
        payment = {
            "payment_id": 5555,
            "invoice_id": int(invoice_id),
            "payment_status": "finished",
            "price_amount": float(order.amount),
            "price_currency": order.currency.lower(),
            "pay_amount": 0.0002,
            "actually_paid": 0.0002,
            "pay_currency": "btc",
            "order_id": order.reference,
            "updated_at": "2026-01-01T00:00:00.000Z",
        }
        response = httpx.post(
            self.webhook_url,
            content=json.dumps(payload := payment).encode(),
            headers={
                "Content-Type": "application/json",
                "x-nowpayments-sig": self.emulator.sign(payload, secret="not-our-ipn-secret"),
            },
        )
        return response.status_code

    def deliver_out_of_order(self, order):
        invoice_id = self._invoice_id(order)
        # "waiting" and "confirming" are held back; "finished" overtakes them.
        self.emulator.configure(webhook_url=None)
        self.emulator.pay(invoice_id, confirm=False)
        self.emulator.configure(webhook_url=self.webhook_url)
        self.emulator.pay(invoice_id)
        self._settle()
        assert self.emulator.release_held(self.webhook_url) == 2
        self._settle()

    def pay_partially(self, order, amount):
        self.emulator.pay_part(self._invoice_id(order), amount)
        self._settle()

    def refund_at_gateway(self, order):
        self.emulator.refund(self._invoice_id(order))
        self._settle()


@pytest.fixture
def nowpayments_settings(settings, live_server, nowpayments_emulator):
    settings.SITE_URL = live_server.url
    settings.PAYMENT_GATEWAYS = [*settings.PAYMENT_GATEWAYS, "nowpayments"]
    settings.NOWPAYMENTS_API_BASE = nowpayments_emulator.base_url
    settings.NOWPAYMENTS_API_KEY = nowpayments_emulator.api_key
    settings.NOWPAYMENTS_IPN_SECRET = nowpayments_emulator.ipn_secret
    return settings


class TestNOWPaymentsGatewayContract(GatewayContract):
    kind = "nowpayments"

    @pytest.fixture
    def gateway_driver(self, nowpayments_settings, live_server, nowpayments_emulator, run_tasks):
        return NOWPaymentsDriver(nowpayments_emulator, live_server.url, run_tasks)
