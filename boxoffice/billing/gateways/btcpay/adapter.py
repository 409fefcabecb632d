"""BTCPay Server (Greenfield API): an invoice per checkout, its checkout page, signed webhooks.

What BTCPay says in a webhook is only a nudge: before an event moves an order, the invoice and
its payment methods are read anew (`event_refetch`, outside any transaction) and the order follows
the invoice's state as BTCPay has it now, never the event's type or the order events arrive in:

- `New` with nothing paid: nothing to do; `New` part-paid (`PaidPartial`): pending (the customer
  may still pay the rest before the invoice expires; the pending row records that money came);
- `Processing` (paid, waiting for confirmations): pending;
- `Settled`: confirmed, with the invoice's price and currency (billing checks them against the
  order). An invoice settled while paid less than its price by more than a cent (a store's
  payment tolerance) is reported as partial: underpaid crypto is never provisioned without a
  person; an invoice the merchant marked settled (`Marked`) is their decision and confirmed;
- `Expired` part-paid (`PaidPartial`, or anything received): partial with the fiat value received,
  so billing sends it to review and nothing is provisioned; `Expired` with nothing paid: expired;
- `Invalid`: failed.

The fiat value received is the sum over payment methods of `paymentMethodPaid` x `rate` (each
method's rate is fiat per coin), rounded down to the cent: never more than what arrived.

Event id (billing's idempotency key) = `originalDeliveryId` when BTCPay sends one, else
`deliveryId`: BTCPay retries a delivery under the same `deliveryId`, and a redelivery made from its
dashboard carries a new `deliveryId` with `isRedelivery` and the original's id in
`originalDeliveryId`; both are the same event once.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, replace
from dataclasses import field as dc_field
from decimal import ROUND_DOWN, Decimal, InvalidOperation
from typing import Any
from urllib.parse import quote

from django.utils.translation import gettext_lazy as _

from boxoffice.billing.gateways import base
from boxoffice.billing.gateways.base import (
    CheckoutRef,
    CheckoutRequest,
    CheckoutStart,
    GatewayAdapter,
    GatewayConfig,
    PaymentError,
    PaymentUpdate,
    UnableToTakePayment,
    VerifiedEvent,
    WebhookRejected,
)
from boxoffice.billing.gateways.btcpay.client import greenfield_call
from boxoffice.lib import local_defaults

logger = logging.getLogger(__name__)

EVENT_TYPES = frozenset(
    {
        "InvoiceCreated",
        "InvoiceReceivedPayment",
        "InvoiceProcessing",
        "InvoiceSettled",
        "InvoiceExpired",
        "InvoiceInvalid",
        "InvoicePaymentSettled",
    }
)
# The refreshed invoice, kept in the event's payload under this key for parse_event.
FETCHED = "_fetched_invoice"
CENT = Decimal("0.01")
_UNAVAILABLE = (
    "Bitcoin payments are not available right now. Please try again in a minute or choose "
    "another payment method."
)


def _decimal(value: Any) -> Decimal | None:
    """A money amount as BTCPay writes it (a string, sometimes a number), or None."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return None
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        return None
    return amount if amount.is_finite() and amount >= 0 else None


def _short_text(value: Any, limit: int = 255) -> bool:
    return isinstance(value, str) and 0 < len(value) <= limit


def _event_shape_problem(payload: Any) -> str:
    if not isinstance(payload, dict):
        return "not a JSON object"
    for name in ("deliveryId", "type", "invoiceId"):
        if not _short_text(payload.get(name), 100 if name == "type" else 255):
            return f"no {name}"
    original = payload.get("originalDeliveryId")
    if original is not None and not _short_text(original):
        return "originalDeliveryId is not text"
    metadata = payload.get("metadata")
    if metadata is not None and not isinstance(metadata, dict):
        return "metadata is not an object"
    return ""


