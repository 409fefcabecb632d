"""pytest fixtures: the Ministra / Stalker REST API and OneStream /ext/ API emulators over real
HTTP on loopback.

Loaded for every test through the root conftest's `pytest_plugins`. One server each per session
(per xdist worker), reset to a fresh panel (no accounts or lines, no faults, an empty log, the
starting credits) around each test that asks for `ministra_emulator` / `onestream_emulator`.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from boxoffice_dev.ministra import MinistraEmulator
from boxoffice_dev.onestream import OneStreamEmulator

MINISTRA_API_LOGIN = "billing"
MINISTRA_API_PASSWORD = "test-api-password"


@pytest.fixture(scope="session")
def _ministra_emulator_server() -> Iterator[MinistraEmulator]:
    emulator = MinistraEmulator(
        api_login=MINISTRA_API_LOGIN, api_password=MINISTRA_API_PASSWORD
    ).start()
    try:
        yield emulator
    finally:
        emulator.stop()


@pytest.fixture
def ministra_emulator(_ministra_emulator_server) -> Iterator[MinistraEmulator]:
    emulator = _ministra_emulator_server
    emulator.reset()
    try:
        yield emulator
    finally:
        emulator.reset()


@pytest.fixture(scope="session")
def _onestream_emulator_server() -> Iterator[OneStreamEmulator]:
    emulator = OneStreamEmulator().start()
    try:
        yield emulator
    finally:
        emulator.stop()


@pytest.fixture
def onestream_emulator(_onestream_emulator_server) -> Iterator[OneStreamEmulator]:
    emulator = _onestream_emulator_server
    emulator.reset()
    try:
        yield emulator
    finally:
        emulator.reset()
