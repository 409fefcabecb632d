"""The renewal lifecycle settings of a plan, edited in the back office; a line's stage shown in
the line list and on its page."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from boxoffice.catalog.models import Plan
from boxoffice.provisioning.models import Line

pytestmark = pytest.mark.django_db


def _form(plan: Plan, **changes) -> dict:
    data = {
        "slug": plan.slug,
        "name": plan.name,
        "description": "",
        "duration_days": plan.duration_days,
        "connections": plan.connections,
        "price": str(plan.price),
        "currency": plan.currency,
        "username_strategy": plan.username_strategy,
        "allow_mag": "on",
        "active": "on",
        "sort_order": 0,
        "reminder_days": "[7, 3, 0]",
        "grace_days": 3,
        "terminate_after_days": 30,
        "winback_days": 14,
        "max_extra_connections": 0,  # the page renders the default
        "panel_mappings-TOTAL_FORMS": 0,
        "panel_mappings-INITIAL_FORMS": 0,
        "prices-TOTAL_FORMS": 0,
        "prices-INITIAL_FORMS": 0,
    }
    data.update(changes)
    return data


def test_an_operator_edits_the_lifecycle_settings_of_a_plan(admin_client, plan):
    url = f"/admin/catalog/plan/{plan.pk}/change/"
    page = admin_client.get(url).content.decode()
    assert "reminder_days" in page and "grace_days" in page and "winback_days" in page

    response = admin_client.post(
        url, _form(plan, reminder_days="[14, 1]", grace_days=5, terminate_after_days=40)
    )

    assert response.status_code == 302, response.content.decode()[:2000]
    plan.refresh_from_db()
    assert (plan.reminder_days, plan.grace_days, plan.terminate_after_days) == ([14, 1], 5, 40)


@pytest.mark.parametrize(
    "changes",
    [{"reminder_days": '["seven"]'}, {"grace_days": 30, "terminate_after_days": 30}],
)
def test_it_refuses_settings_that_make_no_sense(admin_client, plan, changes):
    response = admin_client.post(f"/admin/catalog/plan/{plan.pk}/change/", _form(plan, **changes))

    assert response.status_code == 200  # the form again, with the problem
    plan.refresh_from_db()
    assert plan.reminder_days == [7, 3, 0] and plan.grace_days == 3


def test_the_line_list_and_page_show_the_stage(admin_client, plan, customer):
    line = Line.objects.create(
        customer=customer,
        plan=plan,
        panel=plan.panel_mappings.get().panel,
        username="gracetv",
        password="x",
        status=Line.Status.EXPIRED,
        stage=Line.Stage.GRACE,
        expires_at=timezone.now() - timedelta(days=1),
    )

    listing = admin_client.get("/admin/provisioning/line/").content.decode()
    detail = admin_client.get(f"/admin/provisioning/line/{line.pk}/change/").content.decode()

    assert "Grace period" in listing and "Grace period" in detail
