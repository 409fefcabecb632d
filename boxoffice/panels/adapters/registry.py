"""Panel kinds: kind -> adapter class. Adding a kind = one folder + one line in ADAPTERS.

Everything else (the Panel model's kind choices, the admin form's fields, the TOML keys of
`boxoffice apply`, the plan mapping, how a customer reaches a line, what the operation layer
may ask) is read from the adapter class, so no other file changes and no migration is needed
(`Panel.kind` takes its choices from `kind_choices`, a callable).

Experimental kinds (`EXPERIMENTAL`: NXT, which drives a web UI rather than an API) are in the
registry only while the operator lists them in `BOXOFFICE_EXPERIMENTAL_PANEL_KINDS`: until then
they are neither offered in the back office nor usable by `apply` or the worker.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, MutableMapping
from contextlib import contextmanager

from django.conf import settings

from boxoffice.panels.adapters.base import PanelAdapter, PanelConfig
from boxoffice.panels.adapters.ministra.adapter import MinistraAdapter
from boxoffice.panels.adapters.nxt.adapter import NxtAdapter
from boxoffice.panels.adapters.onestream.adapter import OneStreamAdapter
from boxoffice.panels.adapters.xtream_ui.adapter import XtreamUiAdapter
from boxoffice.panels.adapters.xui_one.adapter import XuiOneAdapter
from boxoffice.panels.adapters.xui_one_reseller.adapter import XuiOneResellerAdapter

EXPERIMENTAL: frozenset[str] = frozenset({NxtAdapter.kind})


def experimental_enabled() -> frozenset[str]:
    """The experimental kinds the operator turned on (read per call, so tests can override)."""
    listed = getattr(settings, "BOXOFFICE_EXPERIMENTAL_PANEL_KINDS", ()) or ()
    return frozenset(str(kind).strip() for kind in listed) & EXPERIMENTAL


class _Kinds(MutableMapping[str, type[PanelAdapter]]):
    """A dict of kinds that hides the experimental ones the operator has not enabled."""

    def __init__(self, kinds: dict[str, type[PanelAdapter]]):
        self._kinds = kinds

    def _visible(self, kind: str) -> bool:
        return kind not in EXPERIMENTAL or kind in experimental_enabled()

    def __getitem__(self, kind: str) -> type[PanelAdapter]:
        if not self._visible(kind):
            raise KeyError(kind)
        return self._kinds[kind]

    def __setitem__(self, kind: str, cls: type[PanelAdapter]) -> None:
        self._kinds[kind] = cls

    def __delitem__(self, kind: str) -> None:
        del self._kinds[kind]

    def __iter__(self) -> Iterator[str]:
        return (kind for kind in list(self._kinds) if self._visible(kind))

    def __len__(self) -> int:
        return sum(1 for _ in self)


ADAPTERS: MutableMapping[str, type[PanelAdapter]] = _Kinds(
    {
        XuiOneAdapter.kind: XuiOneAdapter,
        XuiOneResellerAdapter.kind: XuiOneResellerAdapter,
        XtreamUiAdapter.kind: XtreamUiAdapter,
        MinistraAdapter.kind: MinistraAdapter,
        OneStreamAdapter.kind: OneStreamAdapter,
        NxtAdapter.kind: NxtAdapter,
    }
)


def kind_choices() -> list[tuple[str, str]]:
    return [(kind, cls.label) for kind, cls in ADAPTERS.items()]


def adapter_class(kind: str) -> type[PanelAdapter]:
    try:
        return ADAPTERS[kind]
    except KeyError:
        if kind in EXPERIMENTAL:
            raise ValueError(
                f"panel kind {kind!r} is experimental and off; add it to "
                "BOXOFFICE_EXPERIMENTAL_PANEL_KINDS to use it"
            ) from None
        raise ValueError(f"unknown panel kind {kind!r}; known: {', '.join(ADAPTERS)}") from None


def adapter_for(kind: str, config: PanelConfig) -> PanelAdapter:
    return adapter_class(kind)(config)


# Kinds whose API names a line by username and password (Xtream UI) ask Boxoffice for its own
# password of a username. The provisioning app, which holds the lines, registers the lookup at
# start-up (panels sit below provisioning and cannot import it).
PasswordLookup = Callable[[int, str], "str | None"]
_password_lookups: list[PasswordLookup] = []


def line_password_lookup_register(lookup: PasswordLookup) -> None:
    if lookup not in _password_lookups:
        _password_lookups.append(lookup)


def line_password(panel_id: int | None, username: str) -> str | None:
    """Boxoffice's password for `username` on panel `panel_id`, or None if it has no such line."""
    if panel_id is None:
        return None
    for lookup in _password_lookups:
        password = lookup(panel_id, username)
        if password:
            return password
    return None


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
