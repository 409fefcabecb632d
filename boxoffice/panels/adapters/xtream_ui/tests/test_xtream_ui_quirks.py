"""Xtream UI's api.php quirks (reference §2, §7), each against the emulator over real HTTP."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

import httpx
import pytest

from boxoffice.panels.adapters.base import (
    DeviceTaken,
    LineNotFound,
    LineSpec,
    PermanentPanelError,
    TransientPanelError,
    UnsupportedOperation,
    UsernameTaken,
)
from boxoffice.panels.adapters.xtream_ui.adapter import XtreamUiAdapter

EXPIRES = datetime(2031, 5, 17, 12, 30, 7, tzinfo=UTC)


def make_adapter(emulator, *, api_pass=None, passwords=None, timeout=1.0) -> XtreamUiAdapter:
    config = XtreamUiAdapter.config_for(
        api_url=emulator.base_url,
        timeout=timeout,
        settings={"api_pass": emulator.api_pass if api_pass is None else api_pass},
        line_passwords=(passwords.get if passwords is not None else None),
    )
    return XtreamUiAdapter(config)


def spec(username="jane01", password="Secret123", **changes) -> LineSpec:  # noqa: S107
    values = {
        "username": username,
        "password": password,
        "max_connections": 2,
        "expires_at": EXPIRES,
        "mapping": {"bouquets": [3, 1]},
        "notes": "boxoffice order 42",
    }
    values.update(changes)
    return LineSpec(**values)


def user_data(request: dict) -> dict:
    return request.get("user_data") or {}


def raw_api(emulator, form: list[tuple[str, str]]) -> dict:
    response = httpx.post(
        f"{emulator.base_url}/api.php",
        content=urlencode([*form, ("api_pass", emulator.api_pass)]),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        timeout=5,
    )
    return response.json()


# --- Auth ----------------------------------------------------------------------------------


def test_a_caller_ip_the_panel_does_not_list_is_a_permanent_error_naming_api_ips(
    xtream_emulator,
):
    xtream_emulator.panel.api_ips = ["203.0.113.9"]
    adapter = make_adapter(xtream_emulator)

    with pytest.raises(PermanentPanelError) as caught:
        adapter.create_line(spec())

    assert caught.value.code == "ip_forbidden"
    assert caught.value.transient is False
    assert "API IPs" in str(caught.value)
    assert xtream_emulator.users() == []
    report = adapter.health()
    assert report.ok is False and "IP" in report.detail


def test_a_wrong_api_pass_is_a_permanent_error_and_never_shown(xtream_emulator):
    adapter = make_adapter(xtream_emulator, api_pass="not-the-pass")

    with pytest.raises(PermanentPanelError) as caught:
        adapter.create_line(spec())

    assert caught.value.code == "key_wrong"
    assert caught.value.transient is False
    assert "not-the-pass" not in str(caught.value) + caught.value.raw
    assert xtream_emulator.users() == []


def test_the_api_pass_travels_in_the_form_not_the_url(xtream_emulator):
    adapter = make_adapter(xtream_emulator)
    adapter.health()
    request = xtream_emulator.request_log[-1]
    assert (request["action"], request["sub"]) == ("server", "list")
    assert "api_pass" not in request  # the emulator's log drops it: it was sent and matched


# --- Duplicates: the panel checks username+password, so the adapter checks the username -----


def test_the_panel_itself_accepts_a_taken_username_with_another_password(xtream_emulator):
    """Why the adapter checks first: api.php's own duplicate test is on the pair."""
    first = raw_api(
        xtream_emulator,
        [
            ("action", "user"),
            ("sub", "create"),
            ("user_data[username]", "dup"),
            ("user_data[password]", "one"),
        ],
    )
    second = raw_api(
        xtream_emulator,
        [
            ("action", "user"),
            ("sub", "create"),
            ("user_data[username]", "dup"),
            ("user_data[password]", "two"),
        ],
    )
    same = raw_api(
        xtream_emulator,
        [
            ("action", "user"),
            ("sub", "create"),
            ("user_data[username]", "dup"),
            ("user_data[password]", "two"),
        ],
    )
    assert first["result"] is True and second["result"] is True
    assert same == {"result": False, "error": "EXISTS"}
    assert [u["username"] for u in xtream_emulator.users()] == ["dup", "dup"]


def test_create_looks_the_username_up_before_creating_and_refuses_a_taken_one(xtream_emulator):
    passwords = {"jane01": "Secret123"}  # what Boxoffice holds for its line
    adapter = make_adapter(xtream_emulator, passwords=passwords)
    adapter.create_line(spec())
    xtream_emulator.request_log.clear()

    with pytest.raises(UsernameTaken):
        adapter.create_line(spec(password="Other4567", notes="someone else"))

    subs = [(r["action"], r["sub"]) for r in xtream_emulator.request_log]
    assert subs == [("user", "info")]  # looked up, and no create sent
    assert len(xtream_emulator.users()) == 1


