"""Panel kinds: kind -> adapter class. Adding a kind = one folder + one line in ADAPTERS.

Everything else (the Panel model's kind choices, the admin form's fields, the TOML keys of
`boxoffice apply`, the plan mapping, how a customer reaches a line, what the operation layer
may ask) is read from the adapter class, so no other file changes and no migration is needed
(`Panel.kind` takes its choices from `kind_choices`, a callable).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from boxoffice.panels.adapters.base import PanelAdapter, PanelConfig
from boxoffice.panels.adapters.xui_one.adapter import XuiOneAdapter
from boxoffice.panels.adapters.xui_one_reseller.adapter import XuiOneResellerAdapter

ADAPTERS: dict[str, type[PanelAdapter]] = {
    XuiOneAdapter.kind: XuiOneAdapter,
    XuiOneResellerAdapter.kind: XuiOneResellerAdapter,
}


def kind_choices() -> list[tuple[str, str]]:
    return [(kind, cls.label) for kind, cls in ADAPTERS.items()]


def adapter_class(kind: str) -> type[PanelAdapter]:
    try:
        return ADAPTERS[kind]
    except KeyError:
        raise ValueError(f"unknown panel kind {kind!r}; known: {', '.join(ADAPTERS)}") from None


def adapter_for(kind: str, config: PanelConfig) -> PanelAdapter:
    return adapter_class(kind)(config)


@contextmanager
def registered_kind(cls: type[PanelAdapter]) -> Iterator[type[PanelAdapter]]:
    """For tests: the kind is known inside the block, and forgotten after it."""
    if cls.kind in ADAPTERS:
        raise ValueError(f"panel kind {cls.kind!r} is already registered")
    ADAPTERS[cls.kind] = cls
    try:
        yield cls
    finally:
        ADAPTERS.pop(cls.kind, None)
