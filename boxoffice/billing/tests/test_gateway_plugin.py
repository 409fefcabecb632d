"""A new gateway kind is one adapter class and one registry entry: billing's core needs nothing
more. A tiny fake kind (an HMAC-signed invoice gateway in the manner of BTCPay, declaring every
capability) is registered here and passes the same gateway contract as stripe and manual,
including the cases they skip: partial payment and refund from the back office."""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal

import pytest

from boxoffice.billing.gateways import base
from boxoffice.billing.gateways.base import (
    CheckoutRef,
    CheckoutRequest,
    CheckoutStart,
    GatewayAdapter,
    GatewayConfig,
    PaymentUpdate,
    VerifiedEvent,
    WebhookRejected,
)
from boxoffice.billing.gateways.contract import GatewayContract, GatewayDriver
from boxoffice.billing.gateways.registry import (
    GATEWAYS,
    gateway_config_problems,
    kind_choices,
    kinds_with,
)
from boxoffice.billing.models import Order

pytestmark = pytest.mark.django_db(transaction=True)

SECRET = "fake-webhook-secret"  # noqa: S105 - a test value
# The fake gateway's own books: invoice id -> what it knows (its "server side").
INVOICES: dict[str, dict] = {}
_ids = itertools.count(1)


@dataclass(frozen=True)
class FakeConfig(GatewayConfig):
    webhook_secret: str = field(default="", repr=False)

    @classmethod
    def from_settings(cls, settings) -> FakeConfig:
        return cls(webhook_secret=getattr(settings, "FAKE_GATEWAY_SECRET", ""))

    def problems(self, settings) -> list[str]:
        return [] if self.webhook_secret else ["FAKE_GATEWAY_SECRET is not set."]


def _sign(body: bytes, secret: str) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class FakeGateway(GatewayAdapter):
    kind = "fake"
    label = "Fake invoices"
    config_class = FakeConfig
    config: FakeConfig
    hosted_page = True
    notifications = True
    captures_on_return = True
    partial_payments = True
    reports_refunds = True
    refunds = True

    def start_checkout(self, request: CheckoutRequest) -> CheckoutStart:
        assert isinstance(request.amount, Decimal)  # typed values, never a model
        invoice = f"inv_{next(_ids)}"
        INVOICES[invoice] = {
            "order": request.order_reference,
            "amount": str(request.amount),
            "currency": request.currency,
            "status": "new",
        }
        return CheckoutStart(
            redirect_url=f"https://pay.fake.test/{invoice}", gateway_reference=invoice
        )

    def checkout_status(self, ref: CheckoutRef) -> PaymentUpdate | None:
        invoice = INVOICES.get(ref.gateway_reference)
        if invoice is None or invoice["status"] != "settled":
            return None
        return self._update("settled", ref.gateway_reference, invoice)

    def verify_webhook(self, *, body: bytes, headers: Mapping[str, str]) -> VerifiedEvent:
        given = headers.get("Fake-Sig", "")
        if not self.config.webhook_secret or not hmac.compare_digest(
            given, _sign(body, self.config.webhook_secret)
        ):
            raise WebhookRejected("bad Fake-Sig")
        payload = json.loads(body)
        return VerifiedEvent(payload["deliveryId"], payload["type"], payload)

    def parse_event(self, event: VerifiedEvent) -> PaymentUpdate | None:
        p = event.payload
        return self._update(p["type"], p["invoiceId"], p)

    def refund(
        self, *, gateway_payment_id: str, amount: Decimal, currency: str, key: str = ""
    ) -> PaymentUpdate:
        invoice = INVOICES[gateway_payment_id]
        invoice["status"] = "refunded"
        return PaymentUpdate(
            status=base.REFUNDED,
            gateway_payment_id=gateway_payment_id,
            amount=amount,
            currency=currency,
        )

    def _update(self, kind: str, invoice_id: str, data: dict) -> PaymentUpdate | None:
        status = {
            "processing": base.PENDING,
            "settled": base.CONFIRMED,
            "invalid": base.FAILED,
            "expired": base.EXPIRED,
            "partial": base.PARTIAL,
            "refunded": base.REFUNDED,
        }.get(kind)
        if status is None:
            return None
        return PaymentUpdate(
            status=status,
            order_reference=data.get("order", ""),
            gateway_reference=invoice_id,
            gateway_payment_id=invoice_id,
            amount=Decimal(data["amount"]),
            currency=data["currency"],
        )


