"""The Xtream UI and NXT emulators over real HTTP on the shared `panel_http` base: its control
endpoints, faults only where each kind's `faulted` says, NXT's two Set-Cookie headers, and the
caller's IP reaching Xtream UI's `api_ips` check."""

from __future__ import annotations

import httpx
import pytest

from boxoffice_dev.fixtures_panels import XTREAM_TEST_API_PASS
from boxoffice_dev.xtream_ui.server import main as xtream_main

HTTP = httpx.Client(timeout=2.0)


def test_xtream_control_endpoints_state_log_and_reset(xtream_emulator):
    base = xtream_emulator.base_url
    answer = HTTP.post(
        f"{base}/api.php",
        data={
            "api_pass": XTREAM_TEST_API_PASS,
            "action": "user",
            "sub": "create",
            "user_data[username]": "u1",
            "user_data[password]": "p1",
        },
    )
    assert answer.status_code == 200 and answer.json()["result"] is True
    [user] = HTTP.get(f"{base}/_emulator/users").json()
    assert user["username"] == "u1"
    assert HTTP.get(f"{base}/_emulator/state").json()["users"][0]["username"] == "u1"
    [logged] = HTTP.get(f"{base}/_emulator/requests").json()
    assert (logged["action"], logged["sub"]) == ("user", "create") and "api_pass" not in logged
    assert HTTP.post(f"{base}/_emulator/reset").json() == {"reset": True}
    assert HTTP.get(f"{base}/_emulator/state").json() == {"users": [], "mags": []}
    assert xtream_emulator.request_log == []


def test_xtream_refuses_a_caller_outside_api_ips(xtream_emulator):
    xtream_emulator.panel.api_ips = ["10.9.9.9"]
    answer = HTTP.get(
        f"{xtream_emulator.base_url}/api.php",
        params={"api_pass": XTREAM_TEST_API_PASS, "action": "user", "sub": "info"},
    )
    assert answer.status_code == 200 and answer.json() == {"result": False, "0": "IP FORBIDDEN"}


@pytest.mark.parametrize(
    ("mode", "check"),
    [
        ("503", lambda r: r.status_code == 503 and "nginx" in r.text),
        ("garbage", lambda r: r.status_code == 200 and r.text.startswith('{"result":true')),
    ],
)
def test_xtream_faults_hit_api_php_and_run_out(xtream_emulator, mode, check):
    base = xtream_emulator.base_url
    spec = HTTP.post(f"{base}/_emulator/faults", json={"mode": mode, "count": 1}).json()
    assert spec == {"mode": mode, "latency_ms": 0, "count": 1}
    params = {"api_pass": XTREAM_TEST_API_PASS, "action": "user", "sub": "info"}
    assert check(HTTP.get(f"{base}/api.php", params=params))
    assert HTTP.get(f"{base}/api.php", params=params).status_code == 200
    assert HTTP.get(f"{base}/_emulator/faults").json()["mode"] == "ok"


def test_nxt_faults_the_line_pages_but_not_the_login(nxt_emulator):
    base = nxt_emulator.base_url
    nxt_emulator.set_faults("503")
    login = HTTP.get(f"{base}/login")
    assert login.status_code == 200 and "_token" in login.text
    # Laravel's two cookies arrive as two Set-Cookie headers.
    cookies = login.headers.get_list("set-cookie")
    assert [c.split("=", 1)[0] for c in cookies] == ["XSRF-TOKEN", "laravel_session"]
    assert HTTP.get(f"{base}/lines").status_code == 503
    assert HTTP.get(f"{base}/_emulator/state").json() == {"lines": [], "logins": 0}


def test_cli_refuses_an_unknown_option():
    with pytest.raises(SystemExit):
        xtream_main(["--port", "9150", "--no-such-option"])
