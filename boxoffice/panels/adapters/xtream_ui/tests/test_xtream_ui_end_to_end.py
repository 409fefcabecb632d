"""An Xtream UI panel through the whole product: a paid order, a renewal, a password change
and a delete (which this kind cannot do, so the operation layer disables and expires the line),
each run by the normal operation engine against the emulator over HTTP. Every operation builds
a fresh adapter, so each finds the line by the password Boxoffice holds for it."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from boxoffice.billing.services import order_mark_paid
from boxoffice.provisioning.models import Line, PanelOperation
from boxoffice.provisioning.selectors import line_password_on_panel
from boxoffice.provisioning.services import line_change_password, line_delete, line_extend


@pytest.fixture
def panel(db, xtream_emulator):
    from boxoffice.panels.models import Panel

    return Panel.objects.create(
        name="Xtream panel",
        kind="xtream_ui",
        api_url=xtream_emulator.base_url,
        settings={"api_path": "/api.php"},
        secrets={"api_pass": xtream_emulator.api_pass},
        public_url="http://tv.example.test:25461",
        timeout_seconds=2.0,
    )


@pytest.fixture
def plan(panel):
    from boxoffice.catalog.models import Plan, PlanPanel

    plan = Plan.objects.create(
        slug="xc-monthly",
        name="XC monthly",
        duration_days=30,
        connections=2,
        price=Decimal("9.99"),
        currency="EUR",
    )
    PlanPanel.objects.create(plan=plan, panel=panel, mapping={"bouquets": [4, 2]})
    return plan


@pytest.mark.django_db(transaction=True)
def test_a_line_is_sold_renewed_repassworded_and_deleted_as_disabled_and_expired(
    make_order, run_tasks, xtream_emulator
):
    order = make_order()
    order_mark_paid(order=order)
    run_tasks()
    line = Line.objects.get(order=order)
    assert line.status == Line.Status.ACTIVE
    assert line.panel_line_id == line.username
    [row] = xtream_emulator.users()
    assert (row["username"], row["password"], row["bouquet"]) == (
        line.username,
        line.password,
        "[4,2]",
    )
    assert line_password_on_panel(line.panel_id, line.username) == line.password
    assert line_password_on_panel(line.panel_id, line.username.upper()) is None

    later = (timezone.now() + timedelta(days=90)).replace(microsecond=0)
    line_extend(line=line, expires_at=later)
    run_tasks()
    line.refresh_from_db()
    assert line.expires_at == later
    assert xtream_emulator.users()[0]["exp_date"] == str(int(later.timestamp()))

    line_change_password(line=line, password="Fresh1234pw")
    run_tasks()
    line.refresh_from_db()
    assert line.password == "Fresh1234pw"
    assert xtream_emulator.users()[0]["password"] == "Fresh1234pw"

    op = line_delete(line=line)
    run_tasks()
    op.refresh_from_db()
    line.refresh_from_db()
    assert op.status == PanelOperation.Status.SUCCEEDED
    assert op.params["done_as"] == "suspend+expire_now"
    assert line.status == Line.Status.CANCELLED
    [row] = xtream_emulator.users()  # still there: api.php cannot delete
    assert row["enabled"] == "0"
    assert int(row["exp_date"]) <= int(op.finished_at.timestamp())
    subs = {(r["action"], r["sub"]) for r in xtream_emulator.request_log}
    assert subs <= {("user", "create"), ("user", "info"), ("user", "edit")}


@pytest.mark.django_db
def test_the_password_of_a_line_moved_away_is_still_known_on_its_old_panel(panel, plan, customer):
    from boxoffice.panels.models import Panel

    other = Panel.objects.create(
        name="Other", kind="xtream_ui", api_url="http://other.test", public_url="http://o.test"
    )
    line = Line.objects.create(
        customer=customer,
        plan=plan,
        panel=other,
        username="moved1",
        password="MovedPw123",
        panel_line_id="moved1",
    )
    assert line_password_on_panel(panel.pk, "moved1") is None
    PanelOperation.objects.create(
        line=line, panel=other, kind=PanelOperation.Kind.MOVE, params={"from_panel": panel.pk}
    )
    assert line_password_on_panel(panel.pk, "moved1") == "MovedPw123"
    assert line_password_on_panel(other.pk, "moved1") == "MovedPw123"
    assert line_password_on_panel(panel.pk, "Moved1") is None
