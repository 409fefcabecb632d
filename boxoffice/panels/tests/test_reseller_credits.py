"""Reseller credits end to end: paid orders on an XUI One reseller panel (the emulator's reseller
mode over HTTP) spend credits, the balance the panel reports after each sale is stored on the
panel, the operator is alerted once before sales fail and the incident closes on a top-up, and a
sale the credits do not cover ends in review (never lost) with routing told the panel is out."""

from __future__ import annotations

from decimal import Decimal

import pytest

from boxoffice.billing.services import order_mark_paid
from boxoffice.catalog.models import Plan, PlanPanel
from boxoffice.messaging.models import Message
from boxoffice.panels.credits import panel_credits_refresh, panel_low_credit_threshold
from boxoffice.panels.models import Incident, Panel
from boxoffice.panels.services import panel_credits_cover
from boxoffice.provisioning.models import Line, PanelOperation

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def reseller_panel(xui_emulator) -> Panel:
    return Panel.objects.create(
        name="Reseller panel",
        kind="xui_one_reseller",
        api_url=xui_emulator.base_url,
        settings={"access_code": xui_emulator.reseller_access_code, "low_credit_sales": 5},
        secrets={"api_key": xui_emulator.reseller_api_key},
        public_url=xui_emulator.base_url,
        timeout_seconds=2.0,
    )


@pytest.fixture
def reseller_plan(reseller_panel) -> Plan:
    plan = Plan.objects.create(
        slug="reseller-monthly",
        name="Reseller monthly",
        duration_days=30,
        connections=1,
        price=Decimal("9.99"),
        currency="EUR",
    )
    PlanPanel.objects.create(plan=plan, panel=reseller_panel, mapping={"package": 1})
    return plan


def _sell(make_order, run_tasks, plan, n: int = 1) -> list[Line]:
    lines = []
    for _ in range(n):
        order = make_order(plan=plan)
        assert order_mark_paid(order=order, gateway_payment_id=f"pay_{order.pk}")
        run_tasks()
        lines.append(Line.objects.get(order=order))
    return lines


def _low_credit_alerts() -> list[Message]:
    return list(Message.objects.filter(kind="operator_alert", subject__contains="credits"))


def test_a_sale_spends_credits_and_the_balance_is_stored(
    make_order, run_tasks, xui_emulator, reseller_panel, reseller_plan
):
    [line] = _sell(make_order, run_tasks, reseller_plan)

    assert line.status == Line.Status.ACTIVE
    [row] = xui_emulator.lines()
    assert row["package_id"] == "1" and line.order.reference in row["reseller_notes"]
    assert xui_emulator.credits == 90
    reseller_panel.refresh_from_db()
    assert reseller_panel.credits_balance == Decimal(90)
    assert reseller_panel.credits_checked_at is not None
    # The mapped package's cost was synced to know the alert threshold: 5 sales of 10 credits.
    assert panel_low_credit_threshold(reseller_panel)[0] == Decimal(50)
    assert _low_credit_alerts() == []


def test_the_operator_is_alerted_once_before_sales_fail_and_the_incident_closes_on_top_up(
    make_order, run_tasks, xui_emulator, reseller_panel, reseller_plan
):
    xui_emulator.set_credits(60)
    _sell(make_order, run_tasks, reseller_plan, n=3)  # 50, 40, 30 left: every sale succeeds

    assert xui_emulator.credits == 30
    assert Line.objects.filter(status=Line.Status.ACTIVE).count() == 3
    [alert] = _low_credit_alerts()
    assert "Reseller panel" in alert.subject
    assert "40 credits left" in alert.body_text and "5 sales of 1 Month" in alert.body_text
    [incident] = Incident.objects.filter(kind=Incident.Kind.LOW_CREDITS)
    assert incident.resolved_at is None

    xui_emulator.set_credits(500)
    panel_credits_refresh(panel=reseller_panel)

    incident.refresh_from_db()
    assert incident.resolved_at is not None
    assert len(_low_credit_alerts()) == 1


def test_a_sale_without_credits_waits_in_review_and_routing_is_told(
    make_order, run_tasks, xui_emulator, reseller_panel, reseller_plan
):
    xui_emulator.set_credits(5)

    [line] = _sell(make_order, run_tasks, reseller_plan)

    assert xui_emulator.lines() == []
    assert xui_emulator.credits == 5
    op = PanelOperation.objects.get(line=line, kind="create")
    assert op.status == PanelOperation.Status.NEEDS_REVIEW
    assert op.last_error_code == "STATUS_INSUFFICIENT_CREDITS"
    assert "top up" in op.last_error
    assert line.order.status == "paid"  # the order stays paid, its line waits: nothing lost
    reseller_panel.refresh_from_db()
    assert reseller_panel.credits_balance == Decimal(5)
    assert panel_credits_cover(reseller_panel, reseller_plan) is False


def test_credits_cover_a_plan_by_its_package_cost(xui_emulator, reseller_panel, reseller_plan):
    assert (
        panel_credits_cover(reseller_panel, reseller_plan) is True
    )  # never read: the panel decides
    xui_emulator.set_credits(10)
    panel_credits_refresh(panel=reseller_panel)
    assert panel_credits_cover(reseller_panel, reseller_plan) is True  # exactly one sale
    xui_emulator.set_credits(9)
    panel_credits_refresh(panel=reseller_panel)
    assert panel_credits_cover(reseller_panel, reseller_plan) is False


def test_credits_always_cover_a_panel_without_credits(panel, plan):
    Panel.objects.filter(pk=panel.pk).update(credits_balance=Decimal(0))
    panel.refresh_from_db()
    assert panel_credits_cover(panel, plan) is True


def test_a_paid_renewal_buys_the_package_once(
    make_order, run_tasks, xui_emulator, reseller_panel, reseller_plan
):
    [line] = _sell(make_order, run_tasks, reseller_plan)
    first_expiry = line.expires_at
    renewal = make_order(plan=reseller_plan, kind="renewal", target_line=line)
    assert order_mark_paid(order=renewal, gateway_payment_id="pay_renewal")
    run_tasks()

    line.refresh_from_db()
    [op] = PanelOperation.objects.filter(kind="extend", order=renewal)
    assert op.status == PanelOperation.Status.SUCCEEDED
    assert xui_emulator.credits == 80
    assert [a for a, _ in xui_emulator.request_log].count("edit_line") == 1
    # The panel added its calendar month; our line holds what the panel says.
    [row] = xui_emulator.lines()
    assert int(line.expires_at.timestamp()) == int(row["exp_date"])
    assert 28 <= (line.expires_at - first_expiry).days <= 31
    reseller_panel.refresh_from_db()
    assert reseller_panel.credits_balance == Decimal(80)
