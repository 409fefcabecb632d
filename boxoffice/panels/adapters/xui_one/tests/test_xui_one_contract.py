"""The adapter contract against the XUI One emulator over real HTTP on loopback."""

from __future__ import annotations

import json
from collections.abc import Iterator
from urllib.parse import urlencode

import httpx
import pytest

from boxoffice.panels.adapters.base import PanelLine
from boxoffice.panels.adapters.contract import PanelAdapterContract
from boxoffice.panels.adapters.xui_one.adapter import XuiOneAdapter


class TestXuiOneContract(PanelAdapterContract):
    # Short, so the timeout test waits out 0.5 s: the emulator answers on loopback in ms.
    timeout_fault_latency_ms = 800

    @pytest.fixture(autouse=True)
    def _emulator(self, xui_emulator):
        self.emulator = xui_emulator

    @pytest.fixture
    def adapter(self, xui_emulator) -> Iterator[XuiOneAdapter]:
        config = XuiOneAdapter.config_for(
            api_url=xui_emulator.base_url,
            timeout=0.5,
            settings={"api_key": xui_emulator.api_key, "access_code": xui_emulator.access_code},
        )
        adapter = XuiOneAdapter(config)
        yield adapter
        adapter.close()

    @pytest.fixture
    def faults(self, xui_emulator):
        yield xui_emulator.set_faults
        xui_emulator.set_faults("ok")

    @pytest.fixture
    def panel_lines(self, xui_emulator):
        return xui_emulator.lines

    def enrich_line(self, line: PanelLine) -> None:
        """Give the line the fields only an operator would set on the panel, with one full
        edit_line written by hand (not by the adapter under test)."""
        stored = next(r for r in self.emulator.lines() if r["id"] == line.panel_line_id)
        expiry = (
            ("exp_date", f"@{stored['exp_date']}") if stored["exp_date"] else ("no_expire", "1")
        )
        form = [
            ("id", stored["id"]),
            ("username", stored["username"]),
            ("password", stored["password"]),
            ("max_connections", stored["max_connections"]),
            ("enabled", "1"),
            ("admin_enabled", "1"),
            expiry,
            ("bouquets_selected", stored["bouquet"]),
            *(("access_output[]", str(n)) for n in json.loads(stored["allowed_outputs"])),
            ("admin_notes", stored["admin_notes"]),
            ("reseller_notes", "renews by bank transfer"),
            ("contact", "jane.doe@example.test"),
            ("forced_country", "DE"),
            ("allowed_ips[]", "203.0.113.7"),
            ("allowed_ips[]", "203.0.113.8"),
            ("allowed_ua[]", "VLC/3.0.18"),
            ("is_restreamer", "1"),
            ("is_isplock", "1"),
        ]
        response = httpx.post(
            self.emulator.admin_url,
            params={"api_key": self.emulator.api_key, "action": "edit_line"},
            content=urlencode(form),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
            timeout=5,
        )
        assert response.json()["status"] == "STATUS_SUCCESS"
        enriched = next(r for r in self.emulator.lines() if r["id"] == line.panel_line_id)
        assert enriched["allowed_ips"] == '["203.0.113.7","203.0.113.8"]'
        assert enriched["is_restreamer"] == "1"
