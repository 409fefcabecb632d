"""Add-on extra connections on a plan (price per period, how many a line may buy): through
`boxoffice apply` / `export` and the back office."""

from __future__ import annotations

from decimal import Decimal

import pytest

from boxoffice.catalog.config_as_code import ConfigError, config_apply, config_export
from boxoffice.catalog.models import Plan

PLAN = """
[[plan]]
slug = "basic"
name = "Basic"
duration_days = 30
connections = 1
price = "10.00"
currency = "EUR"
extra_connection_price = "{extra}"
max_extra_connections = 2
"""

pytestmark = pytest.mark.django_db


def test_the_add_on_price_and_limit_round_trip_through_apply_and_export():
    result = config_apply(text=PLAN.format(extra="3.00"))
    assert result.created == ["plan basic"]
    plan = Plan.objects.get(slug="basic")
    assert plan.extra_connection_price == Decimal("3.00") and plan.max_extra_connections == 2
    assert plan.sells_extra_connections

    exported = config_export()
    assert 'extra_connection_price = "3.00"' in exported
    assert "max_extra_connections = 2" in exported
    again = config_apply(text=exported)
    assert again.unchanged == ["plan basic"] and not again.updated


def test_an_add_on_price_that_is_not_a_number_is_named():
    with pytest.raises(ConfigError) as refused:
        config_apply(text=PLAN.format(extra="three"))
    assert any(
        "extra_connection_price 'three' is not a number" in p for p in refused.value.problems
    )
    assert not Plan.objects.exists()


def test_a_plan_without_add_ons_exports_no_add_on_price():
    Plan.objects.create(slug="m", name="M", duration_days=30, price=Decimal("9.99"))
    exported = config_export()
    assert "extra_connection_price" not in exported and "max_extra_connections = 0" in exported


def test_an_operator_sets_the_add_on_in_the_back_office(admin_client, plan):
    page = admin_client.get(f"/admin/catalog/plan/{plan.pk}/change/").content.decode()
    assert "extra_connection_price" in page and "max_extra_connections" in page
