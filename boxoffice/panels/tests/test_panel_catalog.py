"""Bouquets and packages synced from each panel (the emulator over HTTP): stored with names,
shown in the back office, offered by name in the plan mapping, checked by `boxoffice apply`
(a warning, never a refusal), and refreshed gently by the scheduler."""

from __future__ import annotations

import io
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.utils import timezone

from boxoffice.catalog.models import Plan, PlanPanel
from boxoffice.panels.models import Panel
from boxoffice.panels.panel_catalog import (
    mapping_described,
    mapping_unknown_ids,
    panel_catalog_sync,
    panels_catalog_due,
)

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def reseller_panel(xui_emulator) -> Panel:
    return Panel.objects.create(
        name="Reseller panel",
        kind="xui_one_reseller",
        api_url=xui_emulator.base_url,
        settings={"access_code": xui_emulator.reseller_access_code},
        secrets={"api_key": xui_emulator.reseller_api_key},
        public_url=xui_emulator.base_url,
        timeout_seconds=2.0,
    )


def test_it_stores_an_admin_panels_bouquets_and_packages(panel, xui_emulator):
    catalog = panel_catalog_sync(panel=panel)

    panel.refresh_from_db()
    assert panel.catalog == catalog
    assert panel.catalog_synced_at is not None
    assert {"id": 1, "name": "Entertainment"} in catalog["bouquets"]
    assert "packages" not in catalog  # the admin kind does not list packages
    assert catalog["error"] == ""
    assert (
        mapping_described(panel, {"bouquets": [1, 2]}) == "bouquets 1 (Entertainment), 2 (Sports)"
    )
    assert mapping_unknown_ids(panel, {"bouquets": [1, 9]}) == [
        "panel Test panel has no bouquet 9 (it has: 1 Entertainment, 2 Sports, 3 Movies, "
        "4 Kids, 5 News)"
    ]


def test_it_stores_a_reseller_panels_packages_with_their_cost(reseller_panel):
    catalog = panel_catalog_sync(panel=reseller_panel)

    assert "bouquets" not in catalog
    [month, quarter] = catalog["packages"]
    assert month == {
        "id": "1",
        "name": "1 Month",
        "credits": "10",
        "duration_days": 30,
        "max_connections": 1,
        "is_trial": True,
    }
    assert quarter["name"] == "3 Months, 2 screens"
    assert mapping_described(reseller_panel, {"package": 2}) == "package 2 (3 Months, 2 screens)"


def test_a_panel_that_does_not_answer_keeps_its_lists_with_the_error(panel, xui_emulator):
    panel_catalog_sync(panel=panel)
    xui_emulator.set_faults("down")
    try:
        catalog = panel_catalog_sync(panel=panel)
    finally:
        xui_emulator.set_faults("ok")
    assert len(catalog["bouquets"]) == 5
    assert "Could not reach XUI One" in catalog["error"]


def test_the_scheduler_claims_one_stale_panel_per_pass(panel, reseller_panel, settings):
    settings.PANEL_CATALOG_SYNC_SECONDS = 3600
    Panel.objects.filter(pk=reseller_panel.pk).update(
        catalog_synced_at=timezone.now() - timedelta(minutes=5)
    )
    assert panels_catalog_due() == [panel.pk]  # never synced
    assert panels_catalog_due() == []  # claimed: not again within the period
    Panel.objects.filter(pk=reseller_panel.pk).update(
        catalog_synced_at=timezone.now() - timedelta(hours=2)
    )
    assert panels_catalog_due() == [reseller_panel.pk]


TOML = """
[[panel]]
name = "Reseller panel"
kind = "xui_one_reseller"
api_url = "{url}"
public_url = "{url}"
access_code = "resellerapi1"
api_key_env = "RESELLER_PANEL_API_KEY"

[[plan]]
slug = "monthly"
name = "Monthly"
duration_days = 30
connections = 1
price = "9.99"
currency = "EUR"

[plan.panels."Reseller panel"]
package = {package}
"""


