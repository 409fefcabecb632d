"""PayPal's wire format as the emulator needs it: ids, money, errors, transmission signatures."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import string
import zlib
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

EVENT_TYPES = (
    "CHECKOUT.ORDER.APPROVED",
    "CHECKOUT.PAYMENT-APPROVAL.REVERSED",
    "PAYMENT.CAPTURE.COMPLETED",
    "PAYMENT.CAPTURE.PENDING",
    "PAYMENT.CAPTURE.DENIED",
    "PAYMENT.CAPTURE.REFUNDED",
    "CUSTOMER.DISPUTE.CREATED",
)
ZERO_DECIMAL = frozenset({"HUF", "JPY", "TWD"})
_ALNUM = string.ascii_uppercase + string.digits
_VALUE = re.compile(r"\d{1,10}(\.\d{1,2})?")


def new_id(length: int = 17) -> str:
    return "".join(secrets.choice(_ALNUM) for _ in range(length))


def now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_money(obj: Any, param: str) -> Decimal:
    if not isinstance(obj, dict):
        raise invalid(param, "MISSING_REQUIRED_PARAMETER")
    currency, value = obj.get("currency_code"), obj.get("value")
    if not isinstance(currency, str) or not re.fullmatch(r"[A-Z]{3}", currency):
        raise invalid(f"{param}/currency_code", "INVALID_CURRENCY_CODE")
    if not isinstance(value, str) or not _VALUE.fullmatch(value):
        raise invalid(f"{param}/value", "INVALID_PARAMETER_SYNTAX")
    if currency in ZERO_DECIMAL and "." in value:
        raise invalid(f"{param}/value", "DECIMAL_PRECISION")
    return Decimal(value)


def money(amount: Decimal, currency: str) -> dict[str, str]:
    places = Decimal("1") if currency in ZERO_DECIMAL else Decimal("0.01")
    return {"currency_code": currency, "value": str(amount.quantize(places))}


def transmission_signature(
    key: bytes, transmission_id: str, time: str, webhook_id: str, body: bytes
) -> str:
    """The emulator's stand-in for PayPal's SHA256withRSA signature over
    `{transmission_id}|{time}|{webhook_id}|{crc32(body)}`: an HMAC with a key only the emulator
    holds, so only its own verify-webhook-signature endpoint can check it."""
    message = f"{transmission_id}|{time}|{webhook_id}|{zlib.crc32(body)}".encode()
    return base64.b64encode(hmac.new(key, message, hashlib.sha256).digest()).decode()


class EmulatorError(Exception):
    """A request the emulator refuses, shaped like PayPal's error object."""

    def __init__(
        self,
        name: str,
        message: str,
        *,
        status: int = 400,
        details: list[dict[str, str]] | None = None,
    ):
        super().__init__(message)
        self.name = name
        self.message = message
        self.status = status
        self.details = details or []

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "message": self.message,
            "debug_id": new_id(13).lower(),
            "details": self.details,
        }


def invalid(field: str, issue: str) -> EmulatorError:
    return EmulatorError(
        "INVALID_REQUEST",
        "Request is not well-formed, syntactically incorrect, or violates schema.",
        details=[{"field": f"/{field}", "issue": issue}],
    )


def unprocessable(issue: str, description: str) -> EmulatorError:
    return EmulatorError(
        "UNPROCESSABLE_ENTITY",
        "The requested action could not be performed, semantically incorrect, or failed "
        "business validation.",
        status=422,
        details=[{"issue": issue, "description": description}],
    )


def not_found(kind: str, object_id: str) -> EmulatorError:
    return EmulatorError(
        "RESOURCE_NOT_FOUND",
        "The specified resource does not exist.",
        status=404,
        details=[{"issue": "INVALID_RESOURCE_ID", "description": f"No {kind} {object_id}."}],
    )
