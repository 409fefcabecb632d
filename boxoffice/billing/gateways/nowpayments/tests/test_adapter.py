"""NOWPayments adapter: configuration, the IPN signature over the sorted, compact JSON (as
JavaScript writes it), what a payment's state means (the amount check in fiat), event ids, and
the endpoint's answers to bad input (400, never 500)."""

from __future__ import annotations

import hashlib
import hmac
import json
from decimal import Decimal

import pytest

from boxoffice.billing.gateways import base
from boxoffice.billing.gateways.base import VerifiedEvent, WebhookRejected
from boxoffice.billing.gateways.nowpayments.adapter import (
    FETCHED,
    NOWPaymentsConfig,
    NOWPaymentsGateway,
    canonical_json,
)
from boxoffice.billing.models import WebhookEvent
from boxoffice.lib import local_defaults

SECRET = "ipn-secret-test"
URL = "/billing/webhooks/nowpayments/"


def _adapter() -> NOWPaymentsGateway:
    return NOWPaymentsGateway(NOWPaymentsConfig(api_key="k", ipn_secret=SECRET))


def _ipn(**overrides) -> dict:
    return {
        "payment_id": 5077125051,
        "invoice_id": 4522625843,
        "payment_status": "finished",
        "pay_address": "bc1q...",
        "price_amount": 9.99,
        "price_currency": "eur",
        "pay_amount": 0.0001998,
        "actually_paid": 0.0001998,
        "pay_currency": "btc",
        "order_id": "BX-TEST0001",
        "order_description": "Démo TV — Monthly",
        "updated_at": "2026-12-01T10:00:00.000Z",
        **overrides,
    }


def _sig(payload, secret: str = SECRET, text: str | None = None) -> str:
    message = text if text is not None else canonical_json(payload)
    return hmac.new(secret.encode(), message.encode(), hashlib.sha512).hexdigest()


def test_canonical_json_is_what_javascript_writes_with_sorted_keys():
    value = {"b": 1, "a": {"d": 5.0, "c": 1e-7, "e": 0.00002, "f": [True, None, "é"]}, "g": 1e21}
    assert canonical_json(value) == (
        '{"a":{"c":1e-7,"d":5,"e":0.00002,"f":[true,null,"é"]},"b":1,"g":1e+21}'
    )
    assert canonical_json(json.loads('{"x": 9.990, "y": 0.0001998}')) == '{"x":9.99,"y":0.0001998}'


def test_a_signature_made_as_nowpayments_makes_it_verifies():
    payload = _ipn()
    # Written out by hand: keys sorted, no spaces, non-ASCII as is.
    text = (
        '{"actually_paid":0.0001998,"invoice_id":4522625843,"order_description":"Démo TV — '
        'Monthly","order_id":"BX-TEST0001","pay_address":"bc1q...","pay_amount":0.0001998,'
        '"pay_currency":"btc","payment_id":5077125051,"payment_status":"finished",'
        '"price_amount":9.99,"price_currency":"eur","updated_at":"2026-12-01T10:00:00.000Z"}'
    )
    body = json.dumps(payload, indent=2).encode()  # the body's own layout does not matter
    event = _adapter().verify_webhook(
        body=body, headers={"x-nowpayments-sig": _sig(None, text=text)}
    )
    assert event.event_id == "5077125051:finished:2026-12-01T10:00:00.000Z"
    assert event.event_type == "finished"


def test_forged_or_unsigned_ipns_are_refused():
    body = json.dumps(_ipn()).encode()
    for headers in ({}, {"x-nowpayments-sig": _sig(_ipn(), "guess")}, {"x-nowpayments-sig": ""}):
        with pytest.raises(WebhookRejected):
            _adapter().verify_webhook(body=body, headers=headers)
    tampered = json.dumps(_ipn(actually_paid=1)).encode()
    with pytest.raises(WebhookRejected):
        _adapter().verify_webhook(body=tampered, headers={"x-nowpayments-sig": _sig(_ipn())})
    no_secret = NOWPaymentsGateway(NOWPaymentsConfig(api_key="k", ipn_secret=""))
    with pytest.raises(WebhookRejected):
        no_secret.verify_webhook(body=body, headers={"x-nowpayments-sig": _sig(_ipn(), "")})


def test_event_ids_without_updated_at():
    payload = _ipn()
    del payload["updated_at"]
    body = json.dumps(payload).encode()
    event = _adapter().verify_webhook(body=body, headers={"x-nowpayments-sig": _sig(payload)})
    assert event.event_id == "5077125051:finished"


