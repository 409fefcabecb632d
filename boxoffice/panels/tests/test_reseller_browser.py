"""The operator's reseller panel in a real browser (Debian's chromium through Playwright): signs
in, syncs the panel's packages and credits with the back-office action, reads the balance on
the panel list and page, and picks a plan's package by name. Screenshots at phone and desktop
widths."""

from __future__ import annotations

import os
from decimal import Decimal
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model

from boxoffice.catalog.models import Plan, PlanPanel
from boxoffice.panels.models import Panel
from boxoffice.storefront.tests.test_browser import browser  # noqa: F401 (the fixture)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SHOTS = Path(
    os.environ.get(
        "BOXOFFICE_SCREENSHOTS",
        Path(__file__).resolve().parents[3] / "test-artifacts" / "screenshots",
    )
)


@pytest.mark.parametrize("width", [360, 1280])
def test_the_operator_syncs_a_reseller_panel_and_maps_a_plan_by_package_name(
    width,
    live_server,
    browser,  # noqa: F811
    xui_emulator,
):
    SHOTS.mkdir(parents=True, exist_ok=True)
    get_user_model().objects.create_superuser("ops", "ops@operator.test", "Ops-pass-1234")
    panel = Panel.objects.create(
        name="Reseller panel",
        kind="xui_one_reseller",
        api_url=xui_emulator.base_url,
        settings={"access_code": xui_emulator.reseller_access_code},
        secrets={"api_key": xui_emulator.reseller_api_key},
        public_url=xui_emulator.base_url,
        timeout_seconds=2.0,
    )
    plan = Plan.objects.create(
        slug="monthly",
        name="Monthly",
        duration_days=30,
        connections=1,
        price=Decimal("9.99"),
        currency="EUR",
    )
    mapping = PlanPanel.objects.create(plan=plan, panel=panel, mapping={"package": 1})
    xui_emulator.set_credits(35)  # below 5 sales of 10 credits: the alert threshold

    page = browser.new_page(viewport={"width": width, "height": 900})

    def shot(name: str) -> None:
        page.screenshot(path=str(SHOTS / f"reseller-{name}-{width}.png"), full_page=True)

    page.goto(live_server.url + "/admin/login/")
    page.fill("input[name=username]", "ops")
    page.fill("input[name=password]", "Ops-pass-1234")
    page.click("button[type=submit]")
    page.goto(live_server.url + "/admin/panels/panel/")
    assert "not read yet" in page.content()

    page.check(f"input[name=_selected_action][value='{panel.pk}']")
    page.select_option("select[name=action]", "sync_catalog")
    page.click("button[type=submit][name=index]")
    page.wait_for_selector("text=Reseller panel: 2 packages, 35 credits")
    assert "35 (low)" in page.inner_text("#result_list")
    shot("1-panel-list")

    page.goto(f"{live_server.url}/admin/panels/panel/{panel.pk}/change/")
    page.wait_for_selector("text=Reported by the panel")
    assert "3 Months, 2 screens" in page.content()
    shot("2-panel-page")

    page.goto(f"{live_server.url}/admin/catalog/plan/{plan.pk}/change/")
    select = page.locator("select[name$='-0-named_package']")
    select.select_option("2")
    shot("3-plan-mapping")
    page.click("button[name=_save]")
    page.wait_for_url("**/admin/catalog/plan/")
    mapping.refresh_from_db()
    assert mapping.mapping == {"package": 2}
