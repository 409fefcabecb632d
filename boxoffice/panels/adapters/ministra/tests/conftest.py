"""A Ministra panel row on the emulator and a box plan mapped to its premium tariff."""

from __future__ import annotations

from decimal import Decimal

import pytest

from boxoffice.catalog.models import Plan, PlanPanel
from boxoffice.panels.models import Panel


@pytest.fixture
def ministra_plan(ministra_emulator, settings):
    settings.PAYMENT_GATEWAYS = ["manual"]
    panel = Panel.objects.create(
        name="Stalker portal",
        kind="ministra",
        api_url=ministra_emulator.base_url,
        public_url=ministra_emulator.base_url,
        settings={"api_login": ministra_emulator.api_login},
        secrets={"api_password": ministra_emulator.api_password},
        timeout_seconds=1.0,
    )
    plan = Plan.objects.create(
        slug="box-monthly",
        name="Box monthly",
        duration_days=30,
        connections=1,
        price=Decimal("9.99"),
        currency="EUR",
    )
    PlanPanel.objects.create(plan=plan, panel=panel, mapping={"tariff_plan": "premium"})
    return plan
