"""The operator's routing tools in the back office, each a CSRF-protected POST: pinning an order
to a panel before its line exists (manual override, recorded on the line with who did it), and
starting the bulk reassignment of a panel being retired."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from boxoffice.billing.models import Order
from boxoffice.billing.services import order_mark_paid
from boxoffice.catalog.models import PlanPanel
from boxoffice.panels.models import Panel
from boxoffice.provisioning.models import Line, PanelOperation, ReassignmentJob

pytestmark = pytest.mark.django_db

OPERATOR = "ops@operator.test"


@pytest.fixture
def operator_client(django_user_model):
    """A signed-in operator whose browser sends CSRF tokens only when a page gave it one."""
    user = django_user_model.objects.create_superuser(
        username=OPERATOR, email=OPERATOR, password="pw-operator-1"
    )
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    return client


@pytest.fixture
def other_panel(plan):
    other = Panel.objects.create(
        name="Other panel",
        kind="xui_one",
        api_url="http://127.0.0.1:9",
        public_url="http://other.tv.test",
        settings={"access_code": "adminapi1"},
        secrets={"api_key": "k"},
        regions=["FR"],
    )
    PlanPanel.objects.create(plan=plan, panel=other, mapping={"bouquets": [1]})
    return other


def _token(client: Client, url: str) -> str:
    assert client.get(url).status_code == 200
    return client.cookies["csrftoken"].value


def _send_to_panel(client: Client, order: Order, panel: Panel, token: str | None):
    url = reverse("admin:billing_order_changelist")
    data = {"action": "send_to_panel", "_selected_action": [order.pk], "panel": panel.pk}
    if token:
        data["csrfmiddlewaretoken"] = token
    return client.post(url, data, follow=True)


def test_it_pins_an_unpaid_order_to_the_chosen_panel_and_records_who(
    operator_client, make_order, panel, other_panel
):
    order = make_order(country="DE")  # routing alone would choose the Test panel (no regions)

    refused = _send_to_panel(operator_client, order, other_panel, token=None)
    assert refused.status_code == 403
    order.refresh_from_db()
    assert order.panel_override is None

    token = _token(operator_client, reverse("admin:billing_order_changelist"))
    page = _send_to_panel(operator_client, order, other_panel, token)
    assert "its line goes there when it is paid" in page.content.decode()

    assert order_mark_paid(order=order, gateway_payment_id="pay_pin")
    line = Line.objects.get(order=order)
    assert line.panel == other_panel
    assert line.routing_reason == f"manual override by {OPERATOR}"
    change = operator_client.get(reverse("admin:provisioning_line_change", args=[line.pk]))
    assert f"manual override by {OPERATOR}" in change.content.decode()


def test_it_provisions_a_paid_order_waiting_in_review_on_the_chosen_panel(
    operator_client, make_order, panel, other_panel
):
    Panel.objects.filter(pk__in=[panel.pk, other_panel.pk]).update(capacity=1, lines_held=1)
    order = make_order(country="DE")
    assert order_mark_paid(order=order, gateway_payment_id="pay_full")
    order.refresh_from_db()
    assert order.needs_review and not Line.objects.filter(order=order).exists()

    token = _token(operator_client, reverse("admin:billing_order_changelist"))
    page = _send_to_panel(operator_client, order, panel, token)

    assert "its line is reserved there now" in page.content.decode()
    order.refresh_from_db()
    assert not order.needs_review
    line = Line.objects.get(order=order)
    assert (line.panel, line.status) == (panel, Line.Status.RESERVED)
    assert PanelOperation.objects.get(line=line).kind == PanelOperation.Kind.CREATE
    panel.refresh_from_db()
    assert panel.lines_held == 2  # the override may overfill: the operator decided


def test_it_refuses_to_pin_an_order_whose_line_exists(
    operator_client, make_order, panel, other_panel
):
    order = make_order()
    assert order_mark_paid(order=order, gateway_payment_id="pay_done")
    token = _token(operator_client, reverse("admin:billing_order_changelist"))

    page = _send_to_panel(operator_client, order, other_panel, token)

    assert "has its line on Test panel already: move the line" in page.content.decode()
    assert Line.objects.get(order=order).panel == panel


def test_it_starts_a_bulk_reassignment_from_the_back_office(operator_client, panel, other_panel):
    add = reverse("admin:provisioning_reassignmentjob_add")
    data = {"from_panel": panel.pk, "to_panel": other_panel.pk, "max_in_flight": 5}

    assert operator_client.post(add, {**data, "stop_selling": "on"}).status_code == 403
    assert not ReassignmentJob.objects.exists()

    token = _token(operator_client, add)
    response = operator_client.post(
        add, {**data, "stop_selling": "on", "csrfmiddlewaretoken": token}
    )

    assert response.status_code == 302
    job = ReassignmentJob.objects.get()
    assert (job.from_panel, job.to_panel, job.created_by) == (panel, other_panel, OPERATOR)
    panel.refresh_from_db()
    assert not panel.enabled
    page = operator_client.get(reverse("admin:provisioning_reassignmentjob_change", args=[job.pk]))
    assert "0 of 0 moved" in page.content.decode()
    # A second job for the same panel is refused on the form with a sentence, not a 500.
    again = operator_client.post(
        add, {**data, "csrfmiddlewaretoken": _token(operator_client, add)}, follow=True
    )
    assert again.status_code == 200 and ReassignmentJob.objects.count() == 1
    assert f"Job #{job.pk} is already moving the lines off Test panel" in again.content.decode()
