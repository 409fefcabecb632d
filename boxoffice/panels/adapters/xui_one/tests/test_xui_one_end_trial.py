"""Ending a trial on XUI One: `is_trial` is a presence flag (recorded: `is_trial=0` stores a
trial), so the conversion is one edit_line that writes the whole line back *without* the flag,
with the paid expiry and connections, and reads the answer back before calling it done."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from boxoffice.panels.adapters.base import PermanentPanelError
from boxoffice.panels.adapters.xui_one.tests.test_xui_one_unit import keys, success, values

RECORDED = Path(__file__).with_name("recorded") / "xui_one_admin_api.jsonl"
EXCHANGES = [json.loads(line) for line in RECORDED.read_text().splitlines() if line.strip()]
# The real panel's get_line of a trial line (the one "adapter:extend trial +1d" read).
[TRIAL_READ] = [
    e for e in EXCHANGES if e["label"] == "adapter:extend trial +1d" and e["action"] == "get_line"
]
TRIAL_ROW = json.loads(TRIAL_READ["body"])["data"]
PAID_UNTIL = datetime(2027, 1, 1, tzinfo=UTC)  # 1798761600


def test_the_recorded_line_is_a_trial():
    assert TRIAL_ROW["is_trial"] == "1" and TRIAL_ROW["username"] == "BoxTrial3"


def test_it_ends_a_trial_with_one_whole_line_edit_without_the_flag(adapter, panel):
    converted = {
        **TRIAL_ROW,
        "is_trial": 0,  # what the panel stores when the flag is not sent (isset())
        "exp_date": "1798761600",
        "max_connections": "2",
    }
    panel.on("get_line", success(TRIAL_ROW))
    panel.on("edit_line", success(converted))

    line = adapter.end_trial(TRIAL_ROW["id"], expires_at=PAID_UNTIL, max_connections=2)

    form = panel.form("edit_line")
    assert "is_trial" not in keys(form)
    # The whole line goes back: the same login (an edit without it makes new ones), the rest.
    assert values(form, "username") == ["BoxTrial3"]
    assert values(form, "password") == ["Tr1alPass9"]
    assert values(form, "bouquets_selected") == ["[3]"]
    assert values(form, "access_output[]") == ["2"]
    assert values(form, "admin_notes") == ["boxoffice order T-1"]
    assert values(form, "exp_date") == ["@1798761600"] and "no_expire" not in keys(form)
    assert values(form, "max_connections") == ["2"]
    assert line.is_trial is False
    assert line.expires_at == PAID_UNTIL and line.max_connections == 2
    assert line.username == "BoxTrial3" and line.password == "Tr1alPass9"


def test_it_refuses_to_call_it_done_when_the_panel_kept_the_trial_flag(adapter, panel):
    panel.on("get_line", success(TRIAL_ROW))
    panel.on(
        "edit_line",
        success({**TRIAL_ROW, "exp_date": "1798761600", "max_connections": "2"}),
    )

    with pytest.raises(PermanentPanelError) as refused:
        adapter.end_trial(TRIAL_ROW["id"], expires_at=PAID_UNTIL, max_connections=2)
    assert refused.value.code == "edit_not_applied" and not refused.value.transient


def test_it_refuses_when_the_panel_changed_the_login(adapter, panel):
    panel.on("get_line", success(TRIAL_ROW))
    panel.on(
        "edit_line",
        success(
            {
                **TRIAL_ROW,
                "is_trial": 0,
                "exp_date": "1798761600",
                "max_connections": "2",
                "username": "NuYnts32GS",
            }
        ),
    )

    with pytest.raises(PermanentPanelError) as refused:
        adapter.end_trial(TRIAL_ROW["id"], expires_at=PAID_UNTIL, max_connections=2)
    assert "username" in str(refused.value)
