"""The adapter contract for the XUI One Reseller API against the emulator's reseller mode over
real HTTP on loopback, plus what only a package-based kind owes: credits spent once per sale,
renewal by package that never buys twice, refusals for lack of credits that change nothing."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from urllib.parse import urlencode

import httpx
import pytest

from boxoffice.panels.adapters.base import (
    InsufficientCredits,
    LineSpec,
    PanelLine,
    PermanentPanelError,
)
from boxoffice.panels.adapters.contract import PanelAdapterContract
from boxoffice.panels.adapters.xui_one_reseller.adapter import XuiOneResellerAdapter
from boxoffice.panels.adapters.xui_one_reseller.tests.calendar_months import plus_months

MONTH_PACKAGE = 1  # 1 month, 10 credits, 1 connection, a 24-hour trial (recorded R0)
QUARTER_PACKAGE = 2  # 3 months, 25 credits, 2 connections


def php_plus(amount: str, base: datetime) -> datetime:
    """What the panel's strtotime('+<n> months', base) gives."""
    number, unit = amount.split()
    assert unit == "months"
    return plus_months(base, int(number))


def reseller_edit_by_hand(emulator, form: list[tuple[str, str]]) -> dict:
    response = httpx.post(
        emulator.reseller_url,
        params={"api_key": emulator.reseller_api_key, "action": "edit_line"},
        content=urlencode(form),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        timeout=5,
    )
    body = response.json()
    assert body["status"] == "STATUS_SUCCESS", body
    return body["data"]


@pytest.fixture
def reseller_adapter(xui_emulator) -> Iterator[XuiOneResellerAdapter]:
    config = XuiOneResellerAdapter.config_for(
        api_url=xui_emulator.base_url,
        timeout=0.5,
        settings={
            "api_key": xui_emulator.reseller_api_key,
            "access_code": xui_emulator.reseller_access_code,
        },
    )
    adapter = XuiOneResellerAdapter(config)
    yield adapter
    adapter.close()


