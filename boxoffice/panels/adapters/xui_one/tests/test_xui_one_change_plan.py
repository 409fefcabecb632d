"""Changing a line's plan on XUI One (an upgrade, or a renewal into a downgrade): one edit_line
that writes the whole recorded line back with the new connections, bouquets and outputs (and a
renewal's expiry), the same login, and reads the answer back before calling it done. A partial
edit would make the panel generate new credentials (reference §1.4)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from boxoffice.panels.adapters.base import PermanentPanelError
from boxoffice.panels.adapters.xui_one.tests.test_xui_one_unit import keys, success, values

RECORDED = Path(__file__).with_name("recorded") / "xui_one_admin_api.jsonl"
EXCHANGES = [json.loads(line) for line in RECORDED.read_text().splitlines() if line.strip()]
# The real panel's answer to get_line for a paid line: 2 connections, bouquets [1,2].
[READ] = [e for e in EXCHANGES if e["label"] == "adapter:get_line" and e["action"] == "get_line"]
ROW = json.loads(READ["body"])["data"]
RENEWED_UNTIL = datetime(2027, 1, 31, tzinfo=UTC)  # 1801353600


def test_it_upgrades_with_one_whole_line_edit_and_keeps_expiry_and_login(adapter, panel):
    upgraded = {**ROW, "max_connections": "4", "bouquet": "[1,2,3]", "allowed_outputs": "[1,2]"}
    panel.on("get_line", success(ROW))
    panel.on("edit_line", success(upgraded))

    line = adapter.change_plan(
        ROW["id"], max_connections=4, mapping={"bouquets": [1, 2, 3], "outputs": ["m3u8", "ts"]}
    )

    form = panel.form("edit_line")
    assert values(form, "username") == ["BoxAlpha7"] and values(form, "password") == ["Pw7xK2mQ9z"]
    assert values(form, "max_connections") == ["4"]
    assert values(form, "bouquets_selected") == ["[1,2,3]"]
    assert values(form, "access_output[]") == ["1", "2"]
    assert values(form, "exp_date") == [f"@{ROW['exp_date']}"]  # the expiry as stored
    assert values(form, "admin_notes") == ["boxoffice order BX-ADAPTER-1"]
    assert "is_trial" not in keys(form)
    assert line.max_connections == 4 and line.bouquets == (1, 2, 3)
    assert line.username == "BoxAlpha7" and line.password == "Pw7xK2mQ9z"


def test_a_renewal_into_a_downgrade_sets_the_new_expiry_in_the_same_edit(adapter, panel):
    panel.on("get_line", success(ROW))
    panel.on(
        "edit_line",
        success(
            {
                **ROW,
                "max_connections": "1",
                "bouquet": "[1]",
                "allowed_outputs": "[2]",
                "exp_date": "1801353600",
            }
        ),
    )

    line = adapter.change_plan(
        ROW["id"],
        max_connections=1,
        mapping={"bouquets": [1], "outputs": ["ts"]},
        new_expiry=RENEWED_UNTIL,
    )

    form = panel.form("edit_line")
    assert values(form, "exp_date") == ["@1801353600"] and "no_expire" not in keys(form)
    assert values(form, "access_output[]") == ["2"] and values(form, "max_connections") == ["1"]
    assert line.expires_at == RENEWED_UNTIL and line.outputs == ("ts",)


@pytest.mark.parametrize(
    "answer",
    [
        {"max_connections": "2"},  # the panel kept the old connections
        {"max_connections": "4", "bouquet": "[1,2]"},  # or the old bouquets
        {"max_connections": "4", "bouquet": "[1,2,3]", "password": "Regen3rated"},  # new login
    ],
)
def test_it_refuses_to_call_it_done_unless_the_panel_has_exactly_the_new_plan(
    adapter, panel, answer
):
    panel.on("get_line", success(ROW))
    panel.on("edit_line", success({**ROW, **answer}))

    with pytest.raises(PermanentPanelError) as refused:
        adapter.change_plan(
            ROW["id"], max_connections=4, mapping={"bouquets": [1, 2, 3], "outputs": ["m3u8", "ts"]}
        )
    assert refused.value.code == "edit_not_applied" and not refused.value.transient
