"""An operator adds an Xtream UI panel (and, enabled, an NXT one) in the back office with a
real browser, at phone and desktop widths; screenshots kept for a look."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from boxoffice.panels.models import Panel
from boxoffice.storefront.tests.test_browser import CHROMIUM_ARGS, _chromium

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SHOTS = Path(
    os.environ.get(
        "BOXOFFICE_SCREENSHOTS",
        Path(__file__).resolve().parents[5] / "test-artifacts" / "screenshots",
    )
)


@pytest.fixture
def admin_page(live_server, admin_user, client):
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    from playwright.sync_api import sync_playwright

    client.force_login(admin_user)
    cookie = client.cookies["sessionid"].value
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=_chromium(), headless=True, args=CHROMIUM_ARGS)

        def open_page(width: int):
            context = browser.new_context(viewport={"width": width, "height": 900})
            context.add_cookies([{"name": "sessionid", "value": cookie, "url": live_server.url}])
            return context.new_page()

        yield live_server.url, open_page
        browser.close()
    os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)


def test_an_operator_adds_an_xtream_ui_panel(admin_page):
    url, open_page = admin_page
    SHOTS.mkdir(parents=True, exist_ok=True)
    for width in (360, 1280):
        page = open_page(width)
        page.goto(f"{url}/admin/panels/panel/add/?kind=xtream_ui")
        page.screenshot(path=SHOTS / f"xtream_ui_panel_form_{width}.png", full_page=True)
        if width == 1280:
            page.fill('input[name="name"]', "XC main")
            page.fill('input[name="api_url"]', "http://panel.example.test:25461")
            page.fill('input[name="public_url"]', "http://tv.example.test:25461")
            page.fill('input[name="api_pass"]', "pass-typed-in")
            page.fill('input[name="member_id"]', "7")
            page.click('[name="_save"]')
            page.wait_for_load_state()
            page.screenshot(path=SHOTS / "xtream_ui_panel_saved_1280.png", full_page=True)
    panel = Panel.objects.get(name="XC main")
    assert panel.kind == "xtream_ui"
    assert panel.secrets == {"api_pass": "pass-typed-in"}
    assert panel.settings["member_id"] == 7


def test_nxt_is_labelled_experimental_when_enabled(admin_page, settings):
    settings.BOXOFFICE_EXPERIMENTAL_PANEL_KINDS = ["nxt"]
    url, open_page = admin_page
    page = open_page(1280)
    page.goto(f"{url}/admin/panels/panel/add/?kind=nxt")
    page.screenshot(path=SHOTS / "nxt_panel_form_1280.png", full_page=True)
    assert "NXT (experimental — drives the web forms)" in page.content()
