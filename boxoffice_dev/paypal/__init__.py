"""PayPal emulator: `PayPalEmulator(...).start()`, then set PAYPAL_API_BASE to `.base_url`."""

from boxoffice_dev.paypal.server import PayPalEmulator
from boxoffice_dev.paypal.wire import EVENT_TYPES, EmulatorError

__all__ = ["EVENT_TYPES", "EmulatorError", "PayPalEmulator"]
