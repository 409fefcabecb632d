"""The PayPal emulator's subscriptions: products, DAY-cycle plans, subscriptions approved on its
page, one sale per cycle, failures counted to the plan's payment_failure_threshold (then
SUSPENDED), cancel at once; each with the event PayPal sends."""

from __future__ import annotations

import httpx
import pytest

from boxoffice_dev.paypal import PayPalEmulator

pytestmark = pytest.mark.emulator

PLAN = {
    "product_id": "BOXOFFICE-X",
    "name": "Demo — Monthly",
    "billing_cycles": [
        {
            "tenure_type": "REGULAR",
            "sequence": 1,
            "total_cycles": 0,
            "frequency": {"interval_unit": "DAY", "interval_count": 30},
            "pricing_scheme": {"fixed_price": {"value": "9.99", "currency_code": "EUR"}},
        }
    ],
    "payment_preferences": {"payment_failure_threshold": 2},
}


@pytest.fixture
def emulator():
    with PayPalEmulator() as emulator:
        yield emulator


@pytest.fixture
def api(emulator):
    token = httpx.post(
        f"{emulator.base_url}/v1/oauth2/token",
        auth=(emulator.client_id, emulator.client_secret),
        data={"grant_type": "client_credentials"},
    ).json()["access_token"]
    return httpx.Client(base_url=emulator.base_url, headers={"Authorization": f"Bearer {token}"})


def _subscription(api) -> dict:
    assert (
        api.post("/v1/catalogs/products", json={"id": "BOXOFFICE-X", "name": "Demo"}).status_code
        == 201
    )
    again = api.post("/v1/catalogs/products", json={"id": "BOXOFFICE-X", "name": "Demo"})
    assert again.status_code == 422
    plan = api.post("/v1/billing/plans", json=PLAN).json()
    assert (
        api.get("/v1/billing/plans?product_id=BOXOFFICE-X").json()["plans"][0]["id"] == plan["id"]
    )
    created = api.post(
        "/v1/billing/subscriptions",
        json={
            "plan_id": plan["id"],
            "custom_id": "BX-1",
            "application_context": {
                "return_url": "http://shop.test/r",
                "cancel_url": "http://shop.test/c",
            },
        },
    )
    assert created.status_code == 201
    return created.json()


def _types(emulator) -> list[str]:
    return [e["event_type"] for e in emulator.events()]


def test_approve_charges_the_first_cycle_and_each_cycle_is_one_sale(api, emulator):
    sub = _subscription(api)
    assert sub["status"] == "APPROVAL_PENDING"
    approve = next(link["href"] for link in sub["links"] if link["rel"] == "approve")
    assert "Agree and subscribe" in httpx.get(approve).text
    back = httpx.post(f"{emulator.base_url}/webapps/billing/subscriptions/{sub['id']}/approve")
    assert back.status_code == 303
    assert back.headers["location"].startswith(f"http://shop.test/r?subscription_id={sub['id']}")
    fetched = api.get(f"/v1/billing/subscriptions/{sub['id']}").json()
    assert fetched["status"] == "ACTIVE" and fetched["custom_id"] == "BX-1"
    assert fetched["billing_info"]["cycle_executions"][0]["cycles_completed"] == 1
    assert _types(emulator) == ["BILLING.SUBSCRIPTION.ACTIVATED", "PAYMENT.SALE.COMPLETED"]
    cycle = httpx.post(
        f"{emulator.base_url}/_emulator/subscriptions/{sub['id']}/cycle", json={"outcome": "paid"}
    ).json()
    sale = api.get(f"/v1/payments/sale/{cycle['sale']['id']}").json()
    assert sale["billing_agreement_id"] == sub["id"] and sale["state"] == "completed"
    assert sale["amount"] == {"total": "9.99", "currency": "EUR"}
    listed = api.get(f"/v1/billing/subscriptions/{sub['id']}/transactions").json()
    assert len(listed["transactions"]) == 2


def test_failures_up_to_the_threshold_suspend_and_cancel_is_at_once(api, emulator):
    sub = _subscription(api)
    emulator.subscription_approve(sub["id"])
    for _ in range(2):
        emulator.subscription_cycle(sub["id"], "failed")
    fetched = api.get(f"/v1/billing/subscriptions/{sub['id']}").json()
    assert fetched["status"] == "SUSPENDED"
    assert fetched["billing_info"]["failed_payments_count"] == 2
    assert _types(emulator)[-3:] == [
        "BILLING.SUBSCRIPTION.PAYMENT.FAILED",
        "BILLING.SUBSCRIPTION.PAYMENT.FAILED",
        "BILLING.SUBSCRIPTION.SUSPENDED",
    ]
    assert api.post(f"/v1/billing/subscriptions/{sub['id']}/cancel", json={}).status_code == 200
    assert api.get(f"/v1/billing/subscriptions/{sub['id']}").json()["status"] == "CANCELLED"
    again = api.post(f"/v1/billing/subscriptions/{sub['id']}/cancel", json={})
    assert again.status_code == 422
    assert again.json()["details"][0]["issue"] == "SUBSCRIPTION_STATUS_INVALID"
