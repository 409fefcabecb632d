"""Panel kinds: kind -> adapter class. Adding a kind = one folder + one line here."""

from __future__ import annotations

from boxoffice.panels.adapters.base import PanelAdapter, PanelConfig
from boxoffice.panels.adapters.xui_one.adapter import XuiOneAdapter

ADAPTERS: dict[str, type[PanelAdapter]] = {
    XuiOneAdapter.kind: XuiOneAdapter,
}

KIND_CHOICES = [(kind, cls.label) for kind, cls in ADAPTERS.items()]


def adapter_for(kind: str, config: PanelConfig) -> PanelAdapter:
    try:
        cls = ADAPTERS[kind]
    except KeyError:
        raise ValueError(f"unknown panel kind {kind!r}; known: {', '.join(ADAPTERS)}") from None
    return cls(config)