def test_a_fresh_adapter_finds_a_line_by_the_password_boxoffice_holds(xtream_emulator):
    make_adapter(xtream_emulator).create_line(spec())

    assert make_adapter(xtream_emulator).find_line("jane01") is None  # no password: not ours
    found = make_adapter(xtream_emulator, passwords={"jane01": "Secret123"}).find_line("jane01")
    assert found is not None and found.panel_line_id == "jane01"
    with pytest.raises(LineNotFound):
        make_adapter(xtream_emulator).get_line("jane01")


def test_usernames_match_exactly_although_mysql_compares_without_case(xtream_emulator):
    make_adapter(xtream_emulator).create_line(spec(username="Jane01"))
    adapter = make_adapter(xtream_emulator, passwords={"jane01": "Secret123"})

    assert adapter.find_line("jane01") is None
    # and the panel did answer that pair: it is the adapter that tells them apart
    assert (xtream_emulator.request_log[-1]["action"], xtream_emulator.request_log[-1]["sub"]) == (
        "user",
        "info",
    )


# --- Field formats ---------------------------------------------------------------------------


def test_create_sends_user_data_with_a_unix_exp_date_and_bouquets_as_a_json_string(
    xtream_emulator,
):
    line = make_adapter(xtream_emulator).create_line(spec(is_trial=True))

    create = next(r for r in xtream_emulator.request_log if r["sub"] == "create")
    sent = user_data(create)
    assert sent["exp_date"] == str(int(EXPIRES.timestamp()))
    assert sent["bouquet"] == "[3,1]"  # a JSON string, not bouquet[]=3&bouquet[]=1
    assert sent["is_trial"] == "1"
    assert "username" not in create  # top-level fields are ignored by sub=create
    [row] = xtream_emulator.users()
    assert row["bouquet"] == "[3,1]"
    assert row["exp_date"] == str(int(EXPIRES.timestamp()))
    assert line.expires_at == EXPIRES and set(line.bouquets) == {1, 3} and line.is_trial


def test_a_line_that_never_expires_is_created_with_an_empty_exp_date(xtream_emulator):
    line = make_adapter(xtream_emulator).create_line(spec(expires_at=None))
    create = next(r for r in xtream_emulator.request_log if r["sub"] == "create")
    assert user_data(create)["exp_date"] == ""
    assert xtream_emulator.users()[0]["exp_date"] is None
    assert line.expires_at is None


def test_the_array_form_of_bouquet_kills_the_script_and_is_transient(xtream_emulator):
    adapter = make_adapter(xtream_emulator)
    with pytest.raises(TransientPanelError) as caught:
        adapter.client.call(
            "user",
            "create",
            [
                ("user_data[username]", "arr1"),
                ("user_data[password]", "pw1234567"),
                ("user_data[bouquet][]", "1"),
            ],
        )
    assert caught.value.code == "http_500"
    assert xtream_emulator.users() == []


def test_an_edit_changes_only_its_columns_by_username_and_password(xtream_emulator):
    adapter = make_adapter(xtream_emulator)
    adapter.create_line(spec())
    later = EXPIRES + timedelta(days=30)

    adapter.extend("jane01", later)
    adapter.change_plan("jane01", max_connections=4, mapping={"bouquets": [7]})

    edits = [r for r in xtream_emulator.request_log if r["sub"] == "edit"]
    assert [(e["username"], e["password"]) for e in edits] == [("jane01", "Secret123")] * 2
    assert user_data(edits[0]) == {"exp_date": str(int(later.timestamp()))}
    assert user_data(edits[1]) == {"max_connections": "4", "bouquet": "[7]"}
    [row] = xtream_emulator.users()
    assert (row["exp_date"], row["max_connections"], row["bouquet"]) == (
        str(int(later.timestamp())),
        "4",
        "[7]",
    )


def test_ending_a_trial_sends_is_trial_zero_as_a_real_value(xtream_emulator):
    adapter = make_adapter(xtream_emulator)
    adapter.create_line(spec(is_trial=True))

    line = adapter.end_trial("jane01", expires_at=EXPIRES + timedelta(days=30), max_connections=1)

    assert line.is_trial is False
    assert xtream_emulator.users()[0]["is_trial"] == "0"


def test_a_password_change_is_keyed_by_the_old_one_and_survives_a_retry(xtream_emulator):
    passwords = {"jane01": "Secret123"}
    make_adapter(xtream_emulator).create_line(spec())

    changed = make_adapter(xtream_emulator, passwords=passwords).change_password(
        "jane01", "N3wSecret9"
    )
    # The retry after a timeout: Boxoffice still holds the old password, the panel the new.
    again = make_adapter(xtream_emulator, passwords=passwords).change_password(
        "jane01", "N3wSecret9"
    )

    assert changed.password == again.password == "N3wSecret9"
    assert [u["password"] for u in xtream_emulator.users()] == ["N3wSecret9"]


