"""The NXT web-form driver: off unless enabled, the Laravel login and session, and answers it
does not recognise stopping for review instead of being guessed at."""

from __future__ import annotations

import httpx
import pytest

from boxoffice.panels.adapters.base import (
    LineNotFound,
    LineSpec,
    PermanentPanelError,
    TransientPanelError,
)
from boxoffice.panels.adapters.nxt.adapter import NxtAdapter, _expiry
from boxoffice.panels.adapters.nxt.tests.test_nxt_contract import nxt_adapter
from boxoffice.panels.adapters.registry import ADAPTERS, adapter_class, kind_choices

LABEL = "NXT (experimental — drives the web forms)"


def spec(**changes) -> LineSpec:
    values = {
        "username": "nxtjane",
        "password": "Secret123",
        "max_connections": 1,
        "expires_at": None,
        "mapping": {"package": "2", "bouquets": [5, 7]},
        "notes": "boxoffice order 7",
    }
    values.update(changes)
    return LineSpec(**values)


# --- Off unless the operator enables it --------------------------------------------------------


def test_it_is_neither_offered_nor_usable_unless_enabled(settings, admin_client, db):
    settings.BOXOFFICE_EXPERIMENTAL_PANEL_KINDS = []
    assert "nxt" not in dict(kind_choices())
    assert "nxt" not in ADAPTERS and "nxt" not in list(ADAPTERS)
    with pytest.raises(ValueError, match="BOXOFFICE_EXPERIMENTAL_PANEL_KINDS"):
        adapter_class("nxt")
    page = admin_client.get("/admin/panels/panel/add/").content.decode()
    assert "NXT" not in page and "Xtream UI / Xtream Codes 2.x" in page


def test_enabled_it_is_offered_with_its_experimental_label(settings, admin_client, db):
    settings.BOXOFFICE_EXPERIMENTAL_PANEL_KINDS = ["nxt"]
    assert dict(kind_choices())["nxt"] == LABEL
    assert adapter_class("nxt") is NxtAdapter
    page = admin_client.get("/admin/panels/panel/add/?kind=nxt").content.decode()
    assert LABEL in page
    assert 'name="login_username"' in page and 'name="login_password"' in page


# --- Login, CSRF, session --------------------------------------------------------------------


def test_it_logs_in_with_the_csrf_token_and_creates_a_line_it_then_finds(nxt_emulator):
    adapter = nxt_adapter(nxt_emulator)

    line = adapter.create_line(spec())

    assert nxt_emulator.logins == 1
    [row] = nxt_emulator.lines()
    assert (row["username"], row["package"], row["bouquets"]) == ("nxtjane", "2", ["5", "7"])
    assert line.panel_line_id == str(row["id"])  # found in the list: the create returns no id
    assert line.max_connections == 2 and line.expires_at is not None  # the package's
    assert adapter.get_line(line.panel_line_id).username == "nxtjane"


def test_a_trial_goes_to_the_trial_form(nxt_emulator):
    line = nxt_adapter(nxt_emulator).create_line(spec(is_trial=True, mapping={"package": "9"}))
    assert line.is_trial is True
    assert nxt_emulator.lines()[0]["is_trial"] == 1


def test_an_expired_session_is_logged_in_again_once(nxt_emulator):
    adapter = nxt_adapter(nxt_emulator)
    adapter.create_line(spec())
    nxt_emulator.expire_sessions()

    assert adapter.find_line("nxtjane") is not None
    assert nxt_emulator.logins == 2


def test_a_refused_login_is_permanent(nxt_emulator):
    adapter, other = nxt_adapter(nxt_emulator), nxt_adapter(nxt_emulator)
    real, nxt_emulator.password = nxt_emulator.password, "changed-on-the-panel"
    try:
        with pytest.raises(PermanentPanelError) as caught:
            adapter.create_line(spec())
        assert caught.value.code == "login_refused"
        assert nxt_emulator.lines() == []
        assert other.health().ok is False
    finally:
        nxt_emulator.password = real


def test_a_refused_create_says_what_the_panel_said(nxt_emulator):
    with pytest.raises(PermanentPanelError, match="Invalid package") as caught:
        nxt_adapter(nxt_emulator).create_line(spec(mapping={"package": "404"}))
    assert caught.value.code == "nxt_refused"


def test_it_deletes_and_checks_the_line_is_gone(nxt_emulator):
    adapter = nxt_adapter(nxt_emulator)
    line = adapter.create_line(spec())
    adapter.delete(line.panel_line_id)
    assert nxt_emulator.lines() == []
    with pytest.raises(LineNotFound):
        adapter.delete(line.panel_line_id)


def test_logins_are_spaced_apart(nxt_emulator, monkeypatch):
    slept: list[float] = []
    monkeypatch.setattr("boxoffice.panels.adapters.nxt.adapter.time.sleep", slept.append)
    nxt_adapter(nxt_emulator, login_spacing=5.0).health()
    nxt_adapter(nxt_emulator, login_spacing=5.0).health()
    assert slept and 4.0 < slept[-1] <= 5.0


# --- Answers it does not know ----------------------------------------------------------------


def mock_adapter(handler) -> NxtAdapter:
    config = NxtAdapter.config_for(
        api_url="http://nxt.test",
        timeout=1,
        settings={"login_username": "r", "login_password": "p"},
    )
    config = type(config)(**{**config.__dict__, "options": {"login_spacing": 0}})
    return NxtAdapter(config, transport=httpx.MockTransport(handler))


def test_a_login_page_it_cannot_read_is_a_permanent_error_for_review():
    adapter = mock_adapter(lambda request: httpx.Response(200, text="<html>Welcome!</html>"))
    with pytest.raises(PermanentPanelError) as caught:
        adapter.find_line("x")
    assert caught.value.code == "nxt_unknown_answer"
    assert "nothing was guessed" in str(caught.value)
    assert "Welcome" in caught.value.raw


def test_an_html_answer_to_a_form_post_is_for_review(nxt_emulator):
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/login" and request.method == "GET":
            page = '<meta name="csrf-token" content="t1"><input type="text" name="email">'
            return httpx.Response(200, text=page + '<input type="password" name="password">')
        if request.url.path == "/login":
            return httpx.Response(302, headers={"Location": "/home"})
        if request.url.path == "/home":
            return httpx.Response(200, text='<meta name="csrf-token" content="t2">')
        return httpx.Response(200, text="<html><h1>New dashboard layout</h1></html>")

    with pytest.raises(PermanentPanelError) as caught:
        mock_adapter(handler).find_line("x")
    assert caught.value.code == "nxt_unknown_answer"


def test_a_panel_error_page_or_an_empty_answer_is_transient():
    for response in (httpx.Response(502, text="<html>Bad gateway</html>"), httpx.Response(200)):
        adapter = mock_adapter(lambda request, r=response: r)
        with pytest.raises(TransientPanelError):
            adapter.find_line("x")


def test_dates_are_read_as_the_panel_shows_them_and_nothing_else():
    assert _expiry("07-03-2027 18:05").isoformat() == "2027-03-07T18:05:00+00:00"
    assert _expiry("") is None
    with pytest.raises(PermanentPanelError):
        _expiry("2027-03-07")