class TestXuiOneResellerContract(PanelAdapterContract):
    timeout_fault_latency_ms = 800
    # A package renewal rewrites the package's columns with the same values: only the expiry moves.
    changed_columns = {**PanelAdapterContract.changed_columns, "extend": frozenset({"exp_date"})}

    @pytest.fixture(autouse=True)
    def _emulator(self, xui_emulator):
        self.emulator = xui_emulator
        xui_emulator.set_credits(100_000)  # the contract makes dozens of lines

    @pytest.fixture
    def adapter(self, reseller_adapter):
        return reseller_adapter

    @pytest.fixture
    def faults(self, xui_emulator):
        yield xui_emulator.set_faults
        xui_emulator.set_faults("ok")

    @pytest.fixture
    def panel_lines(self, xui_emulator):
        return xui_emulator.lines

    def make_spec(self, adapter, **changes) -> LineSpec:
        token = uuid.uuid4().hex[:10]
        values = {
            "username": f"bx{token}",
            "password": f"Pw{token[::-1]}",
            "max_connections": 1,  # the package's
            "expires_at": php_plus("1 months", datetime.now(UTC).replace(microsecond=0)),
            "notes": f"boxoffice order {token}",
            "mapping": {"package": MONTH_PACKAGE},
        }
        values.update(changes)
        return LineSpec(**values)

    def assert_matches(self, line: PanelLine, spec: LineSpec) -> None:
        assert line.username == spec.username
        assert line.password == spec.password
        assert line.max_connections == spec.max_connections
        assert line.notes == spec.notes
        assert line.is_trial is spec.is_trial
        assert line.enabled is True
        assert line.package_id == str(spec.mapping["package"])
        # The package sets the expiry when the panel saves: within a few seconds of the spec's.
        assert spec.expires_at is not None and line.expires_at is not None
        assert abs((line.expires_at - spec.expires_at).total_seconds()) <= 5

    def enrich_line(self, line: PanelLine) -> None:
        """Fields only a reseller would set by hand on the panel (no package: no credits)."""
        stored = next(r for r in self.emulator.lines() if r["id"] == line.panel_line_id)
        enriched = reseller_edit_by_hand(
            self.emulator,
            [
                ("id", stored["id"]),
                ("reseller_notes", stored["reseller_notes"]),
                ("contact", "jane.doe@example.test"),
                ("allowed_ips[]", "203.0.113.7"),
                ("allowed_ips[]", "203.0.113.8"),
                ("allowed_ua[]", "VLC/3.0.18"),
                ("is_isplock", "1"),
                ("isp_clear", "1"),
            ],
        )
        assert enriched["allowed_ips"] == '["203.0.113.7","203.0.113.8"]'
        assert enriched["is_isplock"] == "1"

    # Expiry comes from packages: the contract's free-form cases, the package way --------------

    def test_it_round_trips_every_field_it_sends(self, adapter):
        spec = self.make_spec(
            adapter,
            max_connections=2,
            mapping={"package": QUARTER_PACKAGE},
            expires_at=php_plus("3 months", datetime.now(UTC).replace(microsecond=0)),
        )
        created = adapter.create_line(spec)
        for line in (
            created,
            adapter.get_line(created.panel_line_id),
            adapter.find_line(spec.username),
        ):
            assert line is not None
            self.assert_matches(line, spec)

    def test_it_round_trips_a_trial_that_never_expires(self, adapter):
        # A reseller trial is the package's trial: 24 hours, not "never".
        spec = self.make_spec(
            adapter,
            is_trial=True,
            expires_at=datetime.now(UTC).replace(microsecond=0) + timedelta(hours=24),
        )
        created = adapter.create_line(spec)
        self.assert_matches(created, spec)
        self.assert_matches(adapter.get_line(created.panel_line_id), spec)

    def test_it_extends_without_touching_anything_else(self, adapter, panel_lines):
        credits = self.emulator.credits
        before: dict[str, datetime] = {}

        def renew(line_id: str) -> PanelLine:
            current = adapter.get_line(line_id).expires_at
            assert current is not None
            before["expiry"] = current
            return adapter.extend(line_id, current + timedelta(days=30))

        spec, result = self.edited_line(adapter, panel_lines, "extend", renew)
        # The panel adds the package's month to the current expiry (calendar months).
        assert result.expires_at == php_plus("1 months", before["expiry"])
        assert result.password == spec.password
        # Two lines made (10 credits each) and one renewal (10).
        assert self.emulator.credits == credits - 30

    def test_it_extends_to_never_without_touching_anything_else(self, adapter, panel_lines):
        line = adapter.create_line(self.make_spec(adapter))
        before = self.raw_row(panel_lines, line.panel_line_id)
        credits = self.emulator.credits
        with pytest.raises(PermanentPanelError) as refused:
            adapter.extend(line.panel_line_id, None)
        assert refused.value.code == "unsupported_expiry"
        assert self.raw_row(panel_lines, line.panel_line_id) == before
        assert self.emulator.credits == credits


# Credits and renewals -----------------------------------------------------------------------


def _spec(**changes) -> LineSpec:
    token = uuid.uuid4().hex[:10]
    values = {
        "username": f"rs{token}",
        "password": f"Pw{token}",
        "max_connections": 1,
        "expires_at": None,
        "notes": f"boxoffice order {token}",
        "mapping": {"package": MONTH_PACKAGE},
    }
    values.update(changes)
    return LineSpec(**values)


def test_it_spends_the_package_credits_once_per_sale(reseller_adapter, xui_emulator):
    assert reseller_adapter.credit_balance().credits == Decimal(100)

    line = reseller_adapter.create_line(_spec(mapping={"package": QUARTER_PACKAGE}))

    assert xui_emulator.credits == 75
    assert reseller_adapter.credit_balance().credits == Decimal(75)
    assert line.max_connections == 2
    assert line.package_id == "2"


def test_it_renews_once_even_when_the_renewal_is_sent_again(reseller_adapter, xui_emulator):
    line = reseller_adapter.create_line(_spec())
    target = line.expires_at + timedelta(days=30)

    renewed = reseller_adapter.extend(line.panel_line_id, target)
    again = reseller_adapter.extend(line.panel_line_id, target)  # a retry of the same renewal

    assert renewed.expires_at == php_plus("1 months", line.expires_at)
    assert again.expires_at == renewed.expires_at
    assert xui_emulator.credits == 100 - 10 - 10
    assert [a for a, _ in xui_emulator.request_log].count("edit_line") == 1


