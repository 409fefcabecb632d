"""The Ministra and OneStream emulators over real HTTP: the control endpoints they share
(faults, state, request log, reset), HTTP Basic and the token headers, and OneStream's rid."""

from __future__ import annotations

import httpx
import pytest

HTTP = httpx.Client(timeout=2.0)


def test_ministra_refuses_a_missing_login_with_401_and_the_basic_realm(ministra_emulator):
    answer = HTTP.get(ministra_emulator.api_url + "tariffs")
    assert answer.status_code == 401
    assert answer.headers["WWW-Authenticate"] == 'Basic realm="Stalker API"'
    assert answer.json()["status"] == "ERROR"


@pytest.mark.parametrize(
    ("mode", "check"),
    [
        ("503", lambda r: r.status_code == 503 and "nginx" in r.text),
        ("html", lambda r: r.status_code == 403 and r.text.startswith("<html>")),
        ("empty", lambda r: r.status_code == 200 and r.content == b""),
        ("garbage", lambda r: r.status_code == 200 and r.text.startswith('{"status":"OK"')),
    ],
)
def test_faults_set_over_http_hit_the_api_only_and_run_out(ministra_emulator, mode, check):
    base = ministra_emulator.base_url
    assert HTTP.post(f"{base}/_emulator/faults", json={"mode": mode, "count": 1}).json() == {
        "mode": mode,
        "latency_ms": 0,
        "count": 1,
    }
    auth = (ministra_emulator.api_login, ministra_emulator.api_password)
    assert check(HTTP.get(ministra_emulator.api_url + "tariffs", auth=auth))
    assert HTTP.get(ministra_emulator.api_url + "tariffs", auth=auth).json()["status"] == "OK"
    bad = HTTP.post(f"{base}/_emulator/faults", json={"mode": "sideways"})
    assert bad.status_code == 400 and "act_then_timeout" in bad.json()["modes"]


def test_down_drops_the_connection(ministra_emulator):
    ministra_emulator.set_faults("down", count=1)
    with pytest.raises(httpx.TransportError):
        HTTP.get(ministra_emulator.api_url + "tariffs")


def test_state_log_and_reset(onestream_emulator):
    base = onestream_emulator.base_url
    headers = {"X-Api-Key": onestream_emulator.api_key, "X-Auth-User": onestream_emulator.auth_user}
    created = HTTP.post(
        f"{base}/ext/line/create", json={"package": 1, "rid": "r1"}, headers=headers
    ).json()
    state = HTTP.get(f"{base}/_emulator/state").json()
    assert state["credits"] == "9" and state["lines"][0]["line_id"] == created["line_id"]
    assert [r["path"] for r in HTTP.get(f"{base}/_emulator/requests").json()] == [
        "/ext/line/create"
    ]
    assert HTTP.post(f"{base}/_emulator/reset").json() == {"reset": True}
    assert HTTP.get(f"{base}/_emulator/state").json() == {"credits": "10", "lines": []}


def test_onestream_checks_both_tokens_and_answers_a_repeated_rid_once(onestream_emulator):
    base = onestream_emulator.base_url
    headers = {"X-Api-Key": onestream_emulator.api_key, "X-Auth-User": "not-the-user"}
    assert HTTP.get(f"{base}/ext/profile", headers=headers).status_code == 401
    headers["X-Auth-User"] = onestream_emulator.auth_user
    body = {"package": 2, "username": "u1", "password": "p1", "rid": "same"}
    first = HTTP.post(f"{base}/ext/line/create", json=body, headers=headers).json()
    again = HTTP.post(f"{base}/ext/line/create", json=body, headers=headers).json()
    assert again == first and first["transaction_amount"] == -3
    assert len(onestream_emulator.lines()) == 1 and onestream_emulator.credits == 7
    taken = HTTP.post(f"{base}/ext/line/create", json={**body, "rid": "other"}, headers=headers)
    assert taken.status_code == 422 and "username" in taken.json()["error"]