def _apply(tmp_path, text: str, *args: str) -> tuple[str, str]:
    path = tmp_path / "catalogue.toml"
    path.write_text(text, encoding="utf-8")
    out, err = io.StringIO(), io.StringIO()
    call_command("apply", str(path), *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_apply_warns_about_a_package_the_panel_does_not_have(
    tmp_path, xui_emulator, settings, monkeypatch
):
    settings.APPLY_CHECK_PANELS = True
    monkeypatch.setenv("RESELLER_PANEL_API_KEY", xui_emulator.reseller_api_key)

    out, err = _apply(tmp_path, TOML.format(url=xui_emulator.base_url, package=7))

    assert "created   plan monthly" in out  # applied all the same
    assert PlanPanel.objects.get().mapping == {"package": 7}
    assert "warning   plan 'monthly': panel Reseller panel has no package 7" in err
    assert "1 1 Month" in err  # and names what it has

    out, err = _apply(tmp_path, TOML.format(url=xui_emulator.base_url, package=1))
    assert "updated   plan monthly" in out
    assert err == ""


def test_apply_warns_when_it_cannot_reach_the_panel_and_applies(
    tmp_path, unused_panel_url, settings, monkeypatch
):
    settings.APPLY_CHECK_PANELS = True
    monkeypatch.setenv("RESELLER_PANEL_API_KEY", "resellerkey")

    out, err = _apply(tmp_path, TOML.format(url=unused_panel_url, package=1))

    assert "created   plan monthly" in out
    assert "could not be asked for its bouquets/packages" in err
    assert Plan.objects.filter(slug="monthly").exists()


def test_apply_asks_no_panel_when_told_not_to(tmp_path, xui_emulator, settings, monkeypatch):
    settings.APPLY_CHECK_PANELS = True
    monkeypatch.setenv("RESELLER_PANEL_API_KEY", xui_emulator.reseller_api_key)

    _, err = _apply(tmp_path, TOML.format(url=xui_emulator.base_url, package=7), "--no-panel-check")

    assert err == ""
    assert xui_emulator.request_log == []


def test_the_back_office_shows_credits_and_synced_names(admin_client, reseller_panel, xui_emulator):
    plan = Plan.objects.create(
        slug="monthly",
        name="Monthly",
        duration_days=30,
        connections=1,
        price=Decimal("9.99"),
        currency="EUR",
    )
    mapping = PlanPanel.objects.create(plan=plan, panel=reseller_panel, mapping={"package": 1})

    changelist = admin_client.get("/admin/panels/panel/")
    assert "not read yet" in changelist.content.decode()

    response = admin_client.post(
        "/admin/panels/panel/",
        {"action": "sync_catalog", "_selected_action": [reseller_panel.pk]},
        follow=True,
    )
    page = response.content.decode()
    assert "Reseller panel: 2 packages, 100 credits" in page
    reseller_panel.refresh_from_db()
    assert reseller_panel.credits_balance == Decimal(100)

    change = admin_client.get(f"/admin/panels/panel/{reseller_panel.pk}/change/").content.decode()
    assert "1 Month" in change and "10 credits" in change

    plan_page = admin_client.get(f"/admin/catalog/plan/{plan.pk}/change/").content.decode()
    assert "3 Months, 2 screens (2)" in plan_page  # the package offered by name
    assert "package 1 (1 Month)" in plan_page

    # Choosing a package by name saves its id in the mapping.
    response = admin_client.get(f"/admin/catalog/plan/{plan.pk}/change/")
    assert response.status_code == 200
    data = _form_data(response.content.decode())
    prefix = next(k.split("-")[0] for k in data if k.endswith("-0-named_package"))
    data[f"{prefix}-0-named_package"] = "2"
    saved = admin_client.post(f"/admin/catalog/plan/{plan.pk}/change/", data)
    if saved.status_code != 302:
        errors = [saved.context["adminform"].form.errors]
        errors += [fs.formset.errors for fs in saved.context["inline_admin_formsets"]]
        errors += [fs.formset.non_form_errors() for fs in saved.context["inline_admin_formsets"]]
        raise AssertionError(errors)
    mapping.refresh_from_db()
    assert mapping.mapping == {"package": 2}


def _form_data(html: str) -> dict:
    """The change form's fields as the browser would send them (inputs, selects, textareas)."""
    import re
    from html import unescape

    data: dict = {}
    for match in re.finditer(r"<input[^>]*>", html):
        tag = match.group(0)
        name = re.search(r'name="([^"]+)"', tag)
        if not name or 'type="submit"' in tag or 'type="checkbox"' in tag and "checked" not in tag:
            continue
        value = re.search(r'value="([^"]*)"', tag)
        data[name.group(1)] = unescape(value.group(1)) if value else ""
    for match in re.finditer(r'<textarea[^>]*name="([^"]+)"[^>]*>(.*?)</textarea>', html, re.S):
        data[match.group(1)] = unescape(match.group(2)).strip()
    for match in re.finditer(r'<select[^>]*name="([^"]+)"[^>]*>(.*?)</select>', html, re.S):
        chosen = re.search(r'<option value="([^"]*)"[^>]*selected', match.group(2))
        data[match.group(1)] = chosen.group(1) if chosen else ""
    return data
