"""The kinds whose device is a line with a MAC (Ministra, OneStream): one account creation serves
`create_line` (no MAC) and `create_device` (the MAC, normalized first); the kind writes `_create`."""

from __future__ import annotations

import abc

from boxoffice.panels.adapters.base import LineSpec, PanelAdapter, PanelLine
from boxoffice.panels.adapters.values import normalized_mac


class MacAccountAdapter(PanelAdapter):
    def create_line(self, spec: LineSpec) -> PanelLine:
        self.require("create_line")
        return self._create(spec, mac="")

    def create_device(self, spec: LineSpec) -> PanelLine:
        self.require("create_device")
        return self._create(spec, mac=normalized_mac(spec.mac))

    @abc.abstractmethod
    def _create(self, spec: LineSpec, *, mac: str) -> PanelLine:
        """Create the account (a device when `mac` is set) and return it as read back."""
