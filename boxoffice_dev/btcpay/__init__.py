"""The BTCPay Server (Greenfield) emulator for `make run` and tests."""

from boxoffice_dev.btcpay.server import BTCPayEmulator

__all__ = ["BTCPayEmulator"]
