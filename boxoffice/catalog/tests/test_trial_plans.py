"""Trial plans through `boxoffice apply` / `export`: a period in hours, and free or refused."""

from __future__ import annotations

from decimal import Decimal

import pytest

from boxoffice.catalog.config_as_code import ConfigError, config_apply, config_export
from boxoffice.catalog.models import Plan

TRIAL = """
[[plan]]
slug = "trial"
name = "Free trial"
duration_days = 1
duration_hours = 24
connections = 1
price = "{price}"
currency = "EUR"
trial = true
"""

pytestmark = pytest.mark.django_db


def test_a_trial_plan_with_a_period_in_hours_round_trips():
    result = config_apply(text=TRIAL.format(price="0"))
    assert result.created == ["plan trial"]
    plan = Plan.objects.get(slug="trial")
    assert plan.is_trial and plan.duration_hours == 24 and plan.price == Decimal("0")

    exported = config_export()
    assert "duration_hours = 24" in exported and "trial = true" in exported
    again = config_apply(text=exported)
    assert again.unchanged == ["plan trial"] and not again.updated


def test_a_trial_plan_with_a_price_is_refused():
    with pytest.raises(ConfigError) as refused:
        config_apply(text=TRIAL.format(price="1.00"))
    assert any("price" in p and "trial plan is free" in p for p in refused.value.problems)
    assert not Plan.objects.exists()


def test_a_plan_without_hours_exports_no_hours_key():
    Plan.objects.create(slug="m", name="M", duration_days=30, price=Decimal("9.99"))
    assert "duration_hours" not in config_export()
