"""The adapter contract against the Ministra emulator over real HTTP on loopback, plus what
only Ministra does: MAC accounts, tariffs, end_date checked before it is sent."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from boxoffice.panels.adapters.base import (
    DeviceTaken,
    LineSpec,
    PanelAdapter,
    PanelLine,
    PermanentPanelError,
    UnsupportedOperation,
    UsernameTaken,
)
from boxoffice.panels.adapters.contract import PanelAdapterContract
from boxoffice.panels.adapters.ministra.adapter import MinistraAdapter


@pytest.fixture
def ministra_adapter(ministra_emulator) -> Iterator[MinistraAdapter]:
    config = MinistraAdapter.config_for(
        api_url=ministra_emulator.base_url,
        public_url=ministra_emulator.base_url,
        timeout=0.5,
        settings={
            "api_login": ministra_emulator.api_login,
            "api_password": ministra_emulator.api_password,
        },
    )
    adapter = MinistraAdapter(config)
    yield adapter
    adapter.close()


class TestMinistraContract(PanelAdapterContract):
    timeout_fault_latency_ms = 800
    id_column = "account_number"
    username_column = "login"
    changed_columns = {
        "extend": frozenset({"end_date"}),
        "change_password": frozenset({"password"}),
        "suspend": frozenset({"status"}),
        "resume": frozenset({"status"}),
        "change_plan": frozenset({"tariff_plan"}),
        "change_plan_renewing": frozenset({"tariff_plan", "end_date"}),
    }

    @pytest.fixture
    def adapter(self, ministra_adapter) -> MinistraAdapter:
        return ministra_adapter

    @pytest.fixture
    def faults(self, ministra_emulator):
        yield ministra_emulator.set_faults
        ministra_emulator.set_faults("ok")

    @pytest.fixture
    def panel_lines(self, ministra_emulator):
        return ministra_emulator.accounts

    def make_spec(self, adapter: PanelAdapter, **changes: Any) -> LineSpec:
        changes.setdefault("mapping", {"tariff_plan": "basic"})
        return super().make_spec(adapter, **changes)

    def other_plan_mapping(self, adapter: PanelAdapter) -> dict[str, Any]:
        return {"tariff_plan": "premium"}

    def assert_matches(self, line: PanelLine, spec: LineSpec) -> None:
        """What a Ministra account holds and its answer shows: login, comment, status, tariff.
        Its answer has no password (stored hashed) and no end_date: a write returns what it
        sent, marked not known; a read has neither. No connection limit, no trial flag."""
        assert line.username == spec.username
        assert line.notes == spec.notes
        assert line.enabled is True
        assert line.package_id == spec.mapping["tariff_plan"]
        assert line.panel_line_id == spec.username  # account_number = login
        assert line.expires_at_known is False
        if line.password:  # a write's answer: what it sent
            assert line.password == spec.password
            assert line.expires_at == spec.expires_at
        else:
            assert line.expires_at is None

    def assert_plan(self, line: PanelLine, mapping: dict[str, Any], connections: int) -> None:
        assert line.package_id == mapping["tariff_plan"]
        assert line.max_connections == 1  # one box per account: nothing to set

    # The contract reads the expiry back; Ministra's answer has none, the database has it.
    def test_it_extends_without_touching_anything_else(self, adapter, panel_lines):
        later = datetime.now(UTC).replace(microsecond=0) + timedelta(days=400, seconds=3)
        spec, result = self.edited_line(
            adapter, panel_lines, "extend", lambda line_id: adapter.extend(line_id, later)
        )
        assert result.expires_at == later and result.expires_at_known is False
        assert self.raw_row(panel_lines, result.panel_line_id)["end_date"] == later.strftime(
            "%Y-%m-%d %H:%M:%S"
        )

    def test_it_changes_the_password_without_touching_anything_else(
        self, adapter, panel_lines, ministra_emulator
    ):
        spec, result = self.edited_line(
            adapter,
            panel_lines,
            "change_password",
            lambda line_id: adapter.change_password(line_id, "N3wPassword42"),
        )
        assert result.password == "N3wPassword42"
        assert ministra_emulator.password_matches(spec.username, "N3wPassword42")
        assert not ministra_emulator.password_matches(spec.username, spec.password)

    def test_it_changes_the_plan_without_touching_anything_else(self, adapter, panel_lines):
        spec, result = self.edited_line(  # end_date among the columns that must not change
            adapter,
            panel_lines,
            "change_plan",
            lambda line_id: adapter.change_plan(
                line_id, max_connections=4, mapping={"tariff_plan": "premium"}
            ),
        )
        for line in (result, adapter.get_line(result.panel_line_id)):
            self.assert_plan(line, {"tariff_plan": "premium"}, 4)
            assert line.username == spec.username and line.expires_at_known is False
        row = self.raw_row(panel_lines, result.panel_line_id)
        assert row["end_date"] == spec.expires_at.strftime("%Y-%m-%d %H:%M:%S")

    def test_it_changes_the_plan_and_the_expiry_of_a_renewal_in_one_change(
        self, adapter, panel_lines
    ):
        renewed = datetime.now(UTC).replace(microsecond=0) + timedelta(days=60, seconds=3)
        spec, result = self.edited_line(
            adapter,
            panel_lines,
            "change_plan_renewing",
            lambda line_id: adapter.change_plan(
                line_id, max_connections=1, mapping={"tariff_plan": "premium"}, new_expiry=renewed
            ),
        )
        row = self.raw_row(panel_lines, result.panel_line_id)
        assert row["tariff_plan"] == "premium"
        assert row["end_date"] == renewed.strftime("%Y-%m-%d %H:%M:%S")
        assert result.expires_at == renewed


# Ministra's own ----------------------------------------------------------------------------


def _spec(**changes: Any) -> LineSpec:
    values: dict[str, Any] = {
        "username": "box0001",
        "password": "Secret123",
        "max_connections": 1,
        "expires_at": datetime(2027, 1, 31, 22, 59, 59, tzinfo=UTC),
        "notes": "boxoffice order BO-1",
        "mapping": {"tariff_plan": "premium"},
    }
    values.update(changes)
    return LineSpec(**values)


def test_it_registers_a_box_by_its_mac_with_the_account_number_set(
    ministra_adapter, ministra_emulator
):
    line = ministra_adapter.create_device(_spec(mac="00-1a-79-ab-cd-ef"))

    [account] = ministra_emulator.accounts()
    assert account["stb_mac"] == "00:1A:79:AB:CD:EF"
    assert account["account_number"] == "box0001" == line.panel_line_id
    assert account["tariff_plan"] == "premium" and account["status"] == 1
    assert account["end_date"] == "2027-01-31 22:59:59"
    assert line.mac == "00:1A:79:AB:CD:EF"
    found = ministra_adapter.find_device("00:1a:79:ab:cd:ef")
    assert found is not None and found.notes == "boxoffice order BO-1"
    # The request went form-encoded with HTTP Basic (the emulator refuses anything else).
    [create] = [r for r in ministra_emulator.request_log if r["method"] == "POST"]
    assert "stb_mac=00%3A1A%3A79%3AAB%3ACD%3AEF" in create["body"]


def test_it_sends_end_date_in_the_portals_timezone(ministra_emulator):
    config = MinistraAdapter.config_for(
        api_url=ministra_emulator.base_url,
        settings={
            "api_login": ministra_emulator.api_login,
            "api_password": ministra_emulator.api_password,
            "timezone": "Europe/Berlin",
        },
    )
    MinistraAdapter(config).create_line(_spec())
    assert ministra_emulator.accounts()[0]["end_date"] == "2027-01-31 23:59:59"


def test_it_refuses_a_taken_mac_and_a_taken_login(ministra_adapter):
    ministra_adapter.create_device(_spec(mac="00:1A:79:AB:CD:EF"))
    with pytest.raises(DeviceTaken):
        ministra_adapter.create_device(_spec(username="box0002", mac="00:1A:79:AB:CD:EF"))
    with pytest.raises(UsernameTaken):
        ministra_adapter.create_device(_spec(mac="00:1A:79:AB:CD:00"))


def test_it_checks_everything_before_sending_what_the_portal_would_store_wrong(
    ministra_adapter, ministra_emulator
):
    for spec, code in (
        (_spec(mac="00:1A:79:AB:CD"), "invalid_mac"),
        (_spec(username="a:b,c"), "invalid_username"),
        (_spec(mapping={}), "no_tariff_plan"),
    ):
        with pytest.raises(PermanentPanelError) as refused:
            (ministra_adapter.create_device if spec.mac else ministra_adapter.create_line)(spec)
        assert refused.value.code == code
    with pytest.raises(ValueError):
        ministra_adapter.extend("box0001", datetime(2027, 1, 1))  # naive: which zone?
    assert ministra_emulator.request_log == []


def test_it_never_sends_a_malformed_end_date(ministra_adapter, ministra_emulator):
    line = ministra_adapter.create_line(_spec())
    ministra_adapter.extend(line.panel_line_id, None)
    [put] = [r for r in ministra_emulator.request_log if r["method"] == "PUT"]
    assert put["body"] == "end_date=0000-00-00+00%3A00%3A00"
    assert ministra_emulator.accounts()[0]["end_date"] == "0000-00-00 00:00:00"


def test_it_lists_the_tariffs_as_packages_and_has_no_bouquets_or_connections(ministra_adapter):
    packages = ministra_adapter.list_packages()
    assert [(p.id, p.name) for p in packages] == [("basic", "Basic"), ("premium", "Premium")]
    assert not MinistraAdapter.capabilities.can("set_connections")
    with pytest.raises(UnsupportedOperation):
        ministra_adapter.set_connections("box0001", 2)


def test_it_names_a_refused_api_login(ministra_emulator):
    config = MinistraAdapter.config_for(
        api_url=ministra_emulator.base_url,
        settings={"api_login": "billing", "api_password": "wrong"},
    )
    with pytest.raises(PermanentPanelError) as refused:
        MinistraAdapter(config).get_line("box0001")
    assert refused.value.code == "unauthorized"
    assert "wrong" not in str(refused.value) + refused.value.raw
    report = MinistraAdapter(config).health()
    assert report.ok is False and "HTTP 401" in report.detail


def test_it_reads_an_expiry_where_the_portal_reports_one():
    """With internal billing on, the account answer carries end_date: then it is a fact."""

    def answer(request: httpx.Request) -> httpx.Response:
        account = {
            "login": "box0001",
            "account_number": "box0001",
            "tariff_plan": "basic",
            "stb_mac": "",
            "status": 1,
            "comment": None,
            "end_date": "2027-01-31 23:59:59",
        }
        return httpx.Response(200, json={"status": "OK", "results": [account]})

    config = MinistraAdapter.config_for(
        api_url="http://portal.example", settings={"timezone": "Europe/Berlin"}
    )
    line = MinistraAdapter(config, transport=httpx.MockTransport(answer)).get_line("box0001")
    assert line.expires_at_known is True
    assert line.expires_at == datetime(2027, 1, 31, 22, 59, 59, tzinfo=UTC)
