"""pytest fixtures: a BTCPay Server and a NOWPayments emulator on free loopback ports, one per
test. Loaded for every test through the root conftest's `pytest_plugins`."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from boxoffice_dev.btcpay import BTCPayEmulator
from boxoffice_dev.nowpayments import NOWPaymentsEmulator


@pytest.fixture
def btcpay_emulator() -> Iterator[BTCPayEmulator]:
    emulator = BTCPayEmulator(host="127.0.0.1", port=0).start()
    try:
        yield emulator
    finally:
        emulator.stop()


@pytest.fixture
def nowpayments_emulator() -> Iterator[NOWPaymentsEmulator]:
    emulator = NOWPaymentsEmulator(host="127.0.0.1", port=0).start()
    try:
        yield emulator
    finally:
        emulator.stop()
