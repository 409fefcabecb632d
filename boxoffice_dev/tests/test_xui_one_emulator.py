"""The XUI.one emulator over real HTTP: the panel's quirks (panels.md §1, §3, §7) and the faults."""

from __future__ import annotations

import gzip
import json
import threading
import time

import httpx
import pytest

# `xui_emulator` comes from the boxoffice_dev.fixtures_xui plugin (root conftest.py).
from boxoffice_dev.fixtures_xui import XUI_TEST_API_KEY
from boxoffice_dev.xui_one import XuiOneEmulator

OUTPUTS = {"access_output[]": ["1", "2"]}
# One client for the module: building an httpx.Client (its TLS context) costs more than a request.
HTTP = httpx.Client(timeout=2.0)


def admin(emulator, action, *, timeout=2.0, **params):
    """POST form-encoded to the Admin API, as a client following the reference would."""
    form = {"api_key": XUI_TEST_API_KEY, "action": action, **params}
    return HTTP.post(emulator.admin_url, data=form, timeout=timeout)


def create(emulator, username="alice01", password="secret01", **params):  # noqa: S107
    fields = {"bouquets_selected": "[1,2]", "max_connections": "2", **OUTPUTS, **params}
    return admin(emulator, "create_line", username=username, password=password, **fields).json()


def test_it_creates_a_line_and_answers_with_the_full_row_as_db_strings(xui_emulator):
    body = create(xui_emulator, exp_date="@1893456000", admin_notes="  order 42\\ ")

    assert body["status"] == "STATUS_SUCCESS"
    row = body["data"]
    assert row["id"] == "1"
    assert row["username"] == "alice01"
    assert row["exp_date"] == "1893456000"
    assert row["bouquet"] == "[1,2]"
    assert row["allowed_outputs"] == "[1,2]"
    assert row["max_connections"] == "2"
    assert row["enabled"] == row["admin_enabled"] == "1"
    assert row["is_trial"] == "0"
    assert row["member_id"] == "1"
    assert row["admin_notes"] == "order 42"  # trimmed and stripslashes'd like every value
    assert xui_emulator.lines()[0] == row


def test_it_accepts_get_parameters_on_index_php(xui_emulator):
    url = f"{xui_emulator.admin_url}index.php"
    response = httpx.get(url, params={"api_key": XUI_TEST_API_KEY, "action": "get_bouquets"})

    assert response.status_code == 200
    assert [b["bouquet_name"] for b in response.json()][:2] == ["Entertainment", "Sports"]


def test_it_generates_random_credentials_when_they_are_missing(xui_emulator):
    row = create(xui_emulator, username="", password=None)["data"]

    assert len(row["username"]) == 10 and row["username"].isalnum()
    assert len(row["password"]) == 10 and row["password"] != row["username"]


def test_it_resets_every_omitted_field_on_edit(xui_emulator):
    created = create(xui_emulator, exp_date="2030-01-01", is_restreamer="1", max_connections="3")
    line_id = created["data"]["id"]
    admin(xui_emulator, "ban_line", id=line_id)

    edited = admin(xui_emulator, "edit_line", id=line_id, bouquets_selected="[3]").json()["data"]

    assert edited["id"] == line_id
    assert edited["username"] != "alice01" and len(edited["username"]) == 10
    assert edited["password"] != "secret01"
    assert edited["exp_date"] is None  # absent exp_date = unlimited, also on edit
    assert edited["max_connections"] == "1"
    assert edited["admin_enabled"] == "1"  # the ban is silently lifted
    assert edited["is_restreamer"] == "0"
    assert edited["allowed_outputs"] == "[]"
    assert edited["bouquet"] == "[3]"
    assert edited["created_at"] == created["data"]["created_at"]