@dataclass(frozen=True)
class BTCPayConfig(GatewayConfig):
    url: str = ""  # the BTCPay Server, e.g. https://pay.example.com
    store_id: str = ""
    api_key: str = dc_field(default="", repr=False)
    webhook_secret: str = dc_field(default="", repr=False)

    config_fields = (
        base.ConfigField("url", "Server", kind="url", help="Your BTCPay Server, https://..."),
        base.ConfigField("store_id", "Store ID", help="BTCPay, Store > Settings"),
        base.ConfigField(
            "api_key",
            "Greenfield API key",
            secret=True,
            help="With btcpay.store.cancreateinvoice and btcpay.store.canviewinvoices",
        ),
        base.ConfigField(
            "webhook_secret",
            "Webhook secret",
            secret=True,
            help="The secret of the store's webhook for /billing/webhooks/btcpay/",
        ),
    )

    @classmethod
    def from_account(cls, values, settings) -> BTCPayConfig:
        config = super().from_account(values, settings)
        assert isinstance(config, BTCPayConfig)
        return replace(config, url=config.url.rstrip("/"))

    @classmethod
    def from_settings(cls, settings) -> BTCPayConfig:
        return cls(
            url=settings.BTCPAY_URL.rstrip("/"),
            store_id=settings.BTCPAY_STORE_ID,
            api_key=settings.BTCPAY_API_KEY,
            webhook_secret=settings.BTCPAY_WEBHOOK_SECRET,
        )

    def problems(self, settings) -> list[str]:
        problems = []
        where = f"{settings.SITE_URL}/billing/webhooks/btcpay/"
        if not self.url:
            problems.append(
                "BTCPAY_URL is not set: set it to your BTCPay Server's address (https://...)."
            )
        elif not self.url.lower().startswith("https://"):
            problems.append(
                f"BTCPAY_URL={self.url} is not an https:// address: the API key would travel in "
                "clear (an http:// address is the local emulator's)."
            )
        if not self.store_id:
            problems.append(
                "BTCPAY_STORE_ID is not set: set it to the store's id (BTCPay, Store > Settings)."
            )
        elif self.store_id == local_defaults.BTCPAY_STORE_ID:
            problems.append(
                f"BTCPAY_STORE_ID is the local emulator's store ({self.store_id}): set it to "
                "your store's id (BTCPay, Store > Settings)."
            )
        if not self.api_key:
            problems.append(
                "BTCPAY_API_KEY is not set: create a Greenfield API key with the "
                "btcpay.store.cancreateinvoice and btcpay.store.canviewinvoices permissions."
            )
        elif self.api_key == local_defaults.BTCPAY_API_KEY:
            problems.append(
                "BTCPAY_API_KEY is the local emulator's key: create a Greenfield API key with "
                "the btcpay.store.cancreateinvoice and btcpay.store.canviewinvoices permissions."
            )
        if not self.webhook_secret:
            problems.append(
                "BTCPAY_WEBHOOK_SECRET is not set: set it to the secret of the store's webhook "
                f"for {where}."
            )
        elif self.webhook_secret == local_defaults.BTCPAY_WEBHOOK_SECRET:
            problems.append(
                "BTCPAY_WEBHOOK_SECRET is the local emulator's secret, with which anyone can "
                f"sign a payment: set it to the secret of the store's webhook for {where}."
            )
        return problems


def fiat_received(invoice: Mapping[str, Any]) -> Decimal:
    """What the payment methods of a refreshed invoice say arrived, in the invoice's currency
    (sum of paymentMethodPaid x rate), rounded down to the cent."""
    total = Decimal("0")
    for method in invoice.get("paymentMethods") or []:
        if not isinstance(method, dict):
            continue
        paid, rate = _decimal(method.get("paymentMethodPaid")), _decimal(method.get("rate"))
        if paid and rate:
            total += paid * rate
    return total.quantize(CENT, rounding=ROUND_DOWN)