def _update(**payment):
    ipn = _ipn()
    return _adapter().parse_event(VerifiedEvent("e", "x", {**ipn, FETCHED: {**ipn, **payment}}))


@pytest.mark.parametrize(
    ("payment", "status", "amount"),
    [
        ({}, base.CONFIRMED, Decimal("9.99")),
        ({"actually_paid": 0.0003}, base.CONFIRMED, Decimal("9.99")),  # overpaid: the price
        # "finished" with fewer coins than asked (a tolerance at NOWPayments): review, in fiat.
        ({"actually_paid": 0.0000999}, base.PARTIAL, Decimal("4.99")),
        (
            {"payment_status": "partially_paid", "actually_paid": 0.0001},
            base.PARTIAL,
            Decimal("5.00"),
        ),
        ({"payment_status": "waiting", "actually_paid": 0}, base.PENDING, Decimal("9.99")),
        ({"payment_status": "confirming"}, base.PENDING, Decimal("9.99")),
        ({"payment_status": "confirmed"}, base.PENDING, Decimal("9.99")),
        ({"payment_status": "sending"}, base.PENDING, Decimal("9.99")),
        ({"payment_status": "failed"}, base.FAILED, Decimal("9.99")),
        ({"payment_status": "expired"}, base.EXPIRED, Decimal("9.99")),
        ({"payment_status": "refunded"}, base.REFUNDED, Decimal("9.99")),
        ({"actually_paid": None}, base.CONFIRMED, None),  # unstated: billing sends it to review
    ],
)
def test_the_payment_state_decides(payment, status, amount):
    update = _update(**payment)
    assert (update.status, update.amount) == (status, amount)
    assert (update.currency, update.order_reference) == ("EUR", "BX-TEST0001")
    assert (update.gateway_reference, update.gateway_payment_id) == ("4522625843", "5077125051")


def test_a_fetched_payment_that_is_another_one_is_not_read():
    assert _update(payment_id=1) is None


def test_config_problems_name_each_variable_and_refuse_the_emulator(settings):
    problems = NOWPaymentsConfig(api_base="http://127.0.0.1:8500").problems(settings)
    assert [p.split(" ", 1)[0] for p in problems] == [
        "NOWPAYMENTS_API_KEY",
        "NOWPAYMENTS_IPN_SECRET",
        "NOWPAYMENTS_API_BASE=http://127.0.0.1:8500",
    ]
    emulator = NOWPaymentsConfig(
        api_key=local_defaults.NOWPAYMENTS_API_KEY, ipn_secret=local_defaults.NOWPAYMENTS_IPN_SECRET
    ).problems(settings)
    assert len(emulator) == 2 and all("emulator" in p for p in emulator)
    assert not _adapter().config.problems(settings)


def test_the_config_never_shows_its_secrets():
    text = repr(NOWPaymentsConfig(api_key="api-secret-1", ipn_secret="ipn-secret-2"))
    assert "api-secret-1" not in text and "ipn-secret-2" not in text


@pytest.fixture
def enabled(settings):
    settings.PAYMENT_GATEWAYS = ["nowpayments"]
    settings.NOWPAYMENTS_IPN_SECRET = SECRET


@pytest.mark.parametrize(
    "payload",
    [
        [],
        "text",
        {},
        _ipn(payment_id="abc"),
        _ipn(payment_id=True),
        _ipn(payment_id=-1),
        _ipn(payment_status="paid"),
        _ipn(order_id={"a": 1}),
        _ipn(updated_at="x" * 500),
        _ipn(payment_status=None),
    ],
)
def test_absurd_signed_ipns_are_400_not_500(client, db, enabled, payload):
    body = json.dumps(payload).encode()
    answer = client.post(
        URL, data=body, content_type="application/json", HTTP_X_NOWPAYMENTS_SIG=_sig(payload)
    )
    assert answer.status_code == 400
    assert not WebhookEvent.objects.exists()


@pytest.mark.parametrize("body", [b"", b"nope", b"\xff", b"[" * 10000 + b"]" * 10000, b"NaN"])
def test_bodies_that_are_not_json_are_400(client, db, enabled, body):
    answer = client.post(
        URL, data=body, content_type="application/json", HTTP_X_NOWPAYMENTS_SIG="ab"
    )
    assert answer.status_code == 400


def test_a_repeated_ipn_is_stored_once(client, db, enabled):
    body = json.dumps(_ipn()).encode()
    for _ in range(2):
        answer = client.post(
            URL, data=body, content_type="application/json", HTTP_X_NOWPAYMENTS_SIG=_sig(_ipn())
        )
        assert answer.status_code == 200
    assert WebhookEvent.objects.filter(gateway="nowpayments").count() == 1
