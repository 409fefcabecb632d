"""The values that let `make run` work with no configuration at all.

They are public (they are in this file), so they are defaults only when BOXOFFICE_ENV is not
`production`, and a production start refuses them wherever they are set. Nothing here imports
Django: settings.py reads this module before Django is configured.
"""

# The local Stripe emulator's API key and webhook signing secret. Anyone who knows the secret can
# sign a `checkout.session.completed` event, so a production site must never accept it.
STRIPE_SECRET_KEY = "sk_test_emulator"
STRIPE_WEBHOOK_SECRET = "whsec_emulator"  # noqa: S105 - a published placeholder, refused in production

# The local BTCPay Server and NOWPayments emulators' store, keys and signing secrets (make run's
# fixed ports; tests start their own on free ports). Refused in production like Stripe's.
BTCPAY_URL = "http://127.0.0.1:8400"
BTCPAY_STORE_ID = "emulator-store"
BTCPAY_API_KEY = "btcpay-emulator-key"
BTCPAY_WEBHOOK_SECRET = "btcpay-emulator-secret"  # noqa: S105 - a published placeholder
NOWPAYMENTS_API_BASE = "http://127.0.0.1:8500"
NOWPAYMENTS_API_KEY = "nowpayments-emulator-key"
NOWPAYMENTS_IPN_SECRET = "nowpayments-emulator-secret"  # noqa: S105 - a published placeholder
# The local PayPal emulator's REST app and webhook: with them anyone could have the emulator
# vouch for an event, so a production site must never accept them.
PAYPAL_CLIENT_ID = "emulator-client-id"
PAYPAL_CLIENT_SECRET = "emulator-client-secret"  # noqa: S105 - a published placeholder
PAYPAL_WEBHOOK_ID = "WH-EMULATOR"

# The demo catalogue's bank account (a well-known example IBAN).
BANK_TRANSFER_DETAILS = "Demo TV Ltd\nIBAN: DE89 3704 0044 0532 0130 00\nBIC: COBADEFFXXX"

SITE_URL = "http://127.0.0.1:8000"