def test_timeouts_html_pages_and_empty_bodies_are_transient(xtream_emulator):
    adapter = make_adapter(xtream_emulator, timeout=0.3)
    for mode in ("act_then_timeout", "html", "empty", "503", "down", "garbage"):
        xtream_emulator.set_faults(mode, latency_ms=600 if mode == "act_then_timeout" else 0)
        with pytest.raises(TransientPanelError):
            adapter.client.call("server", "list")
    xtream_emulator.set_faults("ok")


# --- No delete -------------------------------------------------------------------------------


def test_it_declares_no_delete_and_refuses_one(xtream_emulator):
    assert not XtreamUiAdapter.capabilities.can("delete")
    adapter = make_adapter(xtream_emulator)
    adapter.create_line(spec())
    with pytest.raises(UnsupportedOperation):
        adapter.delete("jane01")
    assert len(xtream_emulator.users()) == 1


# --- MAG devices (action=stb) ----------------------------------------------------------------


def test_a_device_is_created_by_mac_and_read_back_by_it(xtream_emulator):
    adapter = make_adapter(xtream_emulator)

    line = adapter.create_device(spec(mac="00:1a:79:ab:cd:ef", max_connections=1))

    create = next(r for r in xtream_emulator.request_log if r["action"] == "stb")
    assert create["sub"] == "create"
    assert user_data(create)["mac"] == "00:1A:79:AB:CD:EF"
    [mag] = xtream_emulator.mags()
    assert mag["mac"] == "MDA6MUE6Nzk6QUI6Q0Q6RUY="  # base64(strtoupper(mac)), as stored
    assert line.panel_line_id == "mac:00:1A:79:AB:CD:EF"
    assert line.mac == "00:1A:79:AB:CD:EF"
    # The hidden line got random credentials (the panel ignores ours) and our other fields.
    assert line.username != "jane01" and len(line.username) == 10
    assert line.expires_at == EXPIRES and set(line.bouquets) == {1, 3}
    assert adapter.find_device("00-1a-79-ab-cd-ef").panel_line_id == line.panel_line_id


def test_a_device_line_is_changed_by_its_mac(xtream_emulator):
    adapter = make_adapter(xtream_emulator)
    line = adapter.create_device(spec(mac="00:1A:79:00:00:01"))
    later = EXPIRES + timedelta(days=60)

    assert adapter.extend(line.panel_line_id, later).expires_at == later
    assert adapter.suspend(line.panel_line_id).enabled is False
    assert adapter.suspend(line.panel_line_id).enabled is False  # nothing changed: still fine
    edit = next(r for r in xtream_emulator.request_log if r["sub"] == "edit")
    assert edit["mac"] == "00:1A:79:00:00:01" and "password" not in edit
    [row] = xtream_emulator.users()
    assert row["enabled"] == "0" and row["is_mag"] == "1"


def test_a_mac_already_on_the_panel_is_device_taken(xtream_emulator):
    adapter = make_adapter(xtream_emulator)
    adapter.create_device(spec(mac="00:1A:79:00:00:02"))
    with pytest.raises(DeviceTaken):
        adapter.create_device(spec(mac="00:1a:79:00:00:02"))
    assert len(xtream_emulator.mags()) == 1
    assert adapter.find_device("00:1A:79:99:99:99") is None


def test_the_emulator_answers_like_the_source_for_each_documented_outcome(xtream_emulator):
    """The answer shapes of reference §2.1/§2.2, literally."""
    assert raw_api(xtream_emulator, [("action", "user"), ("sub", "info")]) == {
        "result": False,
        "error": "PARAMETER ERROR (user/pass)",
    }
    assert raw_api(
        xtream_emulator,
        [("action", "user"), ("sub", "create"), ("user_data[nope]", "1")],
    ) == {"result": False, "error": "PARAMETER ERROR"}
    assert raw_api(xtream_emulator, [("action", "stb"), ("sub", "create")]) == {
        "result": False,
        "error": "PARAMETER ERROR (mac)",
    }
    created = raw_api(xtream_emulator, [("action", "user"), ("sub", "create")])
    assert created["result"] is True and isinstance(created["created_id"], int)
    assert len(created["username"]) == len(created["password"]) == 10
    body = httpx.post(
        f"{xtream_emulator.base_url}/api.php",
        data={"action": "user", "sub": "info", "username": "x", "password": "y"},
        timeout=5,
    ).text
    assert json.loads(body) == {"result": False, "0": "KEY WRONG"}
