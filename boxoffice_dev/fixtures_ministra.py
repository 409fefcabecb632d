"""pytest fixtures: a Ministra / Stalker REST API emulator over real HTTP on loopback.

Loaded for every test through the root conftest's `pytest_plugins`. One server per session (per
xdist worker), reset to a fresh portal (no accounts, no faults, an empty log) around each test
that asks for `ministra_emulator`.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from boxoffice_dev.ministra import MinistraEmulator

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
