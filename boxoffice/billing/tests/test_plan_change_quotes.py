"""The proration of upgrades and add-ons, with every figure worked out by hand in the comments.

The rule (billing/plan_changes.py): the expiry stays the same; credit = current price ×
remaining / current period, charge = new price × remaining / new period, each rounded to the
cent half up; pay = charge − credit, never below zero. An add-on = its price × remaining /
period. Add-on extra connections count in both prices, at each plan's extra price."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from boxoffice.billing.plan_changes import (
    addon_quote,
    is_upgrade,
    plan_change_choices,
    prorated,
    renewal_terms,
    upgrade_quote,
)
from boxoffice.catalog.models import Plan, PlanPanel
from boxoffice.provisioning.models import Line

pytestmark = pytest.mark.django_db

NOW = datetime(2027, 3, 1, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)


def _plan(panel, slug, *, days=30, price, connections=1, extra=None, max_extra=0, bouquets=(1,)):
    plan = Plan.objects.create(
        slug=slug,
        name=slug.title(),
        duration_days=days,
        connections=connections,
        price=Decimal(price),
        currency="EUR",
        extra_connection_price=Decimal(extra) if extra is not None else None,
        max_extra_connections=max_extra,
    )
    PlanPanel.objects.create(plan=plan, panel=panel, mapping={"bouquets": list(bouquets)})
    return plan


def _line(panel, customer, plan, *, left: timedelta, extra=0) -> Line:
    return Line.objects.create(
        customer=customer,
        plan=plan,
        panel=panel,
        panel_line_id="101",
        username="jane",
        password="secret1",
        connections=plan.connections + extra,
        extra_connections=extra,
        status=Line.Status.ACTIVE,
        expires_at=NOW + left,
    )


def test_it_credits_the_unused_part_and_charges_the_new_plan_for_the_same_time(panel, customer):
    basic = _plan(panel, "basic", price="10.00")
    plus = _plan(panel, "plus", price="15.00", connections=2, bouquets=(1, 2))
    line = _line(panel, customer, basic, left=12 * DAY)

    quote = upgrade_quote(line=line, plan=plus, now=NOW)

    # 12 of 30 days left. Credit: 10.00 × 12/30 = 4.00. Charge: 15.00 × 12/30 = 6.00.
    # Pay now: 6.00 − 4.00 = 2.00. The expiry stays 12 days ahead; 2 connections.
    assert (quote.credit, quote.charge, quote.pay) == (
        Decimal("4.00"),
        Decimal("6.00"),
        Decimal("2.00"),
    )
    assert quote.remaining_seconds == 12 * 86400
    assert quote.expires_at == line.expires_at
    assert quote.connections == 2
    assert quote.as_json()["pay"] == "2.00" and quote.as_json()["credit"] == "4.00"


def test_it_counts_the_remaining_seconds_and_rounds_each_figure_half_up(panel, customer):
    basic = _plan(panel, "basic", price="10.00")
    plus = _plan(panel, "plus", price="15.00", connections=2)
    line = _line(panel, customer, basic, left=12 * DAY + timedelta(hours=6))

    quote = upgrade_quote(line=line, plan=plus, now=NOW)

    # 12 days 6 hours = 12.25 days left. Credit: 10 × 12.25/30 = 4.0833… → 4.08.
    # Charge: 15 × 12.25/30 = 6.125 → 6.13 (half up, not to even). Pay: 6.13 − 4.08 = 2.05.
    assert (quote.credit, quote.charge, quote.pay) == (
        Decimal("4.08"),
        Decimal("6.13"),
        Decimal("2.05"),
    )


def test_a_half_cent_credit_rounds_up(panel, customer):
    basic = _plan(panel, "basic", price="10.05")
    big = _plan(panel, "big", price="20.10", connections=3)
    line = _line(panel, customer, basic, left=15 * DAY)

    quote = upgrade_quote(line=line, plan=big, now=NOW)

    # Credit: 10.05 × 15/30 = 5.025 → 5.03. Charge: 20.10 × 15/30 = 10.05. Pay: 5.02.
    assert (quote.credit, quote.charge, quote.pay) == (
        Decimal("5.03"),
        Decimal("10.05"),
        Decimal("5.02"),
    )
    assert prorated(Decimal("10.05"), remaining_seconds=15, period_seconds=30) == Decimal("5.03")


def test_a_plan_of_another_period_is_charged_over_its_own_period(panel, customer):
    basic = _plan(panel, "basic", price="10.00")
    yearly_hd = _plan(panel, "yearly-hd", days=365, price="150.00", connections=2)
    line = _line(panel, customer, basic, left=12 * DAY)

    quote = upgrade_quote(line=line, plan=yearly_hd, now=NOW)

    # 150 per 365 days = 0.41 a day, more than 10/30 = 0.33: an upgrade.
    # Credit: 10 × 12/30 = 4.00. Charge: 150 × 12/365 = 4.9315… → 4.93. Pay: 0.93.
    assert is_upgrade(line=line, plan=yearly_hd)
    assert (quote.credit, quote.charge, quote.pay) == (
        Decimal("4.00"),
        Decimal("4.93"),
        Decimal("0.93"),
    )


def test_a_cheaper_plan_per_day_is_a_downgrade_for_the_next_renewal(panel, customer):
    basic = _plan(panel, "basic", price="10.00")
    for slug, days, price in (
        ("yearly", 365, "100.00"),
        ("lite", 30, "7.00"),
        ("plus", 30, "15.00"),
    ):
        _plan(panel, slug, days=days, price=price)
    Plan.objects.create(
        slug="usd", name="USD", duration_days=30, price=Decimal("20"), currency="USD"
    )
    _plan(panel, "trial", price="0")
    Plan.objects.filter(slug="trial").update(is_trial=True)
    line = _line(panel, customer, basic, left=12 * DAY)

    choices = {c.plan.slug: c for c in plan_change_choices(line=line, now=NOW)}

    # 100/365 = 0.27 a day and 7/30 = 0.23 a day are below 10/30 = 0.33; 15/30 = 0.50 is above.
    # Not offered: the line's own plan, another currency, a trial.
    assert set(choices) == {"yearly", "lite", "plus"}
    assert not choices["yearly"].upgrade and choices["yearly"].quote is None
    assert not choices["lite"].upgrade
    assert choices["plus"].upgrade and choices["plus"].quote.pay == Decimal("2.00")


def test_extra_connections_count_in_both_prices_and_move_to_the_new_plan(panel, customer):
    basic = _plan(panel, "basic", price="10.00", extra="3.00", max_extra=2)
    plus = _plan(panel, "plus", price="15.00", connections=2, extra="4.00", max_extra=2)
    line = _line(panel, customer, basic, left=12 * DAY, extra=1)

    quote = upgrade_quote(line=line, plan=plus, now=NOW)

    # Current: (10 + 1 × 3) = 13 per 30 days; credit 13 × 12/30 = 5.20.
    # New: (15 + 1 × 4) = 19 per 30 days; charge 19 × 12/30 = 7.60. Pay: 2.40.
    # Connections: plus's 2 + the 1 extra = 3.
    assert (quote.credit, quote.charge, quote.pay) == (
        Decimal("5.20"),
        Decimal("7.60"),
        Decimal("2.40"),
    )
    assert quote.connections == 3 and quote.extra_to == 1


def test_an_add_on_is_its_price_for_the_time_left(panel, customer):
    basic = _plan(panel, "basic", price="10.00", extra="3.00", max_extra=2)
    line = _line(panel, customer, basic, left=12 * DAY)

    one = addon_quote(line=line, count=1, now=NOW)
    two = addon_quote(line=line, count=2, now=NOW)

    # 3.00 × 12/30 = 1.20 for one; 6.00 × 12/30 = 2.40 for two.
    assert (one.pay, one.connections) == (Decimal("1.20"), 2)
    assert (two.pay, two.connections) == (Decimal("2.40"), 3)
    with pytest.raises(ValueError, match="up to 2 extra connections"):
        addon_quote(line=line, count=3, now=NOW)


def test_the_renewal_after_charges_the_add_on_and_a_downgrade_renews_as_its_plan(panel, customer):
    basic = _plan(panel, "basic", price="10.00", extra="3.00", max_extra=2)
    yearly = _plan(panel, "yearly", days=365, price="100.00")
    line = _line(panel, customer, basic, left=12 * DAY, extra=1)

    # Basic with one extra: 10.00 + 3.00 = 13.00 a period.
    terms = renewal_terms(line)
    assert (terms.plan, terms.amount, terms.changes_plan) == (basic, Decimal("13.00"), False)

    line.next_plan = yearly
    terms = renewal_terms(line)
    # Yearly sells no extra connections: 100.00, and the extra is not kept.
    assert (terms.plan, terms.amount, terms.extra_connections) == (yearly, Decimal("100.00"), 0)
    assert terms.as_json(line)["plan_change"] == {
        "from_plan": basic.pk,
        "to_plan": yearly.pk,
        "extra_connections": 0,
    }


def test_a_scheduled_plan_taken_off_sale_is_not_renewed_into(panel, customer):
    basic = _plan(panel, "basic", price="10.00")
    lite = _plan(panel, "lite", price="7.00")
    line = _line(panel, customer, basic, left=12 * DAY)
    line.next_plan = lite
    assert renewal_terms(line).plan == lite

    Plan.objects.filter(pk=lite.pk).update(active=False)
    line.next_plan = Plan.objects.get(pk=lite.pk)
    terms = renewal_terms(line)
    assert (terms.plan, terms.amount, terms.changes_plan) == (basic, Decimal("10.00"), False)
