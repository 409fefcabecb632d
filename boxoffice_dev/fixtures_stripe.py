"""pytest fixture: a Stripe emulator on a free loopback port, one per test.

Loaded for every test through the root conftest's `pytest_plugins`. Point the SDK at it with
`stripe.StripeClient(emulator.api_key, base_addresses={"api": emulator.base_url})`.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from boxoffice_dev.stripe import StripeEmulator


@pytest.fixture
def stripe_emulator() -> Iterator[StripeEmulator]:
    emulator = StripeEmulator(host="127.0.0.1", port=0).start()
    try:
        yield emulator
    finally:
        emulator.stop()
