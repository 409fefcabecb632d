"""The recorded Reseller API probes (recorded/xui_one_reseller_api_probes.txt, a real XC_VM panel)
sent again to the emulator's reseller mode: every answer has the recorded status string, the
recorded keys in the recorded order, and the values that matter to a sale (package, credits
before and after, expiry moved by the package's duration, trial length, the echo of a refusal).

The probe file holds the answers (some cut after ~700 characters) and names each request in its
heading; the requests below are those headings spelled out, in the recorded order."""

from __future__ import annotations

import json
import re
from pathlib import Path
from urllib.parse import urlencode

import httpx
import pytest

from boxoffice.panels.adapters.xui_one_reseller.tests.calendar_months import plus_months_unix

RECORDED = (
    Path(__file__).resolve().parents[2]
    / "xui_one"
    / "tests"
    / "recorded"
    / "xui_one_reseller_api_probes.txt"
)

_SECTION = re.compile(r"^### (R\d+) (.*)$", re.MULTILINE)
_STATUS = re.compile(r'"status":"(STATUS_[A-Z_]+)"')
_KEY = re.compile(r"\"([a-z0-9_]+)\":")


def recorded_probes() -> dict[str, dict]:
    text = RECORDED.read_text()
    marks = list(_SECTION.finditer(text))
    probes = {}
    for mark, following in zip(marks, [*marks[1:], None], strict=True):
        body = text[mark.end() : following.start() if following else len(text)].strip()
        body = re.sub(r"\s+\[HTTP \d+, \d+ bytes\]$", "", body)
        probes[mark.group(1)] = {"title": mark.group(2), "body": body}
    return probes


def recorded_data_keys(body: str) -> list[str]:
    """The keys of the answer's `data` row, as far as the recording goes."""
    start = body.index('"data":') + len('"data":')
    inner = body[start:].lstrip("[{")
    end = inner.find("}")
    return _KEY.findall(inner if end < 0 else inner[:end])


def recorded_value(body: str, key: str) -> str | None:
    found = re.search(rf'"{key}":("(?:[^"\\]|\\.)*"|null|-?\d+)', body)
    if not found:
        return None
    raw = found.group(1)
    return None if raw == "null" else json.loads(raw) if raw.startswith('"') else raw


PROBES = recorded_probes()

# The requests, in the recorded order (R3 renews the line R1 made).
REQUESTS = [
    ("R0", "packages", []),
    (
        "R1",
        "create_line",
        [("username", "resline01"), ("password", "pw123456"), ("package", "1")],
    ),
    ("R2", "user_info", []),
    ("R3", "edit_line", [("id", "<R1>"), ("package", "1")]),
    (
        "R4",
        "create_line",
        [("username", "restrial01"), ("password", "pw123456"), ("package", "1"), ("trial", "1")],
    ),
    ("R5", "create_line", [("username", "resline02"), ("password", "pw123456")]),
    (
        "R6",
        "create_line",
        [
            ("username", "resline03"),
            ("password", "pw123456"),
            ("package", "1"),
            ("bouquets_selected", "[1,2]"),
        ],
    ),
]


def test_the_recording_is_all_there():
    assert list(PROBES) == [label for label, _, _ in REQUESTS]
    assert all(_STATUS.search(p["body"]) for p in PROBES.values())


def php_plus(amount: str, base: int) -> int:
    number, unit = amount.split()
    assert unit == "months"
    return plus_months_unix(base, int(number))


@pytest.fixture
def replayed(xui_emulator) -> dict[str, dict]:
    """Every recorded request sent to the emulator's Reseller API, in order: label -> answer."""
    answers: dict[str, dict] = {}
    for label, action, form in REQUESTS:
        form = [(k, answers["R1"]["data"]["id"] if v == "<R1>" else v) for k, v in form]
        response = httpx.post(
            xui_emulator.reseller_url,
            params={"api_key": xui_emulator.reseller_api_key, "action": action},
            content=urlencode(form),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
            timeout=5,
        )
        assert response.status_code == 200  # every recorded answer was HTTP 200
        answers[label] = response.json()
    return answers


def test_every_answer_has_the_recorded_status_and_keys(replayed):
    for label, probe in PROBES.items():
        recorded = probe["body"]
        answer = replayed[label]
        assert answer["status"] == _STATUS.search(recorded).group(1), label
        keys = recorded_data_keys(recorded)
        data = answer["data"][0] if isinstance(answer["data"], list) else answer["data"]
        # The recording may stop mid-row: the emulator's keys start with the recorded ones.
        assert list(data)[: len(keys)] == keys, label


def test_the_package_list_is_the_recorded_one(replayed):
    recorded = json.loads(PROBES["R0"]["body"])
    assert replayed["R0"]["data"][0] == recorded["data"][0]


def test_a_sale_costs_the_package_credits_and_lasts_its_duration(replayed):
    r1 = PROBES["R1"]["body"]
    line = replayed["R1"]["data"]
    for key in ("username", "password", "bouquet", "allowed_outputs", "max_connections"):
        assert line[key] == recorded_value(r1, key), key
    assert line["package_id"] == recorded_value(r1, "package_id") == "1"
    assert int(line["exp_date"]) == php_plus("1 months", int(line["created_at"]))
    # Recorded: created 1796136719, expires 1798815119: one calendar month.
    assert int(recorded_value(r1, "exp_date")) == php_plus(
        "1 months", int(recorded_value(r1, "created_at"))
    )
    # 100 credits before (the recording's starting balance), 90 after.
    assert replayed["R2"]["data"]["credits"] == recorded_value(PROBES["R2"]["body"], "credits")


def test_a_renewal_adds_the_duration_to_the_current_expiry(replayed):
    first = int(replayed["R1"]["data"]["exp_date"])
    assert int(replayed["R3"]["data"]["exp_date"]) == php_plus("1 months", first)
    recorded_first = int(recorded_value(PROBES["R1"]["body"], "exp_date"))
    recorded_renewed = int(recorded_value(PROBES["R3"]["body"], "exp_date"))
    assert recorded_renewed == php_plus("1 months", recorded_first)


def test_a_trial_lasts_the_trial_duration(replayed):
    trial = replayed["R4"]["data"]
    assert trial["is_trial"] == recorded_value(PROBES["R4"]["body"], "is_trial") == "1"
    assert int(trial["exp_date"]) - int(trial["created_at"]) == 24 * 3600
    recorded = PROBES["R4"]["body"]
    assert int(recorded_value(recorded, "exp_date")) - int(
        recorded_value(recorded, "created_at")
    ) == (24 * 3600)


def test_a_sale_without_a_package_is_refused_with_the_recorded_echo(replayed):
    assert replayed["R5"] == json.loads(PROBES["R5"]["body"])


def test_a_bouquets_json_string_is_ignored_the_package_decides(replayed):
    assert replayed["R6"]["data"]["bouquet"] == recorded_value(PROBES["R6"]["body"], "bouquet")
