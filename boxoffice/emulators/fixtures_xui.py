"""pytest fixture: an XUI.one panel emulator on a free loopback port, one per test.

Use it from a test module or conftest with
`from boxoffice.emulators.fixtures_xui import xui_emulator  # noqa: F401`.
The admin API is at `xui_emulator.admin_url` with api_key "test-api-key".
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from boxoffice.emulators.xui_one import XuiOneEmulator

XUI_TEST_API_KEY = "test-api-key"


@pytest.fixture
def xui_emulator() -> Iterator[XuiOneEmulator]:
    emulator = XuiOneEmulator(
        host="127.0.0.1", port=0, access_code="adminapi1", api_key=XUI_TEST_API_KEY
    ).start()
    try:
        yield emulator
    finally:
        emulator.stop()
