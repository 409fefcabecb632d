"""pytest fixture: a PayPal emulator on a free loopback port, one per test.

Loaded for every test through the root conftest's `pytest_plugins`. Point the adapter at it with
PAYPAL_API_BASE = emulator.base_url and its client id, secret and webhook id."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from boxoffice_dev.paypal import PayPalEmulator


@pytest.fixture
def paypal_emulator() -> Iterator[PayPalEmulator]:
    emulator = PayPalEmulator(host="127.0.0.1", port=0).start()
    try:
        yield emulator
    finally:
        emulator.stop()
