"""Back-office edits of a line are panel operations: each button queues one, the panel changes,
and only then do our record and the customer's portal show the new values."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from boxoffice.billing.services import order_mark_paid
from boxoffice.customers.services import customer_portal_user
from boxoffice.panels.models import Panel
from boxoffice.provisioning.models import Line, PanelOperation

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def line(make_order, run_tasks, xui_emulator, smtp_inbox) -> Line:
    order = make_order()
    assert order_mark_paid(order=order, gateway_payment_id="pay_1")
    run_tasks()
    return Line.objects.get(order=order)


def operate(admin_client, line, **data):
    url = reverse("admin:provisioning_line_operate", args=[line.pk])
    return admin_client.post(url, data, follow=True)


def on_panel(line):
    """The line as the (emulated) panel holds it, read over its HTTP API."""
    line.refresh_from_db()
    return line.panel.adapter().get_line(line.panel_line_id)


def portal_page(client, line) -> str:
    client.force_login(customer_portal_user(customer=line.customer))
    page = client.get("/portal/")
    assert page.status_code == 200
    return page.content.decode()


def test_it_extends_a_line_by_one_plan_period_on_the_panel(admin_client, client, line, run_tasks):
    before = on_panel(line).expires_at
    page = operate(admin_client, line, action="extend_period")
    assert "Extend expiry queued" in page.content.decode()
    assert on_panel(line).expires_at == before  # queued, not yet done
    run_tasks()
    after = on_panel(line).expires_at
    assert abs((after - before) - timedelta(days=30)).total_seconds() < 2
    assert abs((line.expires_at - after).total_seconds()) < 2
    assert after.strftime("%-d %B %Y") in portal_page(client, line)


def test_it_extends_a_line_to_a_chosen_date_on_the_panel(admin_client, client, line, run_tasks):
    day = (timezone.now() + timedelta(days=400)).date()
    operate(admin_client, line, action="extend_to", expires_on=day.isoformat())
    run_tasks()
    assert timezone.localtime(on_panel(line).expires_at).date() == day
    assert day.strftime("%-d %B %Y") in portal_page(client, line)


def test_it_suspends_and_resumes_a_line_on_the_panel(
    admin_client, client, line, run_tasks, smtp_inbox
):
    operate(admin_client, line, action="suspend")
    run_tasks()
    assert on_panel(line).enabled is False
    assert line.status == Line.Status.SUSPENDED
    assert "Suspended" in portal_page(client, line)
    # The customer hears of it, without the operator's login in the mail.
    mail = smtp_inbox.wait_for(2)[-1]
    text = mail.get_body(("plain",)).get_content()
    assert "suspended" in mail["Subject"] and "admin" not in text.lower()

    operate(admin_client, line, action="resume")
    run_tasks()
    assert on_panel(line).enabled is True
    assert line.status == Line.Status.ACTIVE
    assert "Active" in portal_page(client, line)


def test_it_changes_connections_on_the_panel(admin_client, line, run_tasks):
    operate(admin_client, line, action="set_connections", connections="5")
    run_tasks()
    assert on_panel(line).max_connections == 5
    assert line.connections == 5


def test_it_resets_the_password_on_the_panel_and_in_the_portal(
    admin_client, client, line, run_tasks, smtp_inbox
):
    old = line.password
    operate(admin_client, line, action="reset_password")
    run_tasks()
    new = on_panel(line).password
    assert new != old and line.password == new
    html = portal_page(client, line)
    assert new in html and old not in html
    # The player stops working with the old password: the customer gets the new one at once.
    mail = smtp_inbox.wait_for(2)[-1]
    assert mail["Subject"].endswith("has a new password")
    assert new in mail.get_body(("plain",)).get_content()


def test_it_moves_a_line_to_another_panel(
    admin_client, line, run_tasks, xui_emulator, xui_emulator_factory
):
    with xui_emulator_factory(api_key="other-key") as other:
        target = Panel.objects.create(
            name="Second panel",
            kind="xui_one",
            api_url=other.base_url,
            settings={"access_code": "adminapi1"},
            secrets={"api_key": "other-key"},
            public_url=other.base_url,
            timeout_seconds=1.0,
        )
        operate(admin_client, line, action="move", panel=str(target.pk))
        run_tasks()
        line.refresh_from_db()
        assert line.panel == target
        assert [row["username"] for row in other.lines()] == [line.username]
        assert on_panel(line).username == line.username
        assert xui_emulator.lines() == []


def test_it_terminates_a_line_on_the_panel_only_when_confirmed(
    admin_client, client, line, run_tasks, xui_emulator
):
    page = operate(admin_client, line, action="terminate")
    assert "Tick the box" in page.content.decode()
    assert not PanelOperation.objects.filter(kind="delete").exists()

    operate(admin_client, line, action="terminate", confirm="1")
    run_tasks()
    assert xui_emulator.lines() == []
    line.refresh_from_db()
    assert line.status == Line.Status.CANCELLED


def test_it_refuses_an_action_the_line_cannot_take_without_a_500(admin_client, line):
    page = operate(admin_client, line, action="resume")
    assert page.status_code == 200
    assert "not possible while the line is active" in page.content.decode()
    page = operate(admin_client, line, action="nonsense")
    assert page.status_code == 200
    assert not PanelOperation.objects.exclude(kind="create").exists()


def test_it_keeps_panel_fields_read_only_in_the_line_form(admin_client, line):
    url = reverse("admin:provisioning_line_change", args=[line.pk])
    page = admin_client.get(url)
    html = page.content.decode()
    for field in (
        "expires_at",
        "status",
        "connections",
        "username",
        "panel",
        "customer",
        "plan",
        "bouquets",
        "outputs",
        "device",
        "mac_address",
    ):
        assert f'id="id_{field}"' not in html
    admin_client.post(
        url,
        {
            "connections": "9",
            "status": "cancelled",
            "plan": line.plan_id,
            "customer": line.customer_id,
        },
    )
    line.refresh_from_db()
    assert line.connections == 2 and line.status == Line.Status.ACTIVE


def test_it_shows_the_panels_live_state_and_the_operations(admin_client, line, run_tasks):
    operate(admin_client, line, action="set_connections", connections="4")
    url = reverse("admin:provisioning_line_change", args=[line.pk])
    html = admin_client.get(url).content.decode()
    assert 'data-panel="connections">2<' in html
    assert 'data-status="pending"' in html
    run_tasks()
    html = admin_client.get(url).content.decode()
    assert 'data-panel="connections">4<' in html
    assert 'data-status="succeeded"' in html


def test_it_shows_how_the_line_renews_its_last_payment_and_next_step(admin_client, line):
    url = reverse("admin:provisioning_line_change", args=[line.pk])
    html = admin_client.get(url).content.decode()
    order = line.order
    assert '<th class="text-left">Renews by</th><td>one-time payments</td>' in html
    assert f"{order.amount} {order.currency} (manual)" in html  # the paid order's payment
    assert '<th class="text-left">Failed payments since</th><td>0</td>' in html
    assert "reminder (7 days before expiry)" in html  # the plan's first offset, not yet due


def test_it_says_so_when_the_panel_does_not_answer(admin_client, line, xui_emulator):
    xui_emulator.set_faults(mode="down")
    url = reverse("admin:provisioning_line_change", args=[line.pk])
    page = admin_client.get(url)
    assert page.status_code == 200
    assert "did not answer" in page.content.decode()
