"""pytest fixtures: the Xtream UI, NXT, Ministra / Stalker and OneStream panel emulators over
real HTTP on loopback (`boxoffice_dev.panel_http`).

Loaded for every test through the root conftest's `pytest_plugins`. One server each per session
(per xdist worker), reset to a fresh panel (no lines, no faults, an empty request log, the
starting credits) around each test that asks for `xtream_emulator`, `nxt_emulator`,
`ministra_emulator` or `onestream_emulator`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from boxoffice_dev.ministra import MinistraEmulator
from boxoffice_dev.nxt import NxtEmulator
from boxoffice_dev.onestream import OneStreamEmulator
from boxoffice_dev.panel_http import PanelEmulator
from boxoffice_dev.xtream_ui import XtreamUiEmulator

XTREAM_TEST_API_PASS = "test-api-pass"
MINISTRA_API_LOGIN = "billing"
MINISTRA_API_PASSWORD = "test-api-password"


def _panel_fixtures(
    name: str,
    make: Callable[[], PanelEmulator],
    restore: Callable[[Any], None] | None = None,
) -> tuple[Any, Any]:
    """A session-wide server `_<name>_server` and the per-test fixture `<name>` resetting it
    (after `restore` puts back what a test may have changed on it)."""

    @pytest.fixture(scope="session", name=f"_{name}_server")
    def server() -> Iterator[PanelEmulator]:
        emulator = make().start()
        try:
            yield emulator
        finally:
            emulator.stop()

    @pytest.fixture(name=name)
    def each(request) -> Iterator[PanelEmulator]:
        emulator = request.getfixturevalue(f"_{name}_server")
        emulator.reset()
        try:
            yield emulator
        finally:
            if restore is not None:
                restore(emulator)
            emulator.reset()

    return server, each


def _restore_xtream(emulator: XtreamUiEmulator) -> None:
    emulator.panel.api_pass = XTREAM_TEST_API_PASS
    emulator.panel.api_ips = ["127.0.0.1", "::1"]


_xtream_server, xtream_emulator = _panel_fixtures(
    "xtream_emulator", lambda: XtreamUiEmulator(api_pass=XTREAM_TEST_API_PASS), _restore_xtream
)
_nxt_server, nxt_emulator = _panel_fixtures("nxt_emulator", NxtEmulator)
_ministra_server, ministra_emulator = _panel_fixtures(
    "ministra_emulator",
    lambda: MinistraEmulator(api_login=MINISTRA_API_LOGIN, api_password=MINISTRA_API_PASSWORD),
)
_onestream_server, onestream_emulator = _panel_fixtures("onestream_emulator", OneStreamEmulator)
