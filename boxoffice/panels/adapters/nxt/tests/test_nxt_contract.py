"""The adapter contract against the NXT web-form emulator, for what the driver declares."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from boxoffice.panels.adapters.contract import PanelAdapterContract
from boxoffice.panels.adapters.nxt.adapter import NxtAdapter

PACKAGE_REASON = "NXT takes connections and expiry from the package, not from the line spec"


def nxt_adapter(emulator, **options) -> NxtAdapter:
    config = NxtAdapter.config_for(
        api_url=emulator.base_url,
        timeout=0.5,
        settings={"login_username": emulator.username, "login_password": emulator.password},
    )
    # No 5 s spacing between logins and no 3/5/7 s waits for the list in tests.
    options = {"login_spacing": 0, "find_delays": (0, 0.05, 0.1), **options}
    return NxtAdapter(type(config)(**{**config.__dict__, "options": options}))


class TestNxtContract(PanelAdapterContract):
    timeout_fault_latency_ms = 800

    @pytest.fixture
    def adapter(self, nxt_emulator) -> Iterator[NxtAdapter]:
        adapter = nxt_adapter(nxt_emulator)
        yield adapter
        adapter.close()

    @pytest.fixture
    def faults(self, nxt_emulator):
        yield nxt_emulator.set_faults
        nxt_emulator.set_faults("ok")

    @pytest.fixture
    def panel_lines(self, nxt_emulator):
        return nxt_emulator.lines

    def make_spec(self, adapter, **changes):
        changes.setdefault("mapping", {"package": "9" if changes.get("is_trial") else "1"})
        return super().make_spec(adapter, **changes)

    def assert_matches(self, line, spec):
        # What NXT keeps from the spec; connections and expiry are the package's.
        assert line.username == spec.username
        assert line.password == spec.password
        assert line.notes == spec.notes
        assert line.is_trial is spec.is_trial
        assert line.enabled is True
        assert line.package_id == spec.mapping["package"]
        assert line.max_connections >= 1
