"""The routing table: product × region × capacity × health × credits → the panel chosen, or
"cannot sell now". Three panels: `de` (XUI One, region DE), `eu` (XUI One, every region) and
`resell` (a reseller kind with credits, region FR), fallback order eu, resell, de; the plan `monthly` is on all three, `sports`
only on `resell`. Capacity is the occupied counter, never a count of lines."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from boxoffice.catalog.models import Plan, PlanPanel
from boxoffice.customers.models import Customer
from boxoffice.panels.adapters.base import OPERATIONS, Capabilities, ConfigField
from boxoffice.panels.adapters.registry import registered_kind
from boxoffice.panels.models import Panel
from boxoffice.panels.services import CannotSellNow, panel_credits_cover, panel_route
from boxoffice.panels.tests.fake_kind.adapter import PACKAGES, FakeKindAdapter
from boxoffice.provisioning.models import Line

pytestmark = pytest.mark.django_db

CANNOT = "cannot sell now"


class ResellerKind(FakeKindAdapter):
    """The fake kind as a reseller: it reports credits, and a plan's mapping names what a sale
    costs there."""

    kind = "fake_reseller"
    label = "Fake reseller"
    capabilities = Capabilities(
        operations=(OPERATIONS - {"delete", "create_device", "change_plan"}) | {"credit_balance"}
    )
    plan_fields = (
        ConfigField("package", "Package", kind="choice", choices=PACKAGES, required=True),
        ConfigField("credits", "Credits per sale", kind="int"),
    )


@pytest.fixture
def panels(db):
    with registered_kind(ResellerKind):
        monthly = Plan.objects.create(slug="monthly", name="Monthly", duration_days=30, price=10)
        sports = Plan.objects.create(slug="sports", name="Sports", duration_days=30, price=15)

        def xui(name: str, **fields) -> Panel:
            panel = Panel.objects.create(
                name=name,
                kind="xui_one",
                api_url=f"http://{name}.panel.test",
                public_url=f"http://{name}.panel.test",
                settings={"access_code": "adminapi1"},
                secrets={"api_key": "k"},
                capacity=10,
                health="up",
                **fields,
            )
            PlanPanel.objects.create(plan=monthly, panel=panel, mapping={"bouquets": [1]})
            return panel

        de = xui("de", regions=["DE"], fallback_rank=2)
        eu = xui("eu", regions=[], fallback_rank=0)
        resell = Panel.objects.create(
            name="resell",
            kind=ResellerKind.kind,
            api_url="http://resell.panel.test",
            public_url="http://resell.panel.test",
            settings={"username": "r1"},
            secrets={"password": "fake-secret"},
            capacity=10,
            regions=["FR"],
            fallback_rank=1,
            health="up",
            credits_balance=Decimal("50"),
        )
        for plan in (monthly, sports):
            PlanPanel.objects.create(
                plan=plan, panel=resell, mapping={"package": "basic", "credits": 5}
            )
        yield {
            "plans": {"monthly": monthly, "sports": sports},
            "de": de,
            "eu": eu,
            "resell": resell,
        }


# (plan, country, full, down, disabled, resell credits, expected, a phrase of the reason)
TABLE = [
    ("monthly", "DE", "", "", "", "50", "de", "region DE"),
    ("monthly", "FR", "", "", "", "50", "resell", "region FR"),
    ("monthly", "FR", "", "", "", "3", "eu", "resell (no credits (3.00))"),
    ("monthly", "FR", "", "", "", "", "resell", "region FR"),  # balance never read: try it
    ("monthly", "DE", "de", "", "", "50", "eu", "de (full (10 of 10))"),
    ("monthly", "DE", "", "de", "", "50", "eu", "region DE (a panel for every region)"),
    ("monthly", "DE", "eu", "de", "", "50", "resell", "rank 1"),
    ("monthly", "DE", "eu", "de", "", "0", "de", "panel down: the line waits for it"),
    ("monthly", "DE", "de eu", "", "", "0", CANNOT, ""),
    ("monthly", "", "", "", "", "50", "eu", "no region given"),
    ("monthly", "IT", "eu", "", "", "50", "resell", "fallback for region IT: rank 1"),
    ("monthly", "IT", "eu", "", "resell", "50", "de", "resell (disabled)"),
    ("monthly", "DE", "", "", "de eu resell", "50", CANNOT, ""),
    ("monthly", "DE", "", "de eu resell", "", "50", "de", "region DE"),
    ("sports", "DE", "", "", "", "50", "resell", "only panel for the plan"),
    ("sports", "DE", "", "", "", "4", CANNOT, ""),
    ("sports", "FR", "resell", "", "", "50", CANNOT, ""),
]


@pytest.mark.parametrize(
    "plan,country,full,down,disabled,credits,expected,phrase",
    TABLE,
    ids=[f"{r[0]}-{r[1] or 'none'}-full:{r[2]}-down:{r[3]}-off:{r[4]}-cr:{r[5]}" for r in TABLE],
)
def test_routing_table(panels, plan, country, full, down, disabled, credits, expected, phrase):
    for name in full.split():
        Panel.objects.filter(name=name).update(lines_held=10)
    for name in down.split():
        Panel.objects.filter(name=name).update(health="down")
    for name in disabled.split():
        Panel.objects.filter(name=name).update(enabled=False)
    Panel.objects.filter(name="resell").update(
        credits_balance=Decimal(credits) if credits else None
    )

    if expected == CANNOT:
        with pytest.raises(CannotSellNow) as refused:
            panel_route(plan=panels["plans"][plan], country=country)
        assert refused.value.skipped  # it says which panels and why
        return
    route = panel_route(plan=panels["plans"][plan], country=country)
    assert route.panel.name == expected
    assert phrase in route.reason
    assert route.waits == (expected in down.split())


def test_it_counts_the_panels_own_report_when_it_holds_more_than_ours(panels):
    Panel.objects.filter(name="de").update(lines_held=2, lines_on_panel=10)  # foreign lines

    assert panel_route(plan=panels["plans"]["monthly"], country="DE").panel.name == "eu"


def test_it_routes_in_one_query_however_many_lines_exist(panels):
    customer = Customer.objects.create(email="many@example.test")
    monthly = panels["plans"]["monthly"]
    with CaptureQueriesContext(connection) as few:
        panel_route(plan=monthly, country="DE")
    Line.objects.bulk_create(
        Line(
            customer=customer,
            plan=monthly,
            panel=panels["eu"],
            username=f"bulk{i}",
            password="pw123456abcd",
            status="active",
        )
        for i in range(300)
    )
    with CaptureQueriesContext(connection) as many:
        panel_route(plan=monthly, country="DE")

    assert len(few) == len(many) == 1
    assert "provisioning_line" not in many.captured_queries[0]["sql"]


def test_credits_cover_reads_the_balance_against_the_mapped_cost(panels):
    resell, sports, eu = panels["resell"], panels["plans"]["sports"], panels["eu"]
    assert panel_credits_cover(resell, sports)  # 50 credits, a sale costs 5
    resell.credits_balance = Decimal("4.99")
    assert not panel_credits_cover(resell, sports)
    PlanPanel.objects.filter(panel=resell, plan=sports).update(mapping={"package": "basic"})
    assert panel_credits_cover(resell, sports)  # cost unknown: any credit left will do
    resell.credits_balance = Decimal("0")
    assert not panel_credits_cover(resell, sports)
    resell.credits_balance = None
    assert panel_credits_cover(resell, sports)  # never read: the panel has the last word
    eu.credits_balance = Decimal("0")
    assert panel_credits_cover(eu, panels["plans"]["monthly"])  # a kind without credits


class CountingKind(FakeKindAdapter):
    """The fake kind reporting how many lines it holds (the optional `line_count`)."""

    kind = "fake_counting"
    label = "Fake counting"
    capabilities = Capabilities(operations=OPERATIONS | {"line_count"})

    def line_count(self) -> int:
        return 7


def test_a_health_probe_refreshes_the_count_the_panel_reports(db):
    from boxoffice.panels.services import panel_probe

    with registered_kind(CountingKind):
        panel = Panel.objects.create(
            name="counting",
            kind=CountingKind.kind,
            api_url="http://counting.panel.test",
            public_url="http://counting.panel.test",
            settings={"username": "r1"},
            secrets={"password": "fake-secret"},
        )
        assert panel_probe(panel=panel)
    panel.refresh_from_db()
    assert panel.lines_on_panel == 7 and panel.lines_counted_at is not None