class BTCPayGateway(GatewayAdapter):
    kind = "btcpay"
    label = _("Bitcoin (BTCPay)")
    config_class = BTCPayConfig
    config: BTCPayConfig

    hosted_page = True
    notifications = True
    partial_payments = True  # an invoice that expires part-paid is reported as partial

    # --- the API -------------------------------------------------------------------------------
    def _invoices_path(self) -> str:
        return f"/api/v1/stores/{quote(self.config.store_id, safe='')}/invoices"

    def _call(self, method: str, path: str, body: dict | None = None) -> Any:
        return greenfield_call(
            url=self.config.url, api_key=self.config.api_key, method=method, path=path, body=body
        )

    def greenfield_invoice(self, invoice_id: str) -> dict:
        """The invoice and its payment methods as BTCPay has them now (network I/O)."""
        path = f"{self._invoices_path()}/{quote(invoice_id, safe='')}"
        invoice = self._call("GET", path)
        methods = self._call("GET", f"{path}/payment-methods")
        if not isinstance(invoice, dict) or not isinstance(methods, list):
            raise PaymentError(f"BTCPay invoice {invoice_id}: not an invoice")
        return {**invoice, "paymentMethods": methods}

    def start_checkout(self, request: CheckoutRequest) -> CheckoutStart:
        body: dict[str, Any] = {
            "amount": str(request.amount),
            "currency": request.currency.upper(),
            "metadata": {
                **request.metadata,
                "orderId": request.order_reference,
                "itemDesc": request.description,
                "buyerEmail": request.customer_email,
            },
            "checkout": {"redirectURL": request.success_url, "redirectAutomatically": True},
        }
        try:
            invoice = self._call("POST", self._invoices_path(), body)
        except PaymentError as exc:
            logger.warning("btcpay checkout for %s failed: %s", request.order_reference, exc)
            raise UnableToTakePayment(_UNAVAILABLE) from exc
        link = invoice.get("checkoutLink") if isinstance(invoice, dict) else None
        invoice_id = invoice.get("id") if isinstance(invoice, dict) else None
        if not _short_text(invoice_id) or not isinstance(link, str) or not link.startswith("http"):
            logger.warning(
                "btcpay checkout for %s: no invoice in the answer", request.order_reference
            )
            raise UnableToTakePayment(_UNAVAILABLE)
        return CheckoutStart(redirect_url=link, gateway_reference=str(invoice_id))

    def checkout_close(self, ref: CheckoutRef) -> PaymentUpdate | None:
        """An unpaid invoice is marked invalid (it can no longer be paid); one that received
        money is left alone and reported (pending at least: nothing is cancelled under it)."""
        if not ref.gateway_reference:
            return None
        try:
            invoice = self.greenfield_invoice(ref.gateway_reference)
            if invoice.get("status") == "New" and not fiat_received(invoice):
                path = f"{self._invoices_path()}/{quote(ref.gateway_reference, safe='')}/status"
                self._call("POST", path, {"status": "Invalid"})
                return None
        except PaymentError as exc:
            raise UnableToTakePayment(
                "We could not reach the Bitcoin payment service. Please try again in a minute."
            ) from exc
        update = self.invoice_update(invoice)
        if update is not None and update.status == base.PARTIAL:
            return PaymentUpdate(**{**update.__dict__, "status": base.PENDING})
        return update

    # --- notifications ------------------------------------------------------------------------
    def verify_webhook(self, *, body: bytes, headers: Mapping[str, str]) -> VerifiedEvent:
        signature = headers.get("BTCPay-Sig") or headers.get("btcpay-sig") or ""
        if not signature:
            raise WebhookRejected("missing BTCPay-Sig header")
        if not self.config.webhook_secret:
            raise WebhookRejected("no webhook secret is configured (BTCPAY_WEBHOOK_SECRET)")
        expected = (
            "sha256="
            + hmac.new(self.config.webhook_secret.encode(), body, hashlib.sha256).hexdigest()
        )
        if not hmac.compare_digest(expected.encode(), signature.strip().lower().encode()):
            raise WebhookRejected("BTCPay-Sig does not match the body")
        try:
            payload = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError) as exc:
            raise WebhookRejected(f"body is not a JSON event: {type(exc).__name__}") from None
        problem = _event_shape_problem(payload)
        if problem:
            raise WebhookRejected(f"body is not a BTCPay event: {problem}")
        if payload.get("storeId") not in (None, self.config.store_id):
            raise WebhookRejected("the event is about another store")
        event_id = payload.get("originalDeliveryId") or payload["deliveryId"]
        return VerifiedEvent(event_id=event_id, event_type=payload["type"], payload=payload)

    def event_refetch(self, event: VerifiedEvent) -> VerifiedEvent:
        if _event_shape_problem(event.payload) or event.event_type not in EVENT_TYPES:
            return event
        invoice = self.greenfield_invoice(event.payload["invoiceId"])
        return VerifiedEvent(event.event_id, event.event_type, {**event.payload, FETCHED: invoice})

    def parse_event(self, event: VerifiedEvent) -> PaymentUpdate | None:
        payload = event.payload
        if _event_shape_problem(payload) or event.event_type not in EVENT_TYPES:
            return None
        invoice = payload.get(FETCHED)
        if not isinstance(invoice, dict):
            # Not read anew (only to find the order the event names): no payment state.
            return PaymentUpdate(
                status=base.PENDING,
                order_reference=str((payload.get("metadata") or {}).get("orderId") or ""),
                gateway_reference=payload["invoiceId"],
                gateway_payment_id=payload["invoiceId"],
            )
        if invoice.get("id") != payload["invoiceId"]:
            return None
        return self.invoice_update(invoice)

    def invoice_update(self, invoice: Mapping[str, Any]) -> PaymentUpdate | None:
        """What the invoice's current state means for the order (see the module's notes)."""
        invoice_id = invoice.get("id")
        metadata = invoice.get("metadata")
        if not _short_text(invoice_id) or not isinstance(metadata, dict):
            return None
        price = _decimal(invoice.get("amount"))
        currency = invoice.get("currency")
        if price is None or not isinstance(currency, str) or len(currency) > 10:
            return None
        currency = currency.upper()
        received = fiat_received(invoice)
        common: dict[str, str] = {
            "order_reference": str(metadata.get("orderId") or "")[:20],
            "gateway_reference": str(invoice_id),
            "gateway_payment_id": str(invoice_id),
            "currency": currency,
        }
        status = invoice.get("status")
        extra = invoice.get("additionalStatus")
        if status == "Settled":
            # One cent of slack for the coin's rounding (a satoshi is far less than a cent).
            if extra != "Marked" and received + CENT < price:
                return PaymentUpdate(status=base.PARTIAL, amount=received, **common)
            return PaymentUpdate(status=base.CONFIRMED, amount=price, **common)
        if status == "Processing":
            return PaymentUpdate(status=base.PENDING, amount=received or price, **common)
        if status == "Expired":
            if received > 0 or extra == "PaidPartial":
                return PaymentUpdate(status=base.PARTIAL, amount=received, **common)
            return PaymentUpdate(status=base.EXPIRED, amount=price, **common)
        if status == "Invalid":
            if extra == "Marked" or received == 0:
                return PaymentUpdate(status=base.FAILED, amount=price, **common)
            # Paid, then invalidated (e.g. a double spend): money may have arrived; a person
            # decides (partial, so it goes to review).
            return PaymentUpdate(status=base.PARTIAL, amount=received, **common)
        if status == "New" and (received > 0 or extra == "PaidPartial"):
            return PaymentUpdate(status=base.PENDING, amount=received, **common)
        return None
