"""A thin wrapper around the official SDK: one configured `StripeClient`, our HTTP timeouts."""

from __future__ import annotations

import stripe
from django.conf import settings


def stripe_client() -> stripe.StripeClient:
    base = {"api": settings.STRIPE_API_BASE} if settings.STRIPE_API_BASE else None
    return stripe.StripeClient(
        settings.STRIPE_SECRET_KEY,
        base_addresses=base,
        # One network retry; the SDK sends an idempotency key with POSTs, so it cannot double-charge.
        max_network_retries=1,
        http_client=stripe.HTTPXClient(timeout=10, allow_sync_methods=True),
    )
