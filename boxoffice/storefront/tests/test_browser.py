"""A real browser (Debian's chromium driven by Playwright) clicks the customer's path and keeps
screenshots of every page and of the HTML e-mail at phone and desktop widths."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from boxoffice.provisioning.models import Line

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SHOTS = Path(
    os.environ.get(
        "BOXOFFICE_SCREENSHOTS",
        Path(__file__).resolve().parents[3] / "test-artifacts" / "screenshots",
    )
)
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _chromium() -> str:
    path = (
        os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    )
    if not path:
        if os.environ.get("BOXOFFICE_REQUIRE_CHROMIUM"):
            pytest.fail(
                "BOXOFFICE_REQUIRE_CHROMIUM is set but no chromium was found (apt-get install chromium)"
            )
        pytest.skip(
            "no chromium found: browser tests skipped (apt-get install chromium to run them)"
        )
    return path


@pytest.fixture
def browser():
    executable = _chromium()
    # Playwright's sync API runs an event loop in this thread; the ORM calls in this test are
    # plain synchronous reads between browser steps.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()
    os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)


@pytest.mark.parametrize("width", [360, 1280])
def test_it_clicks_from_the_storefront_to_the_portal(
    width, site, browser, xui_emulator, smtp_inbox, background_worker
):
    SHOTS.mkdir(parents=True, exist_ok=True)
    page = browser.new_page(viewport={"width": width, "height": 900})
    # Whatever the Content-Security-Policy refused on the way (settings.CONTENT_SECURITY_POLICY).
    refused: list[str] = []
    page.on(
        "console",
        lambda m: (
            refused.append(f"{page.url}: {m.text}")
            if "Content Security Policy" in m.text or "Refused to" in m.text
            else None
        ),
    )

    def shot(name: str) -> None:
        page.screenshot(path=str(SHOTS / f"{name}-{width}.png"), full_page=True)

    page.goto(site + "/")
    page.wait_for_selector("text=Monthly")
    shot("1-storefront")

    page.click("a[href='/checkout/monthly/']")
    page.wait_for_selector("form")
    email = f"browser{width}@example.test"
    page.fill("input[name=email]", email)
    page.fill("input[name=name]", "Bea Browser")
    page.fill("input[name=preferred_username]", f"bea{width}")
    page.select_option("select[name=country]", "DE")
    page.check("input[name=gateway][value=stripe]")
    shot("2-checkout")
    page.click("main button[type=submit]")

    page.wait_for_url(f"{page.context.browser and ''}**/pay/**")
    page.click("button.pay")
    page.wait_for_url("**/order/**")
    shot("3-status-waiting")
    # The status page updates itself (htmx polling) until the credentials are there.
    page.wait_for_selector("#cred-username", timeout=20_000)
    line = Line.objects.get(customer__email=email)
    assert page.inner_text("#cred-username") == line.username == f"bea{width}"
    assert page.inner_text("#cred-password") == line.password
    shot("4-status-ready")

    # Every link of the credentials mail, opened in the browser; the account link signs in once
    # and asks for a password (checkout never sets one).
    [mail] = [m for m in smtp_inbox.wait_for(1) if m["To"] == email]
    html = mail.get_body(preferencelist=("html",)).get_content()
    assert line.password in html
    page.goto("about:blank")  # the mail is no page of ours: shown without our pages' policy
    page.set_content(html)
    shot("5-credentials-email")
    links = [a.get_attribute("href") for a in page.query_selector_all("a[href^=http]")]
    account_link = next(u for u in links if "/portal/magic/" in u)
    for url in links:
        if url != account_link:
            assert page.request.get(url).ok, url
    page.goto(account_link)
    page.wait_for_url(site + "/portal/magic/confirm/")
    shot("6-sign-in-link")
    page.click("main button[type=submit]")
    page.wait_for_url(site + "/portal/password/")
    page.fill("input[name=new_password1]", "correct-horse-battery")
    page.fill("input[name=new_password2]", "correct-horse-battery")
    shot("7-choose-password")
    page.click("form.card button[type=submit]")
    page.wait_for_url(site + "/portal/")
    assert line.username in page.content() and line.password in page.content()
    shot("8-portal")

    # The link worked once; the password works from now on.
    page.goto(account_link)
    assert "already been used" in page.content()
    page.goto(site + "/portal/")
    page.click("form.nav-form button")
    page.wait_for_url(site + "/portal/login/")
    page.fill("input[name=username]", email)
    page.fill("input[name=password]", "correct-horse-battery")
    page.click("form.card button[type=submit] >> text=Sign in")
    page.wait_for_url(site + "/portal/")
    assert line.password in page.content()
    assert refused == []
    page.close()