def test_it_does_not_buy_again_after_a_renewal_whose_answer_was_lost(
    reseller_adapter, xui_emulator
):
    line = reseller_adapter.create_line(_spec())
    target = line.expires_at + timedelta(days=30)
    # The panel renewed, but the answer never reached us (a timeout after success).
    reseller_edit_by_hand(
        xui_emulator,
        [("id", line.panel_line_id), ("package", "1"), ("reseller_notes", line.notes)],
    )
    assert xui_emulator.credits == 80

    retried = reseller_adapter.extend(line.panel_line_id, target)

    assert retried.expires_at == php_plus("1 months", line.expires_at)
    assert xui_emulator.credits == 80


def test_it_buys_one_package_per_period_to_reach_a_far_date(reseller_adapter, xui_emulator):
    line = reseller_adapter.create_line(_spec())

    renewed = reseller_adapter.extend(line.panel_line_id, line.expires_at + timedelta(days=90))

    assert renewed.expires_at == php_plus("3 months", line.expires_at)
    assert xui_emulator.credits == 100 - 10 - 30


def test_it_refuses_a_sale_without_credits_and_changes_nothing(reseller_adapter, xui_emulator):
    xui_emulator.set_credits(5)
    spec = _spec()

    with pytest.raises(InsufficientCredits) as refused:
        reseller_adapter.create_line(spec)

    assert refused.value.transient is False
    assert refused.value.code == "STATUS_INSUFFICIENT_CREDITS"
    assert spec.password not in str(refused.value) + refused.value.raw
    assert xui_emulator.lines() == []
    assert xui_emulator.credits == 5


def test_it_refuses_a_renewal_without_credits_and_keeps_the_expiry(reseller_adapter, xui_emulator):
    line = reseller_adapter.create_line(_spec())
    xui_emulator.set_credits(9)

    with pytest.raises(InsufficientCredits):
        reseller_adapter.extend(line.panel_line_id, line.expires_at + timedelta(days=30))

    assert reseller_adapter.get_line(line.panel_line_id).expires_at == line.expires_at
    assert xui_emulator.credits == 9


def test_it_refuses_a_plan_without_a_package(reseller_adapter, xui_emulator):
    with pytest.raises(PermanentPanelError) as refused:
        reseller_adapter.create_line(_spec(mapping={}))
    assert refused.value.code == "no_package"
    assert xui_emulator.request_log == []


def test_it_refuses_a_package_the_reseller_is_not_offered(reseller_adapter, xui_emulator):
    with pytest.raises(PermanentPanelError) as refused:
        reseller_adapter.create_line(_spec(mapping={"package": 99}))
    assert refused.value.code == "STATUS_INVALID_TYPE"
    assert xui_emulator.credits == 100


def test_it_lists_the_packages_with_their_cost(reseller_adapter):
    packages = {p.id: p for p in reseller_adapter.list_packages()}

    assert packages["1"].name == "1 Month"
    assert packages["1"].credits == Decimal(10)
    assert packages["1"].duration_days == 30
    assert packages["1"].max_connections == 1
    assert packages["1"].is_trial is True
    assert packages["2"].credits == Decimal(25)
    assert packages["2"].duration_days == 90


def test_a_trial_costs_the_trial_credits(reseller_adapter, xui_emulator):
    line = reseller_adapter.create_line(_spec(is_trial=True))
    assert line.is_trial is True
    assert xui_emulator.credits == 100  # the package's trial_credits are 0


def test_it_changes_the_password_and_keeps_the_reseller_fields(reseller_adapter, xui_emulator):
    line = reseller_adapter.create_line(replace(_spec(), notes="order 42"))

    changed = reseller_adapter.change_password(line.panel_line_id, "N3wPassword42")

    assert changed.password == "N3wPassword42"
    assert changed.notes == "order 42"
    assert changed.expires_at == line.expires_at
    assert xui_emulator.credits == 90


def test_the_health_report_names_the_reseller_and_credits(reseller_adapter):
    report = reseller_adapter.health()
    assert report.ok is True
    assert "reseller1" in report.detail and "100 credits" in report.detail
