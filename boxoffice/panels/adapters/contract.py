"""The behaviour every panel adapter owes the provisioning layer, as reusable pytest cases.

A kind's tests subclass `PanelAdapterContract` (as `Test<Kind>Contract`) and provide three
fixtures, all against a live emulator reached over real HTTP on loopback:

* `adapter`: the adapter under test, configured with a short timeout (about 1 s);
* `faults`: `faults(mode, latency_ms=0, count=None)` makes the emulator misbehave: modes
  `ok`, `down`, `503`, `html`, `empty`, `garbage`, `act_then_timeout`;
* `panel_lines`: returns the emulator's stored raw rows (list of dicts), so a test can prove an
  edit changed one column and nothing else.

Class attributes describe the raw rows; `enrich_line` lets a kind fill panel-only fields (IP
locks, reseller notes, flags) so that "nothing else changed" covers fields the adapter never sets.

Each case names the operations it needs (`@needs(...)`); a kind whose `capabilities` lack one
skips it with the reason, so a kind that cannot delete still runs the rest of the contract.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

import pytest

from boxoffice.panels.adapters.base import (
    LineNotFound,
    LineSpec,
    PanelAdapter,
    PanelLine,
    TransientPanelError,
    UsernameTaken,
)

Rows = list[dict[str, Any]]

TRANSIENT_FAULTS = ("down", "503", "html", "empty", "garbage")


def needs(*operations: str) -> Callable:
    """Mark a contract case as needing these operations (see `Capabilities.operations`)."""

    def mark(test: Callable) -> Callable:
        test.contract_needs = operations  # type: ignore[attr-defined]
        return test

    return mark


class PanelAdapterContract:
    # Raw-row column names.
    id_column: ClassVar[str] = "id"
    username_column: ClassVar[str] = "username"
    # Columns each operation is allowed to change.
    changed_columns: ClassVar[dict[str, frozenset[str]]] = {
        "extend": frozenset({"exp_date"}),
        "change_password": frozenset({"password"}),
        "set_connections": frozenset({"max_connections"}),
        "suspend": frozenset({"enabled"}),
        "resume": frozenset({"enabled"}),
        # A plan change: connections and the plan fields' columns (a package elsewhere).
        "change_plan": frozenset({"max_connections", "bouquet", "allowed_outputs"}),
        "change_plan_renewing": frozenset(
            {"max_connections", "bouquet", "allowed_outputs", "exp_date"}
        ),
    }
    # Bookkeeping columns a panel may rewrite on any save (timestamps, caches).
    volatile_columns: ClassVar[frozenset[str]] = frozenset()
    # Longer than the adapter's timeout, so the emulator acts and the adapter gives up first.
    timeout_fault_latency_ms: ClassVar[int] = 1500

    @pytest.fixture(autouse=True)
    def _declared_capabilities(self, request, adapter):
        """Skip, with the reason, what the kind declares it cannot do."""
        kind = type(adapter)
        self.kind_class = kind
        for operation in getattr(request.function, "contract_needs", ()):
            if not kind.capabilities.can(operation):
                pytest.skip(
                    f"{kind.label} cannot {operation.replace('_', ' ')}: declared in capabilities"
                )

    def can(self, operation: str) -> bool:
        return self.kind_class.capabilities.can(operation)

    def plan_field_names(self) -> set[str]:
        return {f.name for f in self.kind_class.plan_fields}

    # Hooks --------------------------------------------------------------------------------

    def enrich_line(self, line: PanelLine) -> None:
        """Set panel-only fields on a freshly created line (default: nothing)."""

    def make_spec(self, adapter: PanelAdapter, **changes: Any) -> LineSpec:
        token = uuid.uuid4().hex[:10]
        # Odd seconds so that "expiry to the second" is really tested.
        expires = datetime.now(UTC).replace(microsecond=0) + timedelta(days=30, seconds=17)
        can_list = type(adapter).capabilities.can("list_bouquets")
        bouquets = tuple(b.id for b in adapter.list_bouquets()[:2]) if can_list else ()
        values: dict[str, Any] = {
            "username": f"bx{token}",
            "password": f"Pw{token[::-1]}",
            "max_connections": 2,
            "expires_at": expires,
            "bouquets": bouquets,
            "outputs": ("m3u8", "ts"),
            "notes": f"boxoffice order {token}",
        }
        values.update(changes)
        return LineSpec(**values)

    # Helpers ------------------------------------------------------------------------------

    def raw_row(self, panel_lines: Callable[[], Rows], panel_line_id: str) -> dict[str, Any]:
        rows = [r for r in panel_lines() if str(r.get(self.id_column)) == str(panel_line_id)]
        assert len(rows) == 1, f"expected one stored row with id {panel_line_id}, got {len(rows)}"
        return dict(rows[0])

    def rows_named(self, panel_lines: Callable[[], Rows], username: str) -> Rows:
        return [r for r in panel_lines() if r.get(self.username_column) == username]

    def others(self, panel_lines: Callable[[], Rows], panel_line_id: str) -> dict[str, dict]:
        return {
            str(r.get(self.id_column)): dict(r)
            for r in panel_lines()
            if str(r.get(self.id_column)) != str(panel_line_id)
        }

    def assert_only_changed(self, before: dict, after: dict, allowed: frozenset[str]) -> None:
        ignored = allowed | self.volatile_columns
        changed = {
            key: (before.get(key), after.get(key))
            for key in set(before) | set(after)
            if key not in ignored and before.get(key) != after.get(key)
        }
        assert changed == {}, f"columns changed that should not have: {changed}"

    def assert_matches(self, line: PanelLine, spec: LineSpec) -> None:
        assert line.username == spec.username
        assert line.password == spec.password
        assert line.max_connections == spec.max_connections
        if "bouquets" in self.plan_field_names():
            assert set(line.bouquets) == set(spec.bouquets)  # panels may reorder bouquets
        if "outputs" in self.plan_field_names():
            assert set(line.outputs) == set(spec.outputs)
        assert line.expires_at == spec.expires_at
        assert line.notes == spec.notes
        assert line.is_trial is spec.is_trial
        assert line.enabled is True

    def edited_line(
        self,
        adapter: PanelAdapter,
        panel_lines: Callable[[], Rows],
        operation: str,
        edit: Callable[[str], PanelLine],
    ) -> tuple[LineSpec, PanelLine]:
        """Create a line (and a bystander), run `edit`, and check only `operation`'s columns
        changed on that line and nothing at all on the others."""
        spec = self.make_spec(adapter)
        line = adapter.create_line(spec)
        adapter.create_line(self.make_spec(adapter))  # bystander
        self.enrich_line(line)
        before = self.raw_row(panel_lines, line.panel_line_id)
        others_before = self.others(panel_lines, line.panel_line_id)

        result = edit(line.panel_line_id)

        self.assert_only_changed(
            before, self.raw_row(panel_lines, line.panel_line_id), self.changed_columns[operation]
        )
        assert self.others(panel_lines, line.panel_line_id) == others_before
        return spec, result

    # Creating and reading -----------------------------------------------------------------

    def test_it_creates_a_line_then_gets_and_finds_it(self, adapter):
        spec = self.make_spec(adapter)
        created = adapter.create_line(spec)

        assert created.panel_line_id
        assert adapter.get_line(created.panel_line_id).panel_line_id == created.panel_line_id
        found = adapter.find_line(spec.username)
        assert found is not None
        assert found.panel_line_id == created.panel_line_id

    def test_it_round_trips_every_field_it_sends(self, adapter):
        spec = self.make_spec(adapter, max_connections=3, outputs=("m3u8", "ts", "rtmp"))
        created = adapter.create_line(spec)

        for line in (
            created,
            adapter.get_line(created.panel_line_id),
            adapter.find_line(spec.username),
        ):
            assert line is not None
            self.assert_matches(line, spec)

    def test_it_round_trips_a_trial_that_never_expires(self, adapter):
        spec = self.make_spec(adapter, expires_at=None, is_trial=True, outputs=("ts",))
        created = adapter.create_line(spec)

        self.assert_matches(created, spec)
        self.assert_matches(adapter.get_line(created.panel_line_id), spec)

    def test_it_finds_only_an_exact_case_sensitive_username(self, adapter):
        spec = self.make_spec(adapter)
        spec = replace(spec, username="Bx" + spec.username[2:])
        adapter.create_line(spec)
        adapter.create_line(replace(self.make_spec(adapter), username=spec.username + "x"))

        assert adapter.find_line(spec.username.lower()) is None
        assert adapter.find_line(spec.username[:-1]) is None
        found = adapter.find_line(spec.username)
        assert found is not None
        assert found.username == spec.username

    def test_it_finds_nothing_for_an_unknown_username(self, adapter):
        assert adapter.find_line(f"nobody{uuid.uuid4().hex[:8]}") is None

    def test_it_raises_line_not_found_for_an_unknown_line(self, adapter):
        for name, operation in (
            ("get_line", lambda: adapter.get_line("987654321")),
            ("extend", lambda: adapter.extend("987654321", None)),
            ("suspend", lambda: adapter.suspend("987654321")),
            ("delete", lambda: adapter.delete("987654321")),
        ):
            if not self.can(name):
                continue
            with pytest.raises(LineNotFound):
                operation()

    @needs("list_bouquets")
    def test_it_lists_bouquets(self, adapter):
        bouquets = adapter.list_bouquets()
        assert isinstance(bouquets, list)
        assert all(isinstance(b.id, int) and b.name for b in bouquets)

    @needs("delete")
    def test_it_deletes_a_line(self, adapter, panel_lines):
        spec = self.make_spec(adapter)
        line = adapter.create_line(spec)

        adapter.delete(line.panel_line_id)

        with pytest.raises(LineNotFound):
            adapter.get_line(line.panel_line_id)
        assert adapter.find_line(spec.username) is None
        assert self.rows_named(panel_lines, spec.username) == []

    # Failures -----------------------------------------------------------------------------

    @needs("health")
    @pytest.mark.parametrize("mode", TRANSIENT_FAULTS)
    def test_it_raises_transient_errors_when_the_panel_misbehaves(self, adapter, faults, mode):
        spec = self.make_spec(adapter)
        existing = adapter.create_line(self.make_spec(adapter))
        faults(mode)
        try:
            for operation in (
                lambda: adapter.create_line(spec),
                lambda: adapter.get_line(existing.panel_line_id),
                lambda: adapter.find_line(existing.username),
            ):
                with pytest.raises(TransientPanelError) as caught:
                    operation()
                assert caught.value.transient is True
            report = adapter.health()
            assert report.ok is False
            assert report.detail
        finally:
            faults("ok")
        assert adapter.health().ok is True

    def test_it_raises_username_taken_for_a_duplicate(self, adapter, panel_lines):
        spec = self.make_spec(adapter)
        adapter.create_line(spec)

        with pytest.raises(UsernameTaken) as caught:
            adapter.create_line(replace(spec, password="Other1234", notes="someone else"))
        assert caught.value.transient is False
        assert len(self.rows_named(panel_lines, spec.username)) == 1

    def test_it_finds_the_line_after_a_create_that_timed_out(self, adapter, faults, panel_lines):
        spec = self.make_spec(adapter)
        faults("act_then_timeout", latency_ms=self.timeout_fault_latency_ms, count=1)
        try:
            with pytest.raises(TransientPanelError) as caught:
                adapter.create_line(spec)
            assert caught.value.code == "timeout"
        finally:
            faults("ok")

        found = adapter.find_line(spec.username)
        assert found is not None
        assert found.notes == spec.notes
        assert len(self.rows_named(panel_lines, spec.username)) == 1

    def test_it_keeps_one_line_when_a_create_is_retried(self, adapter, panel_lines):
        spec = self.make_spec(adapter)
        first = adapter.create_line(spec)

        with pytest.raises(UsernameTaken):
            adapter.create_line(spec)

        assert len(self.rows_named(panel_lines, spec.username)) == 1
        found = adapter.find_line(spec.username)
        assert found is not None
        assert found.panel_line_id == first.panel_line_id

    # Editing ------------------------------------------------------------------------------

    @needs("extend")
    def test_it_extends_without_touching_anything_else(self, adapter, panel_lines):
        later = datetime.now(UTC).replace(microsecond=0) + timedelta(days=400, seconds=3)
        spec, result = self.edited_line(
            adapter, panel_lines, "extend", lambda line_id: adapter.extend(line_id, later)
        )
        assert result.expires_at == later
        assert result.password == spec.password
        assert adapter.find_line(spec.username).expires_at == later

    @needs("extend")
    def test_it_extends_to_never_without_touching_anything_else(self, adapter, panel_lines):
        _, result = self.edited_line(
            adapter, panel_lines, "extend", lambda line_id: adapter.extend(line_id, None)
        )
        assert result.expires_at is None

    @needs("change_password")
    def test_it_changes_the_password_without_touching_anything_else(self, adapter, panel_lines):
        spec, result = self.edited_line(
            adapter,
            panel_lines,
            "change_password",
            lambda line_id: adapter.change_password(line_id, "N3wPassword42"),
        )
        assert result.password == "N3wPassword42"
        assert result.username == spec.username
        assert adapter.get_line(result.panel_line_id).password == "N3wPassword42"

    @needs("set_connections")
    def test_it_sets_connections_without_touching_anything_else(self, adapter, panel_lines):
        spec, result = self.edited_line(
            adapter,
            panel_lines,
            "set_connections",
            lambda line_id: adapter.set_connections(line_id, 5),
        )
        assert result.max_connections == 5
        assert result.expires_at == spec.expires_at
        assert adapter.get_line(result.panel_line_id).max_connections == 5

    def other_plan_mapping(self, adapter: PanelAdapter) -> dict[str, Any]:
        """A mapping unlike the one `make_spec` gives a line (override for package kinds)."""
        mapping: dict[str, Any] = {}
        if "bouquets" in self.plan_field_names():
            can_list = self.can("list_bouquets")
            mapping["bouquets"] = [b.id for b in adapter.list_bouquets()[1:4]] if can_list else []
        if "outputs" in self.plan_field_names():
            mapping["outputs"] = ["ts"]
        return mapping

    def assert_plan(self, line: PanelLine, mapping: dict[str, Any], connections: int) -> None:
        assert line.max_connections == connections
        if "bouquets" in mapping:
            assert set(line.bouquets) == set(mapping["bouquets"])
        if "outputs" in mapping:
            assert set(line.outputs) == set(mapping["outputs"])

    @needs("change_plan")
    def test_it_changes_the_plan_without_touching_anything_else(self, adapter, panel_lines):
        mapping = self.other_plan_mapping(adapter)
        spec, result = self.edited_line(
            adapter,
            panel_lines,
            "change_plan",
            lambda line_id: adapter.change_plan(line_id, max_connections=4, mapping=mapping),
        )
        for line in (result, adapter.get_line(result.panel_line_id)):
            self.assert_plan(line, mapping, 4)
            assert line.expires_at == spec.expires_at  # the expiry stays
            assert (line.username, line.password) == (spec.username, spec.password)

    @needs("change_plan")
    def test_it_changes_the_plan_and_the_expiry_of_a_renewal_in_one_change(
        self, adapter, panel_lines
    ):
        mapping = self.other_plan_mapping(adapter)
        renewed = datetime.now(UTC).replace(microsecond=0) + timedelta(days=60, seconds=3)
        spec, result = self.edited_line(
            adapter,
            panel_lines,
            "change_plan_renewing",
            lambda line_id: adapter.change_plan(
                line_id, max_connections=1, mapping=mapping, new_expiry=renewed
            ),
        )
        line = adapter.get_line(result.panel_line_id)
        self.assert_plan(line, mapping, 1)
        assert line.expires_at == renewed
        assert (line.username, line.password) == (spec.username, spec.password)

    @needs("suspend", "resume")
    def test_it_suspends_and_resumes_without_touching_anything_else(self, adapter, panel_lines):
        spec, suspended = self.edited_line(
            adapter, panel_lines, "suspend", lambda line_id: adapter.suspend(line_id)
        )
        assert suspended.enabled is False
        assert adapter.get_line(suspended.panel_line_id).enabled is False

        before = self.raw_row(panel_lines, suspended.panel_line_id)
        resumed = adapter.resume(suspended.panel_line_id)

        assert resumed.enabled is True
        after = self.raw_row(panel_lines, suspended.panel_line_id)
        self.assert_only_changed(before, after, self.changed_columns["resume"])
        self.assert_matches(adapter.get_line(resumed.panel_line_id), spec)

    @needs("suspend")
    def test_it_suspends_a_suspended_line_again_without_error(self, adapter):
        line = adapter.create_line(self.make_spec(adapter))
        adapter.suspend(line.panel_line_id)
        assert adapter.suspend(line.panel_line_id).enabled is False

    # Health -------------------------------------------------------------------------------

    @needs("health")
    def test_it_reports_health(self, adapter):
        report = adapter.health()
        assert report.ok is True
        assert report.latency_ms >= 0

    @needs("health")
    def test_it_reports_a_down_panel_without_raising(self, adapter, faults):
        faults("down")
        try:
            report = adapter.health()
        finally:
            faults("ok")
        assert report.ok is False

    # Listing (reconciliation and import) ----------------------------------------------------

    @needs("list_lines")
    def test_it_lists_every_line_once_a_page_at_a_time(self, adapter):
        specs = [self.make_spec(adapter) for _ in range(5)]
        created = {adapter.create_line(spec).panel_line_id: spec for spec in specs}

        listed: list[PanelLine] = []
        cursor = None
        for _ in range(100):
            page = adapter.list_lines(cursor, limit=2)
            assert len(page.lines) <= 2
            listed += page.lines
            cursor = page.next_cursor
            if cursor is None:
                break
        ids = [line.panel_line_id for line in listed]
        assert len(ids) == len(set(ids))  # no line twice
        assert set(created) <= set(ids)
        for line in listed:
            if line.panel_line_id in created:
                self.assert_matches(line, created[line.panel_line_id])

    @needs("list_lines")
    def test_it_lists_in_the_same_order_each_time(self, adapter):
        for _ in range(3):
            adapter.create_line(self.make_spec(adapter))
        first = adapter.list_lines(None, limit=50)
        again = adapter.list_lines(None, limit=50)
        assert [line.panel_line_id for line in first.lines] == [
            line.panel_line_id for line in again.lines
        ]

    @needs("line_count")
    def test_it_counts_its_lines(self, adapter):
        before = adapter.line_count()
        adapter.create_line(self.make_spec(adapter))
        adapter.create_line(self.make_spec(adapter))
        assert adapter.line_count() == before + 2
