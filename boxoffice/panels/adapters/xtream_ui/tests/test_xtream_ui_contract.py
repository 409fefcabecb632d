"""The adapter contract against the Xtream UI emulator over real HTTP on loopback."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from boxoffice.panels.adapters.base import PermanentPanelError
from boxoffice.panels.adapters.contract import PanelAdapterContract
from boxoffice.panels.adapters.xtream_ui.adapter import XtreamUiAdapter


class TestXtreamUiContract(PanelAdapterContract):
    # The line is named by its username (api.php has no lookup by id).
    id_column = "username"
    timeout_fault_latency_ms = 800
    changed_columns = {
        **PanelAdapterContract.changed_columns,
        # The plan is bouquets + connections here (outputs are not editable through api.php).
        "change_plan": frozenset({"max_connections", "bouquet"}),
        "change_plan_renewing": frozenset({"max_connections", "bouquet", "exp_date"}),
    }

    @pytest.fixture
    def adapter(self, xtream_emulator) -> Iterator[XtreamUiAdapter]:
        config = XtreamUiAdapter.config_for(
            api_url=xtream_emulator.base_url,
            timeout=0.5,
            settings={"api_pass": xtream_emulator.api_pass},
        )
        adapter = XtreamUiAdapter(config)
        yield adapter
        adapter.close()

    @pytest.fixture
    def faults(self, xtream_emulator):
        yield xtream_emulator.set_faults
        xtream_emulator.set_faults("ok")

    @pytest.fixture
    def panel_lines(self, xtream_emulator):
        return xtream_emulator.users

    def test_it_extends_to_never_without_touching_anything_else(self, adapter, panel_lines):
        """api.php cannot set exp_date back to NULL (a form value is never SQL NULL): the
        adapter refuses clearly instead, and the line stays as it was."""
        spec = self.make_spec(adapter)
        line = adapter.create_line(spec)
        before = self.raw_row(panel_lines, line.panel_line_id)

        with pytest.raises(PermanentPanelError) as caught:
            adapter.extend(line.panel_line_id, None)

        assert caught.value.code == "unlimited_unsupported"
        assert self.raw_row(panel_lines, line.panel_line_id) == before

    def test_it_sends_every_change_as_a_dated_unix_expiry(self, adapter, panel_lines):
        later = datetime.now(UTC).replace(microsecond=0) + timedelta(days=9, seconds=5)
        line = adapter.create_line(self.make_spec(adapter))
        adapter.extend(line.panel_line_id, later)
        assert self.raw_row(panel_lines, line.panel_line_id)["exp_date"] == str(
            int(later.timestamp())
        )
