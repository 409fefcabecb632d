"""The panels' occupied counter (what capacity routing reads) follows lines where they are
created, moved and ended, in those transactions; the scheduler's recount repairs drift."""

from __future__ import annotations

import pytest

from boxoffice.billing.services import order_mark_paid
from boxoffice.panels.models import Panel
from boxoffice.panels.services import panels_lines_held_recount
from boxoffice.provisioning.models import Line
from boxoffice.provisioning.services import line_delete

pytestmark = pytest.mark.django_db(transaction=True)


def _held(panel: Panel) -> int:
    return Panel.objects.values_list("lines_held", flat=True).get(pk=panel.pk)


def test_it_counts_a_line_when_it_is_reserved_and_frees_it_when_it_is_ended(
    make_order, run_tasks, panel, xui_emulator, smtp_inbox
):
    order = make_order()
    assert order_mark_paid(order=order, gateway_payment_id="pay_held")
    assert _held(panel) == 1  # with the reservation, before any panel call
    run_tasks()
    line = Line.objects.get(order=order)
    assert line.status == Line.Status.ACTIVE and _held(panel) == 1
    assert line.routing_reason == "region DE (a panel for every region), only panel for the plan"

    line_delete(line=line)
    run_tasks()

    line.refresh_from_db()
    assert line.status == Line.Status.CANCELLED and _held(panel) == 0
    assert panels_lines_held_recount() == 0  # nothing to repair: the counter was right


def test_the_recount_repairs_a_counter_that_drifted(make_order, panel):
    order = make_order()
    assert order_mark_paid(order=order, gateway_payment_id="pay_drift")
    Panel.objects.filter(pk=panel.pk).update(lines_held=40)  # e.g. lines deleted in a shell

    assert panels_lines_held_recount() == 1
    assert _held(panel) == 1