def test_it_keeps_fields_a_full_edit_sends_back(xui_emulator):
    line_id = create(xui_emulator)["data"]["id"]

    edited = admin(
        xui_emulator,
        "edit_line",
        id=line_id,
        username="alice01",
        password="newpass01",
        max_connections="2",
        exp_date="2031-06-30 23:59:59",
        bouquets_selected="[2,1]",
        **OUTPUTS,
    ).json()["data"]

    assert (edited["username"], edited["password"]) == ("alice01", "newpass01")
    assert edited["exp_date"] == "1940630399"
    assert edited["bouquet"] == "[1,2]"  # re-ordered by the panel's bouquet order
    assert edited["allowed_outputs"] == "[1,2]"


def test_it_sets_a_presence_flag_whatever_its_value(xui_emulator):
    row = create(xui_emulator, is_trial="0", bypass_ua="")["data"]

    assert row["is_trial"] == "1"
    assert row["bypass_ua"] == "1"
    assert row["is_restreamer"] == "0"


def test_it_dies_on_the_array_form_of_bouquets_selected(xui_emulator):
    response = admin(
        xui_emulator,
        "create_line",
        username="alice01",
        password="secret01",
        **{"bouquets_selected[]": ["1", "2"]},
    )

    assert response.status_code == 500
    assert response.text == ""
    assert xui_emulator.lines() == []


def test_it_answers_list_actions_with_bare_arrays(xui_emulator):
    bouquets = admin(xui_emulator, "get_bouquets").json()
    packages = admin(xui_emulator, "get_packages").json()

    assert isinstance(bouquets, list)
    assert [(b["id"], b["bouquet_name"]) for b in bouquets] == [
        ("1", "Entertainment"),
        ("2", "Sports"),
        ("3", "Movies"),
        ("4", "Kids"),
        ("5", "News"),
    ]
    # The reseller packages (the recorded one and a longer one), bare too on the Admin API.
    assert isinstance(packages, list)
    assert [(p["id"], p["package_name"]) for p in packages] == [
        ("1", "1 Month"),
        ("2", "3 Months, 2 screens"),
    ]


def test_it_pages_get_lines_fifty_at_a_time(xui_emulator):
    for number in range(55):
        create(xui_emulator, username=f"user{number:04d}")

    first = admin(xui_emulator, "get_lines").json()
    second = admin(xui_emulator, "get_lines", start="50").json()

    assert first["status"] == "STATUS_SUCCESS"
    assert len(first["data"]) == 50
    assert first["recordsTotal"] == "55"
    assert first["recordsFiltered"] == 50  # capped at the limit
    assert [row["username"] for row in second["data"]] == [f"user{n:04d}" for n in range(50, 55)]


def test_it_searches_get_lines_by_substring_over_several_columns(xui_emulator):
    create(xui_emulator, username="alice01")
    create(xui_emulator, username="malice02", password="other002")
    create(xui_emulator, username="bob03", password="pw-alice")
    create(xui_emulator, username="carol04", admin_notes="friend of ALICE")
    create(xui_emulator, username="dave05", password="dave0005")

    found = admin(xui_emulator, "get_lines", **{"search[value]": "alice"}).json()

    assert sorted(row["username"] for row in found["data"]) == [
        "alice01",
        "bob03",
        "carol04",
        "malice02",
    ]
    assert found["recordsTotal"] == "4"
    assert found["recordsFiltered"] == "4"


def test_it_refuses_a_taken_username_and_echoes_the_request(xui_emulator):
    create(xui_emulator)

    body = create(xui_emulator, password="another1")

    assert body["status"] == "STATUS_EXISTS_USERNAME"
    assert body["data"]["username"] == "alice01"
    assert body["data"]["password"] == "another1"
    assert body["data"]["access_output"] == ["1", "2"]
    assert "api_key" not in body["data"]
    assert len(xui_emulator.lines()) == 1


@pytest.mark.parametrize(
    ("exp_date", "expected"),
    [
        ("@1735689600", "1735689600"),
        ("2025-01-01 00:00:00", "1735689600"),
        ("2025-01-01", "1735689600"),
    ],
)
def test_it_parses_expiry_dates_like_php_datetime(xui_emulator, exp_date, expected):
    assert create(xui_emulator, exp_date=exp_date)["data"]["exp_date"] == expected


