"""An order on a OneStream panel end to end: paid, the line created from the plan's package
(credits spent once, also when the create timed out after the panel acted), the panel's expiry
on our line, and the credentials mail with the server URL and login."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.utils import timezone

from boxoffice.billing.services import order_create, order_mark_paid
from boxoffice.catalog.models import Plan, PlanPanel
from boxoffice.panels.models import Panel
from boxoffice.provisioning.models import Line, PanelOperation

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def onestream_plan(onestream_emulator):
    panel = Panel.objects.create(
        name="OneStream",
        kind="onestream",
        api_url=onestream_emulator.base_url,
        public_url="http://tv.onestream.test",
        secrets={"api_key": onestream_emulator.api_key, "auth_user": onestream_emulator.auth_user},
        timeout_seconds=1.0,
    )
    plan = Plan.objects.create(
        slug="quarter",
        name="Quarter",
        duration_days=90,
        connections=2,
        price=Decimal("24.99"),
        currency="EUR",
    )
    PlanPanel.objects.create(plan=plan, panel=panel, mapping={"package": 2})
    return plan


def test_a_paid_order_becomes_a_package_line_paid_in_credits_once(
    onestream_plan, onestream_emulator, customer, run_tasks, smtp_inbox
):
    Panel.objects.update(timeout_seconds=0.4)
    order = order_create(customer=customer, plan=onestream_plan, gateway="manual")
    onestream_emulator.set_faults("act_then_timeout", latency_ms=700, count=1)
    with time_machine.travel(timezone.now(), tick=False) as clock:
        assert order_mark_paid(order=order)
        run_tasks()
        op = PanelOperation.objects.get(kind=PanelOperation.Kind.CREATE)
        assert op.status == PanelOperation.Status.PENDING and op.last_error_code == "timeout"
        clock.move_to(op.next_attempt_at + timedelta(milliseconds=1))
        run_tasks()

    line = Line.objects.get(order=order)
    assert line.status == Line.Status.ACTIVE
    [row] = onestream_emulator.lines()
    assert row["line_id"] == line.panel_line_id and row["package_id"] == 2
    assert (row["username"], row["password"]) == (line.username, line.password)
    assert onestream_emulator.credits == 10 - 3  # one sale, one charge
    panel_expiry = datetime.fromisoformat(row["expire_at"].replace("Z", "+00:00"))
    assert line.expires_at == panel_expiry

    [mail] = [m for m in smtp_inbox.wait_for(1) if m["To"] == customer.email]
    text = mail.get_body(preferencelist=("plain",)).get_content()
    assert "http://tv.onestream.test" in text and line.username in text and line.password in text
