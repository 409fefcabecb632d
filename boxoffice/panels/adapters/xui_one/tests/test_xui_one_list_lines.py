"""`list_lines` and `line_count` against a panel answering in the recorded shapes: get_lines
rows as recorded (no bouquets in them, counts as strings, 0 when empty), get_line rows, and
get_mags for the device lines get_lines leaves out."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import parse_qsl

import httpx
import pytest

from boxoffice.panels.adapters.xui_one.adapter import XuiOneAdapter

RECORDED = Path(__file__).parent / "recorded" / "xui_one_admin_api.jsonl"


def recorded(action: str, label_part: str = "") -> dict:
    for text in RECORDED.read_text().splitlines():
        exchange = json.loads(text)
        if exchange["action"] == action and label_part in exchange["label"]:
            return json.loads(exchange["body"])
    raise LookupError(action)


# One row of each, exactly as the real panel answered.
LISTED_ROW = recorded("get_lines", "find_line exact")["data"][0]
FULL_ROW = recorded("get_line")["data"]


class Panel:
    """A `lines` table and a `mag_devices` table served like table.php: primary-key order,
    `start`/`limit`, recordsTotal as a string (0 when empty), at most `cap` rows a page."""

    def __init__(self, count: int, *, mags: int = 0, cap: int | None = None):
        self.lines = {n: self._row(n) for n in range(1, count + 1)}
        self.mags: dict[int, dict] = {}
        for m in range(1, mags + 1):
            line_id = 1000 + m
            self.lines[line_id] = self._row(line_id) | {"is_mag": "1"}
            self.mags[m] = {"id": str(m), "user_id": str(line_id), "mac": f"00:1a:79:00:00:{m:02x}"}
        self.cap = cap
        self.calls: list[tuple[str, dict]] = []

    @staticmethod
    def _row(n: int) -> dict:
        return FULL_ROW | {
            "id": str(n),
            "username": f"user{n}",
            "password": f"Pw{n}",
            "bouquet": "[1,2]",
            "allowed_outputs": "[1,2]",
            "max_connections": "2",
        }

    def handle(self, request: httpx.Request) -> httpx.Response:
        action = request.url.params["action"]
        form = dict(parse_qsl(request.content.decode()))
        self.calls.append((action, form))
        if action == "get_line":
            row = self.lines.get(int(form["id"]))
            body = (
                {"status": "STATUS_SUCCESS", "data": row} if row else {"status": "STATUS_FAILURE"}
            )
            return httpx.Response(200, json=body)
        start, limit = int(form.get("start", 0)), int(form.get("limit", 50))
        if self.cap:
            limit = min(limit, self.cap)
        if action == "get_lines":
            ids = sorted(i for i, row in self.lines.items() if row.get("is_mag") != "1")
            rows = [{k: self.lines[i].get(k, v) for k, v in LISTED_ROW.items()} for i in ids]
        else:
            rows = [self.mags[m] for m in sorted(self.mags)]
        page = rows[start : start + limit]
        total = str(len(rows)) if rows else 0
        return httpx.Response(
            200,
            json={
                "status": "STATUS_SUCCESS",
                "data": page,
                "recordsTotal": total,
                "recordsFiltered": total,
            },
        )


def adapter_for(panel: Panel) -> XuiOneAdapter:
    config = XuiOneAdapter.config_for(
        api_url="http://panel.test:25500",
        settings={"access_code": "adminapi1", "api_key": "k3y"},
    )
    return XuiOneAdapter(config, transport=httpx.MockTransport(panel.handle))


def walk(adapter: XuiOneAdapter, limit: int, between=None) -> list:
    cursor, seen = None, []
    for _ in range(1000):
        page = adapter.list_lines(cursor, limit=limit)
        seen += page.lines
        cursor = page.next_cursor
        if cursor is None:
            return seen
        if between:
            between()
    raise AssertionError("the walk did not end")


def test_it_lists_every_line_then_the_devices_with_their_mac():
    panel = Panel(7, mags=2)
    lines = walk(adapter_for(panel), limit=3)
    assert [line.username for line in lines] == [f"user{n}" for n in (*range(1, 8), 1001, 1002)]
    assert [line.mac for line in lines[-2:]] == ["00:1A:79:00:00:01", "00:1A:79:00:00:02"]
    assert all(line.mac == "" for line in lines[:-2])
    # get_lines rows have no bouquets: each line is read whole with get_line.
    assert all(line.bouquets == (1, 2) and line.outputs == ("m3u8", "ts") for line in lines)
    pages = [form for action, form in panel.calls if action == "get_lines"]
    assert [(p["start"], p["limit"]) for p in pages] == [("0", "3"), ("2", "4"), ("5", "4")]


def test_it_skips_no_line_when_lines_are_deleted_between_pages():
    panel = Panel(20)
    deleted = iter([2, 3, 4, 5, 6, 7])

    def delete_one():  # someone deletes lines before our offset while we walk
        number = next(deleted, None)
        if number is not None:
            panel.lines.pop(number, None)

    names = [line.username for line in walk(adapter_for(panel), limit=4, between=delete_one)]
    assert len(names) == len(set(names))
    # Every line that was still there when its turn came is listed.
    assert {f"user{n}" for n in range(8, 21)} <= set(names)


def test_it_lists_everything_from_a_panel_that_caps_the_page_size():
    panel = Panel(12, cap=5)
    assert len(walk(adapter_for(panel), limit=50)) == 12


def test_it_lists_an_empty_panel_in_two_calls():
    panel = Panel(0)
    assert walk(adapter_for(panel), limit=50) == []
    assert [action for action, _ in panel.calls] == ["get_lines", "get_mags"]


def test_it_counts_app_and_device_lines_with_one_row_asked_of_each():
    panel = Panel(9, mags=3)
    assert adapter_for(panel).line_count() == 12
    assert [(a, f["limit"]) for a, f in panel.calls] == [("get_lines", "1"), ("get_mags", "1")]


def test_a_line_deleted_between_the_page_and_its_read_is_left_out():
    panel = Panel(3)
    original = panel.handle

    def handle(request):
        if request.url.params["action"] == "get_line":
            panel.lines.pop(2, None)
        return original(request)

    panel.handle = handle
    assert [line.username for line in walk(adapter_for(panel), limit=10)] == ["user1", "user3"]


def test_it_refuses_a_cursor_it_did_not_make():
    with pytest.raises(ValueError, match="not an XUI One list cursor"):
        adapter_for(Panel(1)).list_lines("page=2", limit=10)