def test_it_rejects_a_bare_unix_timestamp(xui_emulator):
    body = create(xui_emulator, exp_date="1735689600")

    assert body == {
        "status": "STATUS_INVALID_DATE",
        "data": {
            "username": "alice01",
            "password": "secret01",
            "bouquets_selected": "[1,2]",
            "max_connections": "2",
            "access_output": ["1", "2"],
            "exp_date": "1735689600",
        },
    }


def test_it_makes_a_line_unlimited_with_no_expire(xui_emulator):
    assert create(xui_emulator, exp_date="2030-01-01", no_expire="1")["data"]["exp_date"] is None


def test_it_answers_bad_keys_unknown_actions_and_ids_with_http_200(xui_emulator):
    bad_key = httpx.post(xui_emulator.admin_url, data={"api_key": "nope", "action": "user_info"})
    unknown = admin(xui_emulator, "make_coffee")
    missing = admin(xui_emulator, "get_line", id="999")

    assert (bad_key.status_code, bad_key.json()) == (
        200,
        {"status": "STATUS_FAILURE", "error": "Invalid API key."},
    )
    assert unknown.json() == {"status": "STATUS_FAILURE", "error": "Invalid action."}
    assert (missing.status_code, missing.json()) == (200, {"status": "STATUS_FAILURE"})
    assert admin(xui_emulator, "edit_line", id="999").json() == {"status": "STATUS_FAILURE"}


def test_it_switches_lines_off_and_on_and_deletes_them(xui_emulator):
    line_id = create(xui_emulator)["data"]["id"]

    assert admin(xui_emulator, "disable_line", id=line_id).json() == {"status": "STATUS_SUCCESS"}
    admin(xui_emulator, "ban_line", id=line_id)
    row = admin(xui_emulator, "get_line", id=line_id).json()["data"]
    assert (row["enabled"], row["admin_enabled"]) == ("0", "0")

    admin(xui_emulator, "enable_line", id=line_id)
    admin(xui_emulator, "unban_line", id=line_id)
    row = admin(xui_emulator, "get_line", id=line_id).json()["data"]
    assert (row["enabled"], row["admin_enabled"]) == ("1", "1")

    assert admin(xui_emulator, "delete_line", id=line_id).json() == {"status": "STATUS_SUCCESS"}
    assert admin(xui_emulator, "delete_line", id=line_id).json() == {"status": "STATUS_FAILURE"}
    assert admin(xui_emulator, "reload_cache").json() == {"status": "STATUS_SUCCESS"}


def test_it_logs_admin_requests_without_the_api_key(xui_emulator):
    create(xui_emulator)

    action, params = xui_emulator.request_log[-1]

    assert action == "create_line"
    assert "api_key" not in params
    assert params["access_output"] == ["1", "2"]


def test_it_drops_the_connection_when_down(xui_emulator):
    xui_emulator.set_faults(mode="down")

    with pytest.raises(httpx.TransportError):
        admin(xui_emulator, "user_info")


@pytest.mark.parametrize(("mode", "status"), [("503", 503), ("html", 403)])
def test_it_answers_with_an_nginx_html_page(xui_emulator, mode, status):
    xui_emulator.set_faults(mode=mode)

    response = admin(xui_emulator, "user_info")

    assert response.status_code == status
    assert response.headers["content-type"].startswith("text/html")
    assert "<center>nginx</center>" in response.text


def test_it_answers_an_empty_200_like_a_permission_failure(xui_emulator):
    xui_emulator.set_faults(mode="empty")

    response = admin(xui_emulator, "create_line", username="x", bouquets_selected="[]")

    assert (response.status_code, response.content) == (200, b"")
    assert xui_emulator.lines() == []


def test_it_answers_truncated_json_when_garbage(xui_emulator):
    xui_emulator.set_faults(mode="garbage")

    response = admin(xui_emulator, "user_info")

    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    with pytest.raises(json.JSONDecodeError):
        response.json()


