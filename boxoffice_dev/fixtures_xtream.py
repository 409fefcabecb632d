"""pytest fixtures: the Xtream UI and NXT emulators over real HTTP on loopback.

One server per session (per xdist worker) each, reset before and after every test that asks
for it, like `fixtures_xui`.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from boxoffice_dev.nxt import NxtEmulator
from boxoffice_dev.xtream_ui import XtreamUiEmulator

XTREAM_TEST_API_PASS = "test-api-pass"


@pytest.fixture(scope="session")
def _xtream_emulator_server() -> Iterator[XtreamUiEmulator]:
    emulator = XtreamUiEmulator(api_pass=XTREAM_TEST_API_PASS).start()
    try:
        yield emulator
    finally:
        emulator.stop()


@pytest.fixture
def xtream_emulator(_xtream_emulator_server) -> Iterator[XtreamUiEmulator]:
    emulator = _xtream_emulator_server
    emulator.reset()
    try:
        yield emulator
    finally:
        emulator.panel.api_pass = XTREAM_TEST_API_PASS
        emulator.panel.api_ips = ["127.0.0.1", "::1"]
        emulator.reset()


@pytest.fixture(scope="session")
def _nxt_emulator_server() -> Iterator[NxtEmulator]:
    emulator = NxtEmulator().start()
    try:
        yield emulator
    finally:
        emulator.stop()


@pytest.fixture
def nxt_emulator(_nxt_emulator_server) -> Iterator[NxtEmulator]:
    emulator = _nxt_emulator_server
    emulator.reset()
    try:
        yield emulator
    finally:
        emulator.reset()
