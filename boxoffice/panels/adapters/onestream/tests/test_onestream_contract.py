"""The adapter contract against the OneStream emulator over real HTTP on loopback, plus what
only OneStream does: packages, credits, `rid`, device lines by `mac_addr`.

No answers of a real OneStream panel are recorded, so there is no replay test: the emulator
follows onestream.md, and these tests check the adapter against the reference's shapes.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest

from boxoffice.panels.adapters.base import (
    DeviceTaken,
    LineNotFound,
    LineSpec,
    PanelAdapter,
    PanelLine,
    PermanentPanelError,
    TransientPanelError,
)
from boxoffice.panels.adapters.contract import PanelAdapterContract
from boxoffice.panels.adapters.onestream.adapter import OneStreamAdapter, rid_for


def _config(emulator, **settings: Any):
    values = {"api_key": emulator.api_key, "auth_user": emulator.auth_user, **settings}
    return OneStreamAdapter.config_for(
        api_url=emulator.base_url, public_url=emulator.base_url, timeout=0.5, settings=values
    )


@pytest.fixture
def onestream_adapter(onestream_emulator) -> Iterator[OneStreamAdapter]:
    adapter = OneStreamAdapter(_config(onestream_emulator, low_credits=5))
    yield adapter
    adapter.close()


def _near(moment: datetime | None, hours: int) -> bool:
    expected = datetime.now(UTC) + timedelta(hours=hours)
    return moment is not None and abs((moment - expected).total_seconds()) < 5


class TestOneStreamContract(PanelAdapterContract):
    timeout_fault_latency_ms = 800
    id_column = "line_id"
    changed_columns = {
        **PanelAdapterContract.changed_columns,
        "extend": frozenset({"expire_at"}),
        "suspend": frozenset({"is_enabled"}),
        "resume": frozenset({"is_enabled"}),
    }

    @pytest.fixture
    def adapter(self, onestream_adapter) -> OneStreamAdapter:
        return onestream_adapter

    @pytest.fixture(autouse=True)
    def _plenty_of_credits(self, onestream_emulator):
        onestream_emulator.set_credits(1000)

    @pytest.fixture
    def faults(self, onestream_emulator):
        yield onestream_emulator.set_faults
        onestream_emulator.set_faults("ok")

    @pytest.fixture
    def panel_lines(self, onestream_emulator):
        return onestream_emulator.lines

    def make_spec(self, adapter: PanelAdapter, **changes: Any) -> LineSpec:
        changes.setdefault("mapping", {"package": 1})
        return super().make_spec(adapter, **changes)

    def assert_matches(self, line: PanelLine, spec: LineSpec) -> None:
        """The package decides expiry, bouquets and trial; the rest is what we sent."""
        assert line.username == spec.username
        assert line.password == spec.password
        assert line.max_connections == spec.max_connections
        assert line.notes == spec.notes
        assert line.enabled is True
        assert line.package_id == str(spec.mapping["package"])
        assert _near(line.expires_at, 720)  # package 1: 720 hours, whatever was asked
        assert set(line.bouquets) == {1, 2}

    # A retried create carries the same rid: the panel answers the first line, charges once.
    def test_it_keeps_one_line_when_a_create_is_retried(
        self, adapter, panel_lines, onestream_emulator
    ):
        spec = self.make_spec(adapter)
        first = adapter.create_line(spec)
        credits = onestream_emulator.credits

        again = adapter.create_line(spec)

        assert again.panel_line_id == first.panel_line_id
        assert len(self.rows_named(panel_lines, spec.username)) == 1
        assert onestream_emulator.credits == credits

    # Renewals go by package: the panel's expiry is the line's, whatever was asked.
    def test_it_extends_without_touching_anything_else(self, adapter, panel_lines):
        asked = datetime.now(UTC).replace(microsecond=0) + timedelta(days=60)
        spec, result = self.edited_line(
            adapter, panel_lines, "extend", lambda line_id: adapter.extend(line_id, asked)
        )
        assert _near(result.expires_at, 2 * 720)
        assert result.password == spec.password
        assert adapter.find_line(spec.username).expires_at == result.expires_at

    def test_it_extends_to_never_without_touching_anything_else(self, adapter, panel_lines):
        line = adapter.create_line(self.make_spec(adapter))
        before = panel_lines()
        with pytest.raises(PermanentPanelError) as refused:
            adapter.extend(line.panel_line_id, None)
        assert refused.value.code == "unsupported_expiry"
        assert panel_lines() == before


# OneStream's own --------------------------------------------------------------------------


def _spec(**changes: Any) -> LineSpec:
    values: dict[str, Any] = {
        "username": "viewer01",
        "password": "Secret123",
        "max_connections": 1,
        "expires_at": None,
        "notes": "boxoffice order BO-1",
        "mapping": {"package": 2},
    }
    values.update(changes)
    return LineSpec(**values)


def test_it_sends_both_tokens_json_and_a_stable_rid(onestream_adapter, onestream_emulator):
    onestream_adapter.create_line(_spec())
    [create] = [r for r in onestream_emulator.request_log if r["path"] == "/ext/line/create"]
    body = json.loads(create["body"])
    assert body["package"] == 2 and body["username"] == "viewer01"
    assert body["rid"] == rid_for("create", "viewer01", "boxoffice order BO-1")
    assert len(body["rid"]) == 32
    wrong = OneStreamAdapter(_config(onestream_emulator, auth_user="someone-else"))
    with pytest.raises(PermanentPanelError) as refused:
        wrong.credit_balance()
    assert refused.value.code == "unauthorized"
    assert "someone-else" not in str(refused.value) + refused.value.raw


def test_a_retried_renewal_is_charged_once(onestream_adapter, onestream_emulator):
    line = onestream_adapter.create_line(_spec())
    asked = datetime.now(UTC) + timedelta(days=90)
    after_sale = onestream_emulator.credits
    assert after_sale == 7  # 10 - package 2's 3 credits

    first = onestream_adapter.extend(line.panel_line_id, asked)
    second = onestream_adapter.extend(line.panel_line_id, asked)  # a retry: same rid

    assert second.expires_at == first.expires_at
    assert _near(first.expires_at, 2 * 2160)
    assert onestream_emulator.credits == after_sale - 3


def test_a_renewal_that_timed_out_after_the_panel_acted_is_not_charged_twice(
    onestream_adapter, onestream_emulator
):
    line = onestream_adapter.create_line(_spec())
    asked = datetime.now(UTC) + timedelta(days=90)
    onestream_emulator.set_faults("act_then_timeout", latency_ms=800, count=1)
    with pytest.raises(TransientPanelError):
        onestream_adapter.extend(line.panel_line_id, asked)
    renewed = onestream_adapter.extend(line.panel_line_id, asked)
    assert _near(renewed.expires_at, 2 * 2160)
    assert onestream_emulator.credits == 10 - 3 - 3


def test_it_makes_device_lines_by_mac_and_finds_them(onestream_adapter, onestream_emulator):
    line = onestream_adapter.create_device(_spec(mac="00-1a-79-ab-cd-ef"))
    [row] = onestream_emulator.lines()
    assert row["mac_addr"] == "00:1A:79:AB:CD:EF" and row["type"] == "device"
    assert line.mac == "00:1A:79:AB:CD:EF"
    found = onestream_adapter.find_device("00:1a:79:ab:cd:ef")
    assert found is not None and found.panel_line_id == line.panel_line_id
    with pytest.raises(DeviceTaken):
        onestream_adapter.create_device(_spec(username="viewer02", mac="00:1A:79:AB:CD:EF"))


def test_it_reads_credits_and_warns_before_they_run_out(onestream_adapter, onestream_emulator):
    balance = onestream_adapter.credit_balance()
    assert balance.credits == Decimal("10") and balance.detail == ""
    onestream_adapter.create_line(_spec())  # 3 credits
    onestream_adapter.create_line(_spec(username="viewer02", notes="BO-2"))  # 3 more
    balance = onestream_adapter.credit_balance()
    assert balance.credits == Decimal("4") and "below the warning level of 5" in balance.detail

    onestream_emulator.set_credits(2)
    with pytest.raises(PermanentPanelError) as refused:
        onestream_adapter.create_line(_spec(username="viewer03", notes="BO-3"))
    assert refused.value.code == "insufficient_credits"
    onestream_emulator.set_credits(0)
    assert "no credits left" in onestream_adapter.credit_balance().detail


def test_it_lists_packages_bouquets_and_lines_a_page_at_a_time(
    onestream_adapter, onestream_emulator
):
    packages = onestream_adapter.list_packages()
    assert [(p.id, p.credits, p.duration_days, p.is_trial) for p in packages] == [
        ("1", Decimal("1"), 30, False),
        ("2", Decimal("3"), 90, False),
        ("3", Decimal("0"), 1, True),
    ]
    assert [b.name for b in onestream_adapter.list_bouquets()] == ["Sports", "Movies", "Kids"]
    onestream_emulator.set_credits(100)
    for n in range(5):
        onestream_adapter.create_line(_spec(username=f"viewer{n}", notes=f"BO-{n}"))
    first = onestream_adapter.list_lines(limit=2)
    assert len(first.lines) == 2 and first.total == 5 and first.next_cursor == "2"
    seen = list(first.lines)
    cursor = first.next_cursor
    while cursor:
        page = onestream_adapter.list_lines(cursor, limit=2)
        seen += page.lines
        cursor = page.next_cursor
    assert sorted(line.username for line in seen) == [f"viewer{n}" for n in range(5)]


def test_an_unknown_line_and_an_html_page_are_told_apart(onestream_emulator):
    adapter = OneStreamAdapter(_config(onestream_emulator))
    with pytest.raises(LineNotFound):
        adapter.suspend("3f0e0c2e-0000-4000-8000-000000000000")

    def html(request: httpx.Request) -> httpx.Response:
        return httpx.Response(404, text="<html><body>Not Found</body></html>")

    lost = OneStreamAdapter(_config(onestream_emulator), transport=httpx.MockTransport(html))
    with pytest.raises(TransientPanelError) as caught:
        lost.suspend("3f0e0c2e-0000-4000-8000-000000000000")
    assert caught.value.code == "bad_response"
