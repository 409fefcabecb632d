"""The drift report as an operator sees it, in a real browser at phone and desktop widths."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from boxoffice.provisioning.models import Line
from boxoffice.provisioning.tests.test_reconciliation import pass_run
from boxoffice.storefront.tests.test_browser import SHOTS, browser  # noqa: F401 - fixture

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.mark.parametrize("width", [360, 1280])
def test_an_operator_reads_the_drift_report_and_imports_the_panel(
    width,
    live_server,
    browser,  # noqa: F811 - the fixture imported above
    xui_emulator,
    panel,
    plan,
    run_tasks,
    settings,
    background_worker,
    wait_until,
):
    settings.LINE_RECONCILE = {**settings.LINE_RECONCILE, "PAGE_SIZE": 10, "PAUSE_SECONDS": 0.0}
    xui_emulator.seed_lines(
        12,
        prefix="legacy",
        exp_date=1830000000,
        bouquets=(1, 2),
        admin_notes="owner{n}@example.net",
    )
    pass_run(run_tasks)
    get_user_model().objects.create_superuser(
        username="ops", email="ops@operator.test", password="operator-password-1"
    )
    SHOTS.mkdir(parents=True, exist_ok=True)
    page = browser.new_page(viewport={"width": width, "height": 900})
    page.goto(live_server.url + "/admin/login/?next=/admin/")
    page.fill("input[name=username]", "ops")
    page.fill("input[name=password]", "operator-password-1")
    page.click("[type=submit]")
    page.wait_for_url(live_server.url + "/admin/")

    # From the panel's page to its report.
    page.goto(f"{live_server.url}/admin/panels/panel/{panel.pk}/change/")
    page.click("text=Drift report for this panel")
    page.wait_for_selector("[data-panel='Test panel']")
    assert page.inner_text("[data-kind=foreign] [data-status=open]") == "12"
    page.screenshot(path=str(SHOTS / f"drift-report-{width}.png"), full_page=True)

    page.click("text=Import this panel's lines")
    page.wait_for_selector("text=Importing the lines of Test panel in the background")
    wait_until(lambda: Line.objects.count() == 12, timeout=30, what="the import")
    page.reload()
    page.wait_for_selector("[data-last-import]")
    assert "12 imported" in page.inner_text("[data-last-import]")
    page.screenshot(path=str(SHOTS / f"drift-report-imported-{width}.png"), full_page=True)