def test_it_acts_then_times_out(xui_emulator):
    xui_emulator.set_faults(mode="act_then_timeout", latency_ms=400)

    with pytest.raises(httpx.ReadTimeout):
        create_response = admin(
            xui_emulator, "create_line", timeout=0.15, username="alice01", bouquets_selected="[1]"
        )
        create_response.json()

    assert [row["username"] for row in xui_emulator.lines()] == ["alice01"]


def test_it_delays_admin_requests_and_recovers_after_count(xui_emulator):
    xui_emulator.set_faults(mode="ok", latency_ms=200, count=1)

    started = time.monotonic()
    admin(xui_emulator, "user_info")
    slow = time.monotonic() - started
    started = time.monotonic()
    admin(xui_emulator, "user_info")
    fast = time.monotonic() - started

    assert slow >= 0.2 > fast
    assert xui_emulator.faults == {"mode": "ok", "latency_ms": 0, "count": None, "rate": 1.0}


def test_it_reports_the_most_api_requests_it_answered_at_once(xui_emulator):
    xui_emulator.set_faults(mode="ok", latency_ms=600)
    base = xui_emulator.base_url
    # Three requests while each waits out its latency; each client its own connection.
    threads = [
        threading.Thread(
            target=lambda: httpx.post(
                xui_emulator.admin_url,
                data={"api_key": XUI_TEST_API_KEY, "action": "user_info"},
                timeout=5,
            )
        )
        for _ in range(3)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert httpx.get(f"{base}/_emulator/in_flight").json() == {"in_flight": 0, "max_in_flight": 3}
    assert httpx.post(f"{base}/_emulator/in_flight").json() == {"in_flight": 0, "max_in_flight": 0}
    admin(xui_emulator, "user_info")
    assert xui_emulator.in_flight == {"in_flight": 0, "max_in_flight": 1}


def test_it_takes_faults_over_http_and_never_faults_control_endpoints(xui_emulator):
    base = xui_emulator.base_url
    answer = httpx.post(f"{base}/_emulator/faults", json={"mode": "503", "count": 2})

    assert answer.json() == {"mode": "503", "latency_ms": 0, "count": 2, "rate": 1.0}
    assert httpx.get(f"{base}/_emulator/lines").json() == []
    assert admin(xui_emulator, "user_info").status_code == 503
    assert admin(xui_emulator, "user_info").status_code == 503
    assert admin(xui_emulator, "user_info").status_code == 200
    assert httpx.post(f"{base}/_emulator/faults", json={"mode": "boom"}).status_code == 400


def test_it_resets_lines_faults_and_log(xui_emulator):
    create(xui_emulator)
    xui_emulator.set_faults(mode="html")

    httpx.post(f"{xui_emulator.base_url}/_emulator/reset")

    assert xui_emulator.lines() == []
    assert xui_emulator.request_log == []
    assert xui_emulator.faults["mode"] == "ok"


def test_it_authenticates_an_active_line_on_player_api(xui_emulator):
    create(xui_emulator, exp_date="@1893456000")

    response = httpx.get(
        f"{xui_emulator.base_url}/player_api.php",
        params={"username": "alice01", "password": "secret01"},
    )

    assert response.status_code == 200
    info = response.json()
    assert info["user_info"]["auth"] == 1
    assert info["user_info"]["status"] == "Active"
    assert info["user_info"]["exp_date"] == "1893456000"
    assert info["user_info"]["max_connections"] == "2"
    assert info["user_info"]["allowed_output_formats"] == ["m3u8", "ts"]
    assert info["server_info"]["xcms"] is True
    assert info["server_info"]["port"] == str(xui_emulator.port)


@pytest.mark.parametrize("action", ["disable_line", "ban_line", "expire", "wrong_password"])
def test_it_answers_player_api_refusals_with_a_fake_nginx_404(xui_emulator, action):
    line_id = create(xui_emulator)["data"]["id"]
    password = "secret01"
    if action == "expire":
        admin(
            xui_emulator,
            "edit_line",
            id=line_id,
            username="alice01",
            password=password,
            exp_date="@1000000000",
            bouquets_selected="[1]",
        )
    elif action == "wrong_password":
        password = "guess"
    else:
        admin(xui_emulator, action, id=line_id)

    response = httpx.get(
        f"{xui_emulator.base_url}/player_api.php",
        params={"username": "alice01", "password": password},
    )

    assert response.status_code == 404
    assert "<title>404 Not Found</title>" in response.text


def test_it_serves_an_m3u_playlist_to_an_active_line(xui_emulator):
    create(xui_emulator)
    base = xui_emulator.base_url

    legacy = httpx.get(
        f"{base}/get.php",
        params={"username": "alice01", "password": "secret01", "type": "m3u_plus", "output": "ts"},
    )
    native = httpx.get(f"{base}/playlist/alice01/secret01/m3u_plus")
    refused = httpx.get(f"{base}/playlist/alice01/wrong/m3u_plus")

    assert legacy.status_code == 200
    assert legacy.text.startswith("#EXTM3U\n#EXTINF:-1 tvg-id=")
    assert f"{base}/live/alice01/secret01/1.ts" in legacy.text
    assert native.text == legacy.text
    assert refused.status_code == 404
    assert httpx.get(f"{base}/live/alice01/secret01/1.ts").content[:1] == b"\x47"


def test_it_serves_xmltv_and_the_mag_portal(xui_emulator):
    create(xui_emulator)
    base = xui_emulator.base_url

    legacy = httpx.get(f"{base}/xmltv.php", params={"username": "alice01", "password": "secret01"})
    packed = httpx.get(f"{base}/epg/alice01/secret01/gz")
    portal = httpx.get(f"{base}/c/")

    assert legacy.text.startswith('<?xml version="1.0"')
    assert "<programme " in legacy.text
    assert gzip.decompress(packed.content).decode().startswith("<?xml")
    assert portal.status_code == 200 and "portal" in portal.text.lower()


def test_it_keeps_lines_in_its_state_file_across_restarts(tmp_path):
    state = tmp_path / "panel.json"
    first = XuiOneEmulator(api_key=XUI_TEST_API_KEY, state_path=state).start()
    try:
        create(first)
    finally:
        first.stop()

    second = XuiOneEmulator(api_key=XUI_TEST_API_KEY, state_path=state).start()
    try:
        assert [row["username"] for row in second.lines()] == ["alice01"]
        assert create(second, username="bob00002")["data"]["id"] == "2"
    finally:
        second.stop()


def test_it_simulates_a_customer_watching_through_its_control_endpoint(xui_emulator):
    create(xui_emulator, username="viewer01", password="secret01")  # noqa: S106
    listed = admin(xui_emulator, "get_lines", **{"search[value]": "viewer01"}).json()["data"]
    assert listed[0]["active_connections"] == 0  # unset: the number 0, as recorded
    assert listed[0]["last_active"] is None

    answer = HTTP.post(
        f"{xui_emulator.base_url}/_emulator/activity",
        json={"username": "viewer01", "active_connections": 2, "last_active": 1_800_000_000},
    )

    assert answer.status_code == 200
    listed = admin(xui_emulator, "get_lines", **{"search[value]": "viewer01"}).json()["data"]
    assert (listed[0]["active_connections"], listed[0]["last_active"]) == ("2", "1800000000")
    missing = HTTP.post(f"{xui_emulator.base_url}/_emulator/activity", json={"username": "nobody"})
    assert missing.status_code == 404
    bad = HTTP.post(f"{xui_emulator.base_url}/_emulator/activity", content=b"[1]")
    assert bad.status_code == 400


# --- get_lines as recorded, and seeding ---------------------------------------------------------

_RECORDED = (
    __import__("pathlib").Path(__file__).parents[2]
    / "boxoffice/panels/adapters/xui_one/tests/recorded/xui_one_admin_api.jsonl"
)


def _recorded_get_lines() -> list[dict]:
    exchanges = (json.loads(text) for text in _RECORDED.read_text().splitlines())
    return [json.loads(e["body"]) for e in exchanges if e["action"] == "get_lines"]


def test_its_get_lines_rows_have_the_recorded_columns_and_types(xui_emulator):
    recorded = next(b for b in _recorded_get_lines() if b["data"])
    recorded_row = recorded["data"][0]
    create(xui_emulator, username="BoxAlpha7", password="Pw7xK2mQ9z", exp_date="@1798729610")

    body = admin(xui_emulator, "get_lines", start="0", limit="50").json()

    row = body["data"][0]
    assert set(row) == set(recorded_row)
    both = [k for k in row if row[k] is not None and recorded_row[k] is not None]
    assert {k: type(row[k]) for k in both} == {k: type(recorded_row[k]) for k in both}
    assert (body["recordsTotal"], body["recordsFiltered"]) == ("1", "1")


def test_an_empty_get_lines_answers_numeric_zero_counts_as_recorded(xui_emulator):
    recorded = next(b for b in _recorded_get_lines() if not b["data"])
    body = admin(xui_emulator, "get_lines", start="0", limit="50").json()
    assert (
        body
        == recorded
        == {"status": "STATUS_SUCCESS", "data": [], "recordsTotal": 0, "recordsFiltered": 0}
    )


def test_it_seeds_lines_in_bulk_over_its_control_endpoint(xui_emulator):
    answer = HTTP.post(
        f"{xui_emulator.base_url}/_emulator/seed",
        json={
            "count": 120,
            "prefix": "seed",
            "exp_date": 1830000000,
            "bouquets": [1, 3],
            "admin_notes": "c{n}@example.net",
            "trial_every": 10,
        },
    ).json()
    assert answer == {"seeded": 120, "first_id": 1}

    page = admin(xui_emulator, "get_lines", start="100", limit="50").json()
    assert page["recordsTotal"] == "120"
    assert [r["username"] for r in page["data"]] == [f"seed{n:06d}" for n in range(100, 120)]
    full = admin(xui_emulator, "get_line", id="11").json()["data"]
    assert (full["bouquet"], full["is_trial"], full["admin_notes"]) == (
        "[1,3]",
        "1",
        "c10@example.net",
    )
    # Seeded lines are ordinary lines: the usual rules apply to them.
    assert create(xui_emulator, username="seed000001")["status"] == "STATUS_EXISTS_USERNAME"
    bad = HTTP.post(f"{xui_emulator.base_url}/_emulator/seed", json={"count": 1, "prefix": "seed"})
    assert bad.status_code == 400 and "already has a line named seed000000" in bad.json()["error"]


def test_the_reseller_api_answers_only_the_resellers_key(xui_emulator):
    def reseller(key: str, action: str) -> dict:
        return httpx.post(
            xui_emulator.reseller_url, params={"api_key": key, "action": action}, timeout=5
        ).json()

    assert reseller(xui_emulator.api_key, "user_info") == {
        "status": "STATUS_FAILURE",
        "error": "Invalid API key.",
    }
    info = reseller(xui_emulator.reseller_api_key, "user_info")
    assert info["data"]["username"] == "reseller1" and info["data"]["credits"] == "100"
    assert admin(xui_emulator, "user_info").json()["data"]["username"] == "admin"


def test_the_credits_control_endpoint_reads_and_sets_the_balance(xui_emulator):
    url = f"{xui_emulator.base_url}/_emulator/credits"
    assert httpx.get(url, timeout=5).json() == {"credits": 100}
    assert httpx.post(url, json={"credits": 7}, timeout=5).json() == {"credits": 7}
    assert xui_emulator.credits == 7
    assert httpx.post(url, json={"credits": "lots"}, timeout=5).status_code == 400
    xui_emulator.reset()
    assert xui_emulator.credits == 100
