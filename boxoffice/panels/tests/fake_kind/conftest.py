"""The fake kind is registered for these tests only (no product file lists it)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from boxoffice.panels.adapters.registry import registered_kind
from boxoffice.panels.tests.fake_kind.adapter import STORES, FakeKindAdapter

FAKE_URL = "http://fake-panel.test:9000"


@pytest.fixture(autouse=True)
def fake_kind():
    STORES.clear()
    with registered_kind(FakeKindAdapter) as cls:
        yield cls
    STORES.clear()


@pytest.fixture
def panel(db, fake_kind):
    from boxoffice.panels.models import Panel

    return Panel.objects.create(
        name="Fake panel",
        kind="fake_kind",
        api_url=FAKE_URL,
        public_url="https://watch.fake.test",
        settings={"username": "reseller7"},
        secrets={"password": "fake-secret"},
        timeout_seconds=1.0,
    )


@pytest.fixture
def plan(panel):
    from boxoffice.catalog.models import Plan, PlanPanel

    plan = Plan.objects.create(
        slug="sports-monthly",
        name="Sports monthly",
        duration_days=30,
        connections=2,
        price=Decimal("12.00"),
        currency="EUR",
    )
    PlanPanel.objects.create(plan=plan, panel=panel, mapping={"package": "sports"})
    return plan
