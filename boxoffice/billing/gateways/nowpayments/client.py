"""The NOWPayments API's wire: one JSON call through the HTTP choke point, `x-api-key`, a capped
answer; every failure is a PaymentError without the key in it."""

from __future__ import annotations

import json
from typing import Any

import httpx

from boxoffice.billing.gateways.base import PaymentError
from boxoffice.lib.http import http_client, http_read_capped

MAX_ANSWER_BYTES = 512 * 1024


def nowpayments_call(
    *, api_base: str, api_key: str, method: str, path: str, body: dict | None = None
) -> Any:
    headers = {"x-api-key": api_key, "Accept": "application/json"}
    try:
        with http_client(base_url=api_base, headers=headers) as client:
            with client.stream(method, path, json=body) as response:
                raw = http_read_capped(response, max_bytes=MAX_ANSWER_BYTES)
    except httpx.HTTPError as exc:
        raise PaymentError(f"NOWPayments {method} {path}: {type(exc).__name__}") from None
    if response.status_code >= 400:
        raise PaymentError(f"NOWPayments {method} {path}: HTTP {response.status_code}")
    try:
        return json.loads(raw)
    except ValueError:
        raise PaymentError(f"NOWPayments {method} {path}: the answer is not JSON") from None
