"""The drift report in the back office: counts per panel and kind, a link from the panel page,
and the actions (repair, ignore, import) as an operator uses them."""

from __future__ import annotations

import pytest
from django.test import TestCase
from django.urls import reverse

from boxoffice.panels.models import Panel
from boxoffice.provisioning.models import Line, LineDrift, PanelSweep
from boxoffice.provisioning.tests.test_reconciliation import pass_run

Drift = LineDrift


@pytest.fixture(autouse=True)
def _small_pages(settings):
    settings.LINE_RECONCILE = {**settings.LINE_RECONCILE, "PAGE_SIZE": 5, "PAUSE_SECONDS": 0.0}


def test_it_counts_drift_per_panel_and_kind_and_imports_a_foreign_line(
    admin_client, xui_emulator, panel, plan, run_tasks
):
    xui_emulator.seed_lines(3, prefix="stranger", exp_date=1830000000, bouquets=(1, 2))
    pass_run(run_tasks)

    page = admin_client.get(reverse("admin:provisioning_linedrift_report") + f"?panel={panel.pk}")
    html = page.content.decode()
    assert page.status_code == 200
    assert 'data-panel="Test panel"' in html and '<span data-count="open">3</span>' in html
    changelist = reverse("admin:provisioning_linedrift_changelist")
    link = f"{changelist}?panel__id__exact={panel.pk}&amp;kind__exact=foreign"
    assert f'<tr data-kind="foreign"><td><a href="{link}">' in html
    assert '<td data-status="open">3</td>' in html

    # The panel's own page links to its report.
    panel_page = admin_client.get(reverse("admin:panels_panel_change", args=[panel.pk]))
    assert f"linedrift/report/?panel={panel.pk}" in panel_page.content.decode()

    # Import one foreign line, ignore another: the changelist actions.
    one, two, _ = LineDrift.objects.order_by("username")
    admin_client.post(changelist, {"action": "import_foreign", "_selected_action": [one.pk]})
    admin_client.post(changelist, {"action": "ignore", "_selected_action": [two.pk]})
    assert Line.objects.get().username == one.username
    assert sorted(LineDrift.objects.values_list("status", flat=True)) == [
        Drift.Status.IGNORED,
        Drift.Status.IMPORTED,
        Drift.Status.OPEN,
    ]
    # A repair of a foreign line is refused with the reason, not a 500.
    answer = admin_client.post(
        changelist,
        {"action": "repair", "_selected_action": [LineDrift.objects.get(status="open").pk]},
        follow=True,
    )
    assert "never sold has no record of ours" in answer.content.decode()


def test_the_import_button_imports_the_panel_in_the_background(
    admin_client, xui_emulator, panel, plan, run_tasks
):
    xui_emulator.seed_lines(4, prefix="old", exp_date=1830000000, bouquets=(1, 2))
    url = reverse("admin:provisioning_linedrift_import", args=[panel.pk])
    with TestCase.captureOnCommitCallbacks(execute=True):
        answer = admin_client.post(url, {"plan": ""}, follow=True)
    assert "Importing the lines of Test panel in the background" in answer.content.decode()
    run_tasks()
    assert Line.objects.count() == 4
    report = admin_client.get(reverse("admin:provisioning_linedrift_report")).content.decode()
    assert "4 imported, 0 already here, 0 not imported, 4 placeholder customers" in report


def test_it_says_when_a_kind_cannot_be_reconciled(admin_client, panel, monkeypatch):
    from boxoffice.panels.adapters.base import OPERATIONS, Capabilities

    monkeypatch.setattr(panel.kind_class, "capabilities", Capabilities(operations=OPERATIONS))
    PanelSweep.objects.create(
        panel=panel, note="Not reconciled: XUI One panels cannot list their lines."
    )
    html = admin_client.get(reverse("admin:provisioning_linedrift_report")).content.decode()
    assert "Not reconciled: XUI One panels cannot list their lines." in html
    assert "Import this panel" not in html


def test_the_report_refuses_a_get_on_its_actions(admin_client, panel):
    url = reverse("admin:provisioning_linedrift_import", args=[panel.pk])
    assert admin_client.get(url).status_code == 405
    assert Panel.objects.count() == 1
