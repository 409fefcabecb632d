"""The gateway contract for Stripe: the Stripe emulator takes the payments and delivers its signed
webhooks over real HTTP to the live webhook endpoint; the queued tasks then run as a worker's."""

from __future__ import annotations

import json
import time

import httpx
import pytest
import stripe

from boxoffice.billing.gateways.contract import GatewayContract, GatewayDriver

pytestmark = pytest.mark.django_db(transaction=True)


class StripeDriver(GatewayDriver):
    def __init__(self, emulator, live_url, run_tasks):
        self.emulator = emulator
        self.site_url = live_url
        self.webhook_url = f"{live_url}/billing/webhooks/stripe/"
        self.run_tasks = run_tasks

    def _session_id(self, order) -> str:
        order.refresh_from_db()
        assert order.gateway_reference, "no checkout session"
        return order.gateway_reference

    def _settle(self):
        self.emulator.wait_for_deliveries()
        self.run_tasks()

    def _last_event_id(self, session_id: str) -> str:
        return [e for e in self.emulator.events() if e["data"]["object"]["id"] == session_id][-1][
            "id"
        ]

    def pay(self, order):
        session_id = self._session_id(order)
        if self.emulator.session(session_id)["status"] == "complete":  # after a delayed method
            self.emulator.emit(session_id, "checkout.session.async_payment_succeeded")
        else:
            self.emulator.pay(session_id)
        self._settle()

    def leave_pending(self, order):
        self.emulator.pay_later(self._session_id(order))  # completed, payment_status=unpaid
        self._settle()

    def fail(self, order):
        self.emulator.emit(self._session_id(order), "checkout.session.async_payment_failed")
        self._settle()

    def expire(self, order):
        self.emulator.emit(self._session_id(order), "checkout.session.expired")
        self._settle()

    def deliver_again(self, order):
        self.emulator.resend(self._last_event_id(self._session_id(order)))
        self._settle()

    def deliver_forged(self, order):
        session = self.emulator.session(self._session_id(order))
        session.update(status="complete", payment_status="paid")
        body = json.dumps(
            {
                "id": "evt_forged",
                "object": "event",
                "type": "checkout.session.completed",
                "created": int(time.time()),
                "data": {"object": session},
            }
        )
        header = stripe.WebhookSignature.generate_signature_header(body, "whsec_not_ours")
        response = httpx.post(
            self.webhook_url,
            content=body,
            headers={"Content-Type": "application/json", "Stripe-Signature": header},
        )
        return response.status_code

    def deliver_out_of_order(self, order):
        session_id = self._session_id(order)
        # The "pending" (completed, unpaid) is held back; the success overtakes it.
        self.emulator.configure(webhook_url=None)
        self.emulator.pay_later(session_id)
        self.emulator.wait_for_deliveries()
        pending = self._last_event_id(session_id)
        self.emulator.configure(webhook_url=self.webhook_url)
        self.emulator.emit(session_id, "checkout.session.async_payment_succeeded")
        self._settle()
        self.emulator.resend(pending)
        self._settle()

    def pay_unannounced(self, order):
        self.emulator.configure(webhook_url=None)
        self.emulator.pay(self._session_id(order))
        self.emulator.wait_for_deliveries()
        self.emulator.configure(webhook_url=self.webhook_url)

    def refund_at_gateway(self, order):
        self.emulator.emit(self._session_id(order), "charge.refunded")
        self._settle()


class TestStripeGatewayContract(GatewayContract):
    kind = "stripe"

    @pytest.fixture
    def gateway_driver(self, live_server, settings, stripe_emulator, run_tasks):
        settings.SITE_URL = live_server.url
        settings.STRIPE_API_BASE = stripe_emulator.base_url
        settings.STRIPE_SECRET_KEY = stripe_emulator.api_key
        settings.STRIPE_WEBHOOK_SECRET = stripe_emulator.webhook_secret
        driver = StripeDriver(stripe_emulator, live_server.url, run_tasks)
        stripe_emulator.configure(webhook_url=driver.webhook_url)
        return driver
