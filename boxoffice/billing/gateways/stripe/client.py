"""A thin wrapper around the official SDK: one configured `StripeClient`, our HTTP timeouts."""

from __future__ import annotations

from typing import TYPE_CHECKING

import stripe
from stripe._base_address import BaseAddresses  # the SDK exports the type only here

if TYPE_CHECKING:
    from boxoffice.billing.gateways.stripe.adapter import StripeConfig


def stripe_client(config: StripeConfig) -> stripe.StripeClient:
    base: BaseAddresses | None = {"api": config.api_base} if config.api_base else None
    return stripe.StripeClient(
        config.secret_key,
        base_addresses=base,
        # One network retry; the SDK sends an idempotency key with POSTs, so it cannot double-charge.
        max_network_retries=1,
        http_client=stripe.HTTPXClient(timeout=10, allow_sync_methods=True),
    )