class FakeDriver(GatewayDriver):
    def __init__(self, client, run_tasks):
        self.client = client
        self.run_tasks = run_tasks
        self.sent: list[bytes] = []

    def _post(self, body: bytes, secret: str = SECRET) -> int:
        response = self.client.post(
            "/billing/webhooks/fake/",
            data=body,
            content_type="application/json",
            HTTP_FAKE_SIG=_sign(body, secret),
        )
        self.run_tasks()
        return response.status_code

    def _event(self, order, kind: str, amount: Decimal | None = None) -> bytes:
        order.refresh_from_db()
        invoice = INVOICES[order.gateway_reference]
        if kind == "settled":
            invoice["status"] = "settled"
        body = json.dumps(
            {
                "deliveryId": f"dlv_{next(_ids)}",
                "type": kind,
                "invoiceId": order.gateway_reference,
                "order": order.reference,
                "amount": str(order.amount if amount is None else amount),
                "currency": order.currency,
            }
        ).encode()
        self.sent.append(body)
        return body

    def pay(self, order):
        assert self._post(self._event(order, "settled")) == 200

    def leave_pending(self, order):
        assert self._post(self._event(order, "processing")) == 200

    def fail(self, order):
        assert self._post(self._event(order, "invalid")) == 200

    def expire(self, order):
        assert self._post(self._event(order, "expired")) == 200

    def deliver_again(self, order):
        assert self._post(self.sent[-1]) == 200

    def deliver_forged(self, order):
        return self._post(self._event(order, "settled"), secret="not-the-secret")

    def deliver_out_of_order(self, order):
        pending = self._event(order, "processing")
        self.pay(order)
        assert self._post(pending) == 200

    def pay_unannounced(self, order):
        order.refresh_from_db()
        INVOICES[order.gateway_reference]["status"] = "settled"
        self.sent.append(self._event(order, "settled"))

    def pay_partially(self, order, amount):
        assert self._post(self._event(order, "partial", amount)) == 200

    def refund_at_gateway(self, order):
        assert self._post(self._event(order, "refunded")) == 200


@pytest.fixture
def fake_kind(monkeypatch, settings):
    monkeypatch.setitem(GATEWAYS, FakeGateway.kind, FakeGateway)
    settings.PAYMENT_GATEWAYS = [*settings.PAYMENT_GATEWAYS, FakeGateway.kind]
    settings.FAKE_GATEWAY_SECRET = SECRET
    INVOICES.clear()
    return FakeGateway


class TestFakeGatewayContract(GatewayContract):
    kind = "fake"

    @pytest.fixture
    def gateway_driver(self, fake_kind, client, run_tasks):
        return FakeDriver(client, run_tasks)


def test_a_registered_kind_feeds_choices_capabilities_and_production_checks(fake_kind, settings):
    assert ("fake", "Fake invoices") in kind_choices()
    assert ("fake", "Fake invoices") in Order._meta.get_field("gateway").choices
    assert "fake" in kinds_with("partial_payments")
    assert "fake" not in kinds_with("confirmed_by_operator")
    settings.FAKE_GATEWAY_SECRET = ""
    assert "FAKE_GATEWAY_SECRET is not set." in gateway_config_problems(settings)


def test_a_config_never_shows_its_secret(fake_kind):
    assert SECRET not in repr(FakeGateway().config)


def test_a_kind_that_is_not_enabled_has_no_webhook_endpoint(fake_kind, settings, client):
    settings.PAYMENT_GATEWAYS = ["manual"]
    body = b"{}"
    response = client.post(
        "/billing/webhooks/fake/",
        data=body,
        content_type="application/json",
        HTTP_FAKE_SIG=_sign(body, SECRET),
    )
    assert response.status_code == 404
