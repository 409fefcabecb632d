"""The answers of a real Stalker portal 4.9.35 (recorded/ministra_rest_v1_probes.txt), twice:

* replayed against the emulator: the recorded requests (rebuilt from each probe's label, in the
  recorded order, on a fresh portal) get the same HTTP status, the same status string and
  error text, and the same results, field for field;
* read by the adapter's client: an OK is its results, each recorded error the exception the
  operation layer acts on, the plain-text "Unauthorized request." a permanent refusal.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx
import pytest

from boxoffice.panels.adapters.base import (
    DeviceTaken,
    LineNotFound,
    PermanentPanelError,
    TransientPanelError,
    UsernameTaken,
)
from boxoffice.panels.adapters.ministra.client import decode

RECORDED = Path(__file__).with_name("recorded") / "ministra_rest_v1_probes.txt"
_SECTION = re.compile(r"^### (S\d+b?) (.*)$", re.MULTILINE)
_STATUS = re.compile(r"\s+\[HTTP (\d{3})\]\s*$")


def _probes() -> dict[str, dict]:
    text = RECORDED.read_text()
    marks = list(_SECTION.finditer(text))
    probes = {}
    for mark, following in zip(marks, [*marks[1:], None], strict=True):
        body = text[mark.end() : following.start() if following else len(text)].strip()
        status = _STATUS.search(body)
        probes[mark.group(1)] = {
            "label": mark.group(2),
            "status": int(status.group(1)) if status else None,  # None: the recorder cut it
            "body": body[: status.start()] if status else body,
        }
    return probes


PROBES = _probes()
MAC = "00:1A:79:AA:BB:CC"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}

# The requests, rebuilt from the labels and from what the answers show (S7b: box0001 is "Test
# User", account ORD-1001 on premium; S8: box0002 got the MAC, sent in lower case without colons,
# on the default tariff; S17 after S16: the MAC's account was deleted; S20: the JSON PUT of S18
# changed nothing, the status is still S12's 0).
REQUESTS: list[tuple[str, str, str, dict | str | None]] = [
    ("S1", "GET", "tariffs", None),
    (
        "S2",
        "POST",
        "accounts",
        {
            "login": "box0001",
            "password": "Secret123",
            "full_name": "Test User",
            "account_number": "ORD-1001",
            "tariff_plan": "premium",
            "end_date": "2027-01-31 23:59:59",
        },
    ),
    ("S3", "POST", "accounts", {"login": "box0001", "password": "Other456"}),
    (
        "S4",
        "POST",
        "accounts",
        {"login": "box0002", "password": "Secret123", "stb_mac": "001a79aabbcc"},
    ),
    ("S5", "POST", "accounts", {"login": "box0003", "password": "Secret123", "stb_mac": MAC}),
    (
        "S6",
        "POST",
        "accounts",
        {"login": "box0004", "password": "Secret123", "stb_mac": "00:1A:79:ZZ"},
    ),
    ("S7", "GET", "accounts/box0001", None),
    ("S7b", "GET", "users/box0001", None),
    ("S8", "GET", f"accounts/{MAC}", None),
    ("S9", "GET", "accounts/ORD-1001", None),
    ("S10", "PUT", "accounts/ORD-1001", {"end_date": "2027-06-30 23:59:59"}),
    ("S11", "GET", "accounts/ORD-1001", None),
    ("S12", "PUT", "accounts/ORD-1001", {"status": "0"}),
    ("S13", "GET", f"stb/{MAC}", None),
    ("S14", "POST", f"send_event/{MAC}", {"event": "reboot"}),
    ("S15", "POST", f"stb_msg/{MAC}", {"msg": "Hello"}),
    ("S16", "DELETE", f"accounts/{MAC}", None),
    ("S17", "GET", f"accounts/{MAC}", None),
    ("S18", "PUT", "accounts/ORD-1001", json.dumps({"status": 1})),
    ("S19", "PUT", "accounts/ORD-1001", {"end_date": "31/12/2027"}),
    ("S20", "GET", "accounts/ORD-1001", None),
]


def test_the_recording_is_all_there():
    assert set(PROBES) == {step for step, *_ in REQUESTS}
    assert PROBES["S12"]["status"] is None  # cut off inside the `output` field
    assert all(p["status"] == 200 for name, p in PROBES.items() if name != "S12")


def test_the_emulator_answers_every_recorded_request_as_the_real_portal_did(ministra_emulator):
    http = httpx.Client(
        base_url=ministra_emulator.api_url,
        auth=(ministra_emulator.api_login, ministra_emulator.api_password),
        timeout=5,
    )
    for step, method, path, data in REQUESTS:
        recorded = PROBES[step]
        if isinstance(data, dict):
            answer = http.request(method, path, data=data)
        elif isinstance(data, str):  # S18: a JSON body
            answer = http.request(
                method, path, content=data, headers={"Content-Type": "application/json"}
            )
        else:
            answer = http.request(method, path)
        assert answer.status_code == 200, step
        if step == "S13":
            assert answer.text == recorded["body"], step
            continue
        if step == "S12":
            # Same envelope and the same PHP notices, as far as the recording goes.
            assert answer.text.endswith('"}'), step
            assert recorded["body"].startswith(answer.text[:-2]), step
            assert answer.json()["status"] == "OK" and answer.json()["results"] is True
            continue
        assert answer.json() == json.loads(recorded["body"]), step

    # What the portal's database then held (seen there, not in any answer): S19's malformed
    # date left no expiry at all, and S18's JSON body changed nothing.
    [account] = ministra_emulator.accounts()
    assert account["end_date"] == "0000-00-00 00:00:00"
    assert account["status"] == 0


def _ok_results(step: str):
    return json.loads(PROBES[step]["body"])["results"]


@pytest.mark.parametrize(
    ("step", "expected"),
    [
        ("S3", (UsernameTaken, "login_in_use")),
        ("S5", (DeviceTaken, "mac_in_use")),
        ("S6", (PermanentPanelError, "invalid_mac")),
        ("S7", (LineNotFound, "account_not_found")),
        ("S17", (LineNotFound, "account_not_found")),
        ("S18", (PermanentPanelError, "empty_data")),
        ("S13", (PermanentPanelError, "unauthorized_resource")),
    ],
)
def test_the_client_reads_each_recorded_refusal_as_what_it_means(step, expected):
    cls, code = expected
    with pytest.raises(cls) as refused:
        decode("probe", PROBES[step]["status"], PROBES[step]["body"])
    assert refused.value.code == code
    assert refused.value.transient is False


@pytest.mark.parametrize("step", ["S1", "S2", "S4", "S7b", "S8", "S9", "S10", "S14", "S16", "S19"])
def test_the_client_reads_each_recorded_success_as_its_results(step):
    assert decode("probe", 200, PROBES[step]["body"]) == _ok_results(step)


def test_the_client_reads_past_php_notices_in_the_output_field(caplog, ministra_emulator):
    # S12's recorded body is cut off; the emulator's is the whole answer with the same notices.
    http = httpx.Client(
        base_url=ministra_emulator.api_url,
        auth=(ministra_emulator.api_login, ministra_emulator.api_password),
        timeout=5,
    )
    http.post("accounts", data={"login": "box0001", "password": "x", "account_number": "A1"})
    answer = http.put("accounts/A1", data={"status": "0"})
    with caplog.at_level("WARNING"):
        assert decode("PUT accounts", 200, answer.text) is True
    assert "Deprecated" in caplog.text and "<b>" not in caplog.text


def test_the_client_reads_past_php_notices_printed_before_the_json(caplog):
    body = "<br />\n<b>Deprecated</b>: something<br />\n" + PROBES["S2"]["body"]
    with caplog.at_level("WARNING"):
        assert decode("POST accounts", 200, body) is True
    assert "printed notices before" in caplog.text


def test_the_client_keeps_html_and_truncated_answers_transient():
    for body in ("<html><body>404</body></html>", PROBES["S12"]["body"]):
        with pytest.raises(TransientPanelError) as caught:
            decode("GET accounts", 200, body)
        assert caught.value.code == "bad_response"
