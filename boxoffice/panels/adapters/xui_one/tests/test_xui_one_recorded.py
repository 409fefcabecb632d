"""Every answer a real XUI One panel gave (recorded/xui_one_admin_api.jsonl), replayed through
the client over httpx.MockTransport: a success decodes to the panel's own JSON, a taken username
is `UsernameTaken`, a refused key names the key, any other failure is a permanent refusal with
the panel's status as its code. Nothing a real panel said may read as transient or as success
when it was not."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import parse_qsl, urlencode

import httpx
import pytest

from boxoffice.panels.adapters.base import PanelError, UsernameTaken
from boxoffice.panels.adapters.xui_one.adapter import XuiOneAdapter
from boxoffice.panels.adapters.xui_one.client import XuiOneClient

RECORDED = Path(__file__).with_name("recorded") / "xui_one_admin_api.jsonl"
EXCHANGES = [json.loads(line) for line in RECORDED.read_text().splitlines() if line.strip()]


def _client(exchange: dict, sent: list[httpx.Request]) -> XuiOneClient:
    def answer(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(exchange["status"], content=exchange["body"].encode())

    config = XuiOneAdapter.config_for(
        api_url="http://panel.example:25500",
        timeout=2,
        settings={"api_key": "recorded-key", "access_code": "adminapi"},
    )
    return XuiOneClient(config, transport=httpx.MockTransport(answer))


def test_the_recording_is_all_there():
    assert len(EXCHANGES) == 187
    assert {e["action"] for e in EXCHANGES} >= {
        "user_info",
        "get_bouquets",
        "create_line",
        "get_line",
        "get_lines",
        "edit_line",
        "disable_line",
        "enable_line",
        "delete_line",
    }


@pytest.mark.parametrize("exchange", EXCHANGES, ids=lambda e: f"{e['seq']}-{e['action']}")
def test_it_reads_what_the_real_panel_answered(exchange):
    sent: list[httpx.Request] = []
    client = _client(exchange, sent)
    form = [tuple(pair) for pair in exchange["form"]]
    payload = json.loads(exchange["body"])
    status = payload.get("status") if isinstance(payload, dict) else None

    if status in (None, "STATUS_SUCCESS"):  # a list (get_bouquets) or a success envelope
        assert client.call(exchange["action"], form) == payload
    else:
        with pytest.raises(PanelError) as refused:
            client.call(exchange["action"], form)
        assert refused.value.transient is False
        if status == "STATUS_EXISTS_USERNAME":
            assert isinstance(refused.value, UsernameTaken)
        elif payload.get("error") == "Invalid API key.":
            assert refused.value.code == "invalid_api_key"
        else:
            assert refused.value.code == status
        assert "recorded-key" not in str(refused.value) + refused.value.raw

    # The request had the recorded shape: the action in the query, the same form fields posted.
    [request] = sent
    assert request.method == exchange["method"]
    assert request.url.params["action"] == exchange["action"]
    assert parse_qsl(request.content.decode(), keep_blank_values=True) == form


PROBES = (Path(__file__).with_name("recorded") / "xui_one_admin_api_probes.txt").read_text()


def _probe(heading: str) -> dict:
    """The answer recorded under `### <heading>` in the admin probes."""
    after = PROBES.split(f"### {heading}\n", 1)[1].split("\n", 1)[0]
    return json.loads(after.rsplit("  [HTTP", 1)[0])


def test_the_emulator_collides_usernames_case_insensitively_as_recorded(xui_emulator):
    """Probes 1, 2 and 2b sent to the emulator: `BOXTEST01` is taken once `boxtest01` exists,
    with the recorded status and echo (MySQL compares usernames case-insensitively)."""

    def create(form: list[tuple[str, str]]) -> dict:
        return httpx.post(
            xui_emulator.admin_url,
            params={"api_key": xui_emulator.api_key, "action": "create_line"},
            content=urlencode(form),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
            timeout=5,
        ).json()

    first = create(
        [
            ("username", "boxtest01"),
            ("password", "pw123456"),
            ("max_connections", "2"),
            ("exp_date", "2026-12-31"),
            ("bouquets_selected", "[1,2]"),
        ]
    )
    assert first["status"] == _probe("1 create line (date string, bouquets JSON string)")["status"]
    for heading, username in (
        ("2 duplicate username", "boxtest01"),
        ("2b duplicate username different case", "BOXTEST01"),
    ):
        again = create(
            [("username", username), ("password", "other"), ("bouquets_selected", "[1]")]
        )
        assert again == _probe(heading)
    assert [line["username"] for line in xui_emulator.lines()] == ["boxtest01"]
