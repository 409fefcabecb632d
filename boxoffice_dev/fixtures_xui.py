"""pytest fixtures: an XUI.one panel emulator over real HTTP on loopback.

Loaded for every test through the root conftest's `pytest_plugins`. `xui_emulator` is one server
per test session (per xdist worker), reset to a fresh panel (no lines, no faults, an empty
request log) before and after each test that asks for it; starting and stopping a server per
test cost more than most tests. The admin API is at `xui_emulator.admin_url` with
`xui_emulator.api_key` ("test-api-key").
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from boxoffice_dev.xui_one import XuiOneEmulator

XUI_TEST_API_KEY = "test-api-key"


@pytest.fixture(scope="session")
def _xui_emulator_server() -> Iterator[XuiOneEmulator]:
    emulator = XuiOneEmulator(
        host="127.0.0.1", port=0, access_code="adminapi1", api_key=XUI_TEST_API_KEY
    ).start()
    try:
        yield emulator
    finally:
        emulator.stop()


@pytest.fixture
def xui_emulator(_xui_emulator_server) -> Iterator[XuiOneEmulator]:
    emulator = _xui_emulator_server
    emulator.reset()
    try:
        yield emulator
    finally:
        emulator.reset()


@pytest.fixture
def xui_emulator_factory() -> Iterator[Callable[..., XuiOneEmulator]]:
    """More panels for one test: `xui_emulator_factory(api_key="other-key")` starts another
    emulator (usable as a context manager to stop it early); every one stops when the test ends."""
    started: list[XuiOneEmulator] = []

    def start(*, access_code: str = "adminapi1", api_key: str = XUI_TEST_API_KEY) -> XuiOneEmulator:
        emulator = XuiOneEmulator(
            host="127.0.0.1", port=0, access_code=access_code, api_key=api_key
        ).start()
        started.append(emulator)
        return emulator

    yield start
    for emulator in started:
        emulator.stop()
