"""The gateway contract for PayPal: the PayPal emulator takes the orders, plays the buyer on its
approval page and delivers webhooks over real HTTP to the live endpoint, which verifies each one
with the emulator's verify-webhook-signature API; the queued tasks then run as a worker's (and
capture approved orders, which makes the emulator send the capture's event in turn)."""

from __future__ import annotations

import json
import uuid

import httpx
import pytest

from boxoffice.billing.gateways.contract import GatewayContract, GatewayDriver
from boxoffice.billing.gateways.paypal.client import tokens_forget

pytestmark = pytest.mark.django_db(transaction=True)


class PayPalDriver(GatewayDriver):
    def __init__(self, emulator, live_url, run_tasks):
        self.emulator = emulator
        self.site_url = live_url
        self.webhook_url = f"{live_url}/billing/webhooks/paypal/"
        self.run_tasks = run_tasks

    def _order_id(self, order) -> str:
        order.refresh_from_db()
        assert order.gateway_reference, "no PayPal order"
        return order.gateway_reference

    def settle(self):
        """Until quiet: deliveries land, their tasks run (a capture sends another event)."""
        for _ in range(10):
            self.emulator.wait_for_deliveries()
            if not self.run_tasks():
                self.emulator.wait_for_deliveries()
                if not self.run_tasks():
                    return
        raise AssertionError("events kept coming")

    def _events_of(self, order_id: str) -> list[dict]:
        def names(event):
            resource = event["resource"]
            related = resource.get("supplementary_data", {}).get("related_ids", {})
            return order_id in (
                resource.get("id"),
                resource.get("order_id"),
                related.get("order_id"),
            )

        return [e for e in self.emulator.events() if names(e)]

    def _approve(self, order_id: str, outcome: str) -> None:
        # The buyer's click on the approval page, over HTTP; its redirect goes back to us.
        response = httpx.post(f"{self.emulator.base_url}/checkoutnow/{order_id}/{outcome}")
        assert response.status_code == 303, response.text
        assert response.headers["location"].startswith(self.site_url)

    def pay(self, order):
        order_id = self._order_id(order)
        state = self.emulator.order(order_id)
        if state["status"] == "COMPLETED":  # a pending capture clears
            self.emulator.emit(order_id, "PAYMENT.CAPTURE.COMPLETED")
        else:
            self._approve(order_id, "approve")
        self.settle()

    def leave_pending(self, order):
        self._approve(self._order_id(order), "approve_pending")
        self.settle()

    def fail(self, order):
        self._approve(self._order_id(order), "deny")
        self.settle()

    def expire(self, order):
        # Approved, the approval's webhook lost, and not captured in time: PayPal reverses it.
        order_id = self._order_id(order)
        self.emulator.configure(webhook_url=None)
        self.emulator.approve(order_id)
        self.emulator.wait_for_deliveries()
        self.emulator.configure(webhook_url=self.webhook_url)
        self.emulator.emit(order_id, "CHECKOUT.PAYMENT-APPROVAL.REVERSED")
        self.settle()

    def deliver_again(self, order):
        for event in self._events_of(self._order_id(order)):
            self.emulator.resend(event["id"])
        self.settle()

    def deliver_forged(self, order):
        order_id = self._order_id(order)
        # A capture event that PayPal never sent, with made-up transmission headers.
        body = json.dumps(
            {
                "id": f"WH-FORGED-{uuid.uuid4().hex[:8]}",
                "event_type": "PAYMENT.CAPTURE.COMPLETED",
                "resource_type": "capture",
                "resource": {
                    "id": "FORGEDCAPTURE",
                    "status": "COMPLETED",
                    "amount": {"currency_code": order.currency, "value": str(order.amount)},
                    "custom_id": order.reference,
                    "supplementary_data": {"related_ids": {"order_id": order_id}},
                },
            }
        )
        response = httpx.post(
            self.webhook_url,
            content=body,
            headers={
                "Content-Type": "application/json",
                "PAYPAL-TRANSMISSION-ID": str(uuid.uuid4()),
                "PAYPAL-TRANSMISSION-TIME": "2026-01-01T00:00:00Z",
                "PAYPAL-TRANSMISSION-SIG": "Zm9yZ2Vk",
                "PAYPAL-CERT-URL": f"{self.emulator.base_url}/v1/notifications/certs/CERT-x",
                "PAYPAL-AUTH-ALGO": "SHA256withRSA",
            },
        )
        return response.status_code

    def deliver_out_of_order(self, order):
        order_id = self._order_id(order)
        # Our capture's answer was lost (a timeout): the capture is made at PayPal, pending,
        # then it clears; the events are held back and the completion overtakes the pending.
        self.emulator.configure(webhook_url=None)
        self.emulator.approve(order_id, "pending")
        self.emulator.api_capture(order_id)
        self.emulator.emit(order_id, "PAYMENT.CAPTURE.COMPLETED")
        self.emulator.wait_for_deliveries()
        held = {e["event_type"]: e["id"] for e in self._events_of(order_id)}
        self.emulator.configure(webhook_url=self.webhook_url)
        for kind in (
            "PAYMENT.CAPTURE.COMPLETED",
            "PAYMENT.CAPTURE.PENDING",
            "CHECKOUT.ORDER.APPROVED",
        ):
            self.emulator.resend(held[kind])
            self.settle()

    def pay_unannounced(self, order):
        self.emulator.configure(webhook_url=None)
        self._approve(self._order_id(order), "approve")
        self.emulator.wait_for_deliveries()
        self.emulator.configure(webhook_url=self.webhook_url)

    def refund_at_gateway(self, order):
        self.emulator.emit(self._order_id(order), "PAYMENT.CAPTURE.REFUNDED")
        self.settle()

    def subscribe(self, order):
        sub_id = self._order_id(order)
        assert sub_id.startswith("I-"), "not a PayPal subscription"
        response = httpx.post(
            f"{self.emulator.base_url}/webapps/billing/subscriptions/{sub_id}/approve"
        )
        assert response.status_code == 303, response.text
        assert response.headers["location"].startswith(self.site_url)
        self.settle()

    def renew(self, order):
        sub_id = self._order_id(order)
        sale = self.emulator.subscription_cycle(sub_id, "paid")["sale"]
        self.settle()
        [event] = [
            e
            for e in self.emulator.events()
            if e["event_type"] == "PAYMENT.SALE.COMPLETED" and e["resource"]["id"] == sale["id"]
        ]
        self.emulator.resend(event["id"])
        self.settle()


class TestPayPalGatewayContract(GatewayContract):
    kind = "paypal"

    @pytest.fixture
    def gateway_driver(self, live_server, settings, paypal_emulator, run_tasks):
        tokens_forget()
        settings.SITE_URL = live_server.url
        settings.PAYMENT_GATEWAYS = ["paypal", "manual"]
        settings.PAYPAL_API_BASE = paypal_emulator.base_url
        settings.PAYPAL_CLIENT_ID = paypal_emulator.client_id
        settings.PAYPAL_CLIENT_SECRET = paypal_emulator.client_secret
        settings.PAYPAL_WEBHOOK_ID = paypal_emulator.webhook_id
        driver = PayPalDriver(paypal_emulator, live_server.url, run_tasks)
        paypal_emulator.configure(webhook_url=driver.webhook_url)
        return driver
