"""Stripe emulator: `StripeEmulator(...).start()`, then point the SDK at `.base_url`."""

from boxoffice_dev.stripe.server import StripeEmulator
from boxoffice_dev.stripe.wire import API_VERSION, EVENT_TYPES, EmulatorError, sign_payload

__all__ = ["API_VERSION", "EVENT_TYPES", "EmulatorError", "StripeEmulator", "sign_payload"]
