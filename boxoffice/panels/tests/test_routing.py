"""Routing: which panel a new line goes to."""

from __future__ import annotations

from decimal import Decimal
from itertools import count

import pytest

from boxoffice.catalog.models import Plan, PlanPanel
from boxoffice.customers.models import Customer
from boxoffice.panels.models import Panel
from boxoffice.panels.services import NoPanelAvailable, panel_choose, panels_lines_held_recount
from boxoffice.provisioning.models import Line

_names = count(1)


@pytest.fixture
def routed_plan(db):
    return Plan.objects.create(
        slug="monthly", name="Monthly", duration_days=30, price=Decimal("9.99")
    )


@pytest.fixture
def buyer(db):
    return Customer.objects.create(email="buyer@example.test", country="DE")


def make_panel(plan=None, **fields) -> Panel:
    n = next(_names)
    fields.setdefault("name", f"panel-{n}")
    panel = Panel.objects.create(
        kind="xui_one",
        api_url=f"http://127.0.0.1:{8100 + n}",
        public_url=f"http://127.0.0.1:{8100 + n}",
        **fields,
    )
    if plan is not None:
        PlanPanel.objects.create(plan=plan, panel=panel, mapping={"bouquets": [1]})
    return panel


def fill(panel: Panel, plan: Plan, customer: Customer, *statuses: str) -> None:
    """Lines written straight into the table, then the panel's occupied counter recounted (the
    services that create lines keep it themselves; routing reads only the counter)."""
    for status in statuses:
        Line.objects.create(
            customer=customer,
            plan=plan,
            panel=panel,
            username=f"user{next(_names)}",
            password="pw123456abcd",
            status=status,
        )
    panels_lines_held_recount()


def test_it_lets_a_manual_override_win(routed_plan):
    make_panel(routed_plan, name="mapped", priority=10)
    pinned = make_panel(name="pinned")  # not even mapped to the plan

    assert panel_choose(plan=routed_plan, country="DE", override=pinned) == pinned


def test_it_only_chooses_enabled_panels_mapped_to_the_plan(routed_plan):
    other_plan = Plan.objects.create(slug="year", name="Year", duration_days=365, price=1)
    make_panel(other_plan, name="other plan", priority=10)
    make_panel(routed_plan, name="disabled", enabled=False, priority=10)
    make_panel(name="unmapped", priority=10)
    mapped = make_panel(routed_plan, name="mapped")

    assert panel_choose(plan=routed_plan) == mapped


def test_it_skips_a_full_panel(routed_plan, buyer):
    full = make_panel(routed_plan, name="full", capacity=3, priority=10)
    fill(full, routed_plan, buyer, "reserved", "active", "suspended")
    spare = make_panel(routed_plan, name="spare")

    assert panel_choose(plan=routed_plan) == spare


def test_it_does_not_count_cancelled_lines_as_occupying(routed_plan, buyer):
    roomy = make_panel(routed_plan, name="roomy", capacity=2, priority=10)
    fill(roomy, routed_plan, buyer, "cancelled", "cancelled", "cancelled", "active")
    make_panel(routed_plan, name="fallback")

    assert panel_choose(plan=routed_plan) == roomy


def test_it_prefers_a_panel_listing_the_customers_country(routed_plan):
    make_panel(routed_plan, name="everyone", priority=10)
    make_panel(routed_plan, name="france", regions=["FR"], priority=10)
    germany = make_panel(routed_plan, name="germany", regions=["AT", "de"])

    assert panel_choose(plan=routed_plan, country="de") == germany


def test_it_prefers_a_panel_without_regions_over_one_for_another_region(routed_plan):
    make_panel(routed_plan, name="france", regions=["FR"], priority=10)
    everyone = make_panel(routed_plan, name="everyone")

    assert panel_choose(plan=routed_plan, country="DE") == everyone


def test_it_still_serves_a_customer_when_only_other_regions_are_left(routed_plan):
    france = make_panel(routed_plan, name="france", regions=["FR"])

    assert panel_choose(plan=routed_plan, country="DE") == france


def test_it_prefers_the_higher_priority_among_equals(routed_plan):
    make_panel(routed_plan, name="low", priority=1)
    high = make_panel(routed_plan, name="high", priority=5)

    assert panel_choose(plan=routed_plan) == high


def test_it_prefers_the_lower_fill_ratio_at_equal_priority(routed_plan, buyer):
    busy = make_panel(routed_plan, name="busy", capacity=4)
    fill(busy, routed_plan, buyer, "active", "active")  # 50 %
    quiet = make_panel(routed_plan, name="quiet", capacity=10)
    fill(quiet, routed_plan, buyer, "active", "active", "active")  # 30 %

    assert panel_choose(plan=routed_plan) == quiet


def test_it_avoids_a_down_panel_when_another_fits(routed_plan):
    make_panel(routed_plan, name="down here", regions=["DE"], priority=10, health="down")
    up = make_panel(routed_plan, name="up elsewhere", regions=["FR"])

    assert panel_choose(plan=routed_plan, country="DE") == up


def test_it_uses_a_down_panel_when_nothing_else_fits(routed_plan, buyer):
    down = make_panel(routed_plan, name="down", health="down")
    full = make_panel(routed_plan, name="full", capacity=1)
    fill(full, routed_plan, buyer, "active")

    assert panel_choose(plan=routed_plan) == down


def test_it_raises_when_no_panel_can_take_the_line(routed_plan, buyer):
    make_panel(routed_plan, name="disabled", enabled=False)
    full = make_panel(routed_plan, name="full", capacity=1)
    fill(full, routed_plan, buyer, "reserved")
    make_panel(name="unmapped")

    with pytest.raises(NoPanelAvailable, match="monthly"):
        panel_choose(plan=routed_plan, country="DE")
