"""The NOWPayments emulator for `make run` and tests."""

from boxoffice_dev.nowpayments.server import NOWPaymentsEmulator

__all__ = ["NOWPaymentsEmulator"]
