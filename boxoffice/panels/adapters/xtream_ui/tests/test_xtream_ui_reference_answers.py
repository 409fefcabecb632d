"""The adapter on the literal answers of api.php as the reference quotes them from the panel's
source (§2; no recordings of a live Xtream UI exist), served by `httpx.MockTransport`: the
emulator is not involved, so these pin the adapter to the reference, not to our emulator."""

from __future__ import annotations

import json
from urllib.parse import parse_qs

import httpx
import pytest

from boxoffice.panels.adapters.base import (
    DeviceTaken,
    LineSpec,
    PermanentPanelError,
    TransientPanelError,
)
from boxoffice.panels.adapters.xtream_ui.adapter import XtreamUiAdapter


def adapter_answering(*bodies: str, status: int = 200) -> tuple[XtreamUiAdapter, list[dict]]:
    sent: list[dict] = []
    answers = list(bodies)

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append({k: v[0] for k, v in parse_qs(request.content.decode()).items()})
        return httpx.Response(status, text=answers.pop(0) if answers else "")

    config = XtreamUiAdapter.config_for(
        api_url="http://xc.test:25461", timeout=1, settings={"api_pass": "pw"}
    )
    return XtreamUiAdapter(config, transport=httpx.MockTransport(handler)), sent


SPEC = LineSpec(
    username="jane01",
    password="Secret123",
    max_connections=1,
    expires_at=None,
    mac="00:1A:79:00:00:09",
)


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ('{"result":false,"0":"IP FORBIDDEN"}', "ip_forbidden"),
        ('{"result":false,"0":"KEY WRONG"}', "key_wrong"),
    ],
)
def test_the_auth_refusals_are_permanent(body, code):
    adapter, sent = adapter_answering(body)
    with pytest.raises(PermanentPanelError) as caught:
        adapter.create_line(SPEC)
    assert caught.value.code == code and caught.value.transient is False
    assert sent[0]["api_pass"] == "pw"


def test_a_created_line_is_read_back_by_username_and_password():
    info = {"username": "jane01", "password": "Secret123", "exp_date": None, "bouquet": "[]"}
    adapter, sent = adapter_answering(
        '{"result":true,"created_id":123,"username":"jane01","password":"Secret123"}',
        json.dumps({"result": True, "user_info": info}),
    )
    line = adapter.create_line(SPEC)
    assert (sent[0]["action"], sent[0]["sub"]) == ("user", "create")
    assert (sent[1]["sub"], sent[1]["username"], sent[1]["password"]) == (
        "info",
        "jane01",
        "Secret123",
    )
    assert line.panel_line_id == "jane01" and line.expires_at is None


@pytest.mark.parametrize("error", ["PARAMETER ERROR", ""])
def test_a_refused_create_is_permanent(error):
    body = json.dumps({"result": False, "error": error} if error else {"result": False})
    adapter, _ = adapter_answering(body)
    with pytest.raises(PermanentPanelError):
        adapter.create_line(SPEC)


def test_an_existing_mac_is_device_taken():
    adapter, _ = adapter_answering('{"result":false,"error":"EXISTS"}')
    with pytest.raises(DeviceTaken):
        adapter.create_device(SPEC)


@pytest.mark.parametrize(
    ("status", "body"),
    [(200, ""), (200, "<html><body>login</body></html>"), (503, "<html>503</html>"), (404, "")],
)
def test_what_is_not_the_api_talking_is_transient(status, body):
    adapter, _ = adapter_answering(body, status=status)
    with pytest.raises(TransientPanelError):
        adapter.create_line(SPEC)
