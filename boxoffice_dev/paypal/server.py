"""A PayPal stand-in for development and tests: OAuth tokens, Orders v2 (create, get, capture),
refunds, an approval page, and webhooks that its own verify-webhook-signature endpoint vouches
for (and for nothing else).

Standard library only (no Django), so it runs inside a test process as well as on its own
(`boxoffice emulate-paypal`). The approval page at /checkoutnow?token=<order id> plays the
buyer; /_emulator/* lets tests and people drive what PayPal would do later.
"""

from __future__ import annotations

import base64
import hmac
import json
import logging
import re
import secrets
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from http.server import BaseHTTPRequestHandler
from typing import Any

from boxoffice_dev.hook_server import ThreadedEmulator, checked_url
from boxoffice_dev.paypal.page import approval_page, page_message, subscription_page
from boxoffice_dev.paypal.state import PayPalState
from boxoffice_dev.paypal.wire import EmulatorError, new_id, now_iso, transmission_signature

logger = logging.getLogger(__name__)
AUTH_ALGO = "SHA256withRSA"


class PayPalEmulator(ThreadedEmulator, PayPalState):
    name = "paypal-emulator"

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        client_id: str = "emulator-client-id",
        client_secret: str = "emulator-client-secret",  # noqa: S107 - a test-mode placeholder
        webhook_id: str = "WH-EMULATOR",
        webhook_url: str | None = None,
        *,
        token_ttl: int = 32400,
        retry_delays: tuple[float, ...] = (0.05, 0.2, 0.5),
        delivery_timeout: float = 5.0,
        log_requests: bool = False,
    ):
        self.host = host
        self.port = port
        self.client_id = client_id
        self.client_secret = client_secret
        self.webhook_id = webhook_id
        self.webhook_url = checked_url(webhook_url)
        self.token_ttl = token_ttl
        self.retry_delays = tuple(retry_delays)
        self.delivery_timeout = delivery_timeout
        self.log_requests = log_requests
        super().__init__()
        self._signing_key = secrets.token_bytes(32)  # known to nobody but this emulator
        self._tokens: dict[str, float] = {}
        self.token_requests = 0
        # transmission id -> what was sent under it (verify-webhook-signature compares).
        self._transmissions: dict[str, dict[str, Any]] = {}
        self._idempotent: dict[tuple[str, str], tuple[int, bytes]] = {}
        self._threads_init()

    # --- tokens -----------------------------------------------------------------------------
    def issue_token(self, client_id: str, secret: str) -> dict[str, Any]:
        ok = hmac.compare_digest(client_id.encode(), self.client_id.encode()) and (
            hmac.compare_digest(secret.encode(), self.client_secret.encode())
        )
        if not ok:
            raise EmulatorError("invalid_client", "Client Authentication failed", status=401)
        token = "A21AA" + secrets.token_urlsafe(32)
        with self._lock:
            self.token_requests += 1
            self._tokens[token] = time.monotonic() + self.token_ttl
        return {
            "scope": "https://uri.paypal.com/services/payments/payment",
            "access_token": token,
            "token_type": "Bearer",
            "app_id": "APP-EMULATOR",
            "expires_in": self.token_ttl,
            "nonce": f"{now_iso()}{new_id(8)}",
        }

    def token_valid(self, token: str) -> bool:
        with self._lock:
            expiry = self._tokens.get(token)
            return expiry is not None and expiry > time.monotonic()

    def expire_tokens(self) -> None:
        with self._lock:
            self._tokens.clear()

    # --- webhook verification ---------------------------------------------------------------
    def verify_signature(self, request: dict[str, Any]) -> str:
        """SUCCESS only for a transmission this emulator sent, unchanged, for its webhook."""
        needed = (
            "auth_algo",
            "cert_url",
            "transmission_id",
            "transmission_sig",
            "transmission_time",
            "webhook_id",
            "webhook_event",
        )
        missing = [key for key in needed if key not in request]
        if missing:
            raise EmulatorError("VALIDATION_ERROR", f"Missing {', '.join(missing)}.")
        with self._lock:
            sent = self._transmissions.get(str(request["transmission_id"]))
        if sent is None or request["webhook_id"] != self.webhook_id:
            return "FAILURE"
        expected = transmission_signature(
            self._signing_key, sent["id"], sent["time"], self.webhook_id, sent["body"]
        )
        same = (
            hmac.compare_digest(str(request["transmission_sig"]), expected)
            and request["transmission_time"] == sent["time"]
            and request["cert_url"] == sent["cert_url"]
            and request["auth_algo"] == AUTH_ALGO
            and request["webhook_event"] == json.loads(sent["body"])
        )
        return "SUCCESS" if same else "FAILURE"

    # --- webhook delivery -------------------------------------------------------------------
    def _enqueue(self, event_id: str) -> None:
        with self._idle:
            self._pending += 1
        self._queue.put(event_id)

    def _delivery_loop(self) -> None:
        while True:
            event_id = self._queue.get()
            if event_id is None:
                return
            try:
                self._deliver(event_id)
            except Exception:
                logger.exception("PayPal emulator: delivering %s failed", event_id)
            finally:
                with self._idle:
                    self._pending -= 1
                    self._idle.notify_all()

    def signed(self, event_id: str) -> tuple[dict[str, str], bytes]:
        """One transmission of an event (headers and body) for a test to hand to the webhook
        endpoint itself, in the order it chooses; verify-webhook-signature vouches for it."""
        with self._lock:
            body = self._events[event_id]["body"]
        transmission = {
            "id": str(uuid.uuid4()),
            "time": now_iso(),
            "cert_url": f"{self.base_url}/v1/notifications/certs/CERT-emulator",
            "body": body,
        }
        with self._lock:
            self._transmissions[transmission["id"]] = transmission
        signature = transmission_signature(
            self._signing_key, transmission["id"], transmission["time"], self.webhook_id, body
        )
        return {
            "PAYPAL-TRANSMISSION-ID": transmission["id"],
            "PAYPAL-TRANSMISSION-TIME": transmission["time"],
            "PAYPAL-TRANSMISSION-SIG": signature,
            "PAYPAL-CERT-URL": transmission["cert_url"],
            "PAYPAL-AUTH-ALGO": AUTH_ALGO,
        }, body

    def _deliver(self, event_id: str) -> None:
        with self._lock:
            url = self.webhook_url
            record = self._events[event_id]
        if not url:
            return
        body = record["body"]
        attempts = len(self.retry_delays) + 1
        for attempt in range(1, attempts + 1):
            if self._stopping.is_set():
                return
            transmission = {
                "id": str(uuid.uuid4()),
                "time": now_iso(),
                "cert_url": f"{self.base_url}/v1/notifications/certs/CERT-emulator",
                "body": body,
            }
            with self._lock:
                self._transmissions[transmission["id"]] = transmission
            signature = transmission_signature(
                self._signing_key, transmission["id"], transmission["time"], self.webhook_id, body
            )
            request = urllib.request.Request(  # noqa: S310 - http(s) only
                url,
                data=body,
                method="POST",
                headers={
                    "Content-Type": "application/json",
                    "User-Agent": "PayPal/AUHD-214.0-58266839",
                    "PAYPAL-TRANSMISSION-ID": transmission["id"],
                    "PAYPAL-TRANSMISSION-TIME": transmission["time"],
                    "PAYPAL-TRANSMISSION-SIG": signature,
                    "PAYPAL-CERT-URL": transmission["cert_url"],
                    "PAYPAL-AUTH-ALGO": AUTH_ALGO,
                },
            )
            status, error = None, None
            try:
                with _NO_REDIRECTS.open(request, timeout=self.delivery_timeout) as response:
                    status = response.status
            except urllib.error.HTTPError as exc:
                status = exc.code
                exc.close()
            except (OSError, urllib.error.URLError) as exc:
                error = str(exc)
            logger.info(
                "PayPal emulator: %s %s attempt %d -> %s",
                record["event"]["event_type"],
                event_id,
                attempt,
                status or error,
            )
            with self._lock:
                record["deliveries"].append(
                    {
                        "attempt": attempt,
                        "url": url,
                        "status": status,
                        "error": error,
                        "transmission_id": transmission["id"],
                        "at": time.time(),
                    }
                )
            if (status is not None and 200 <= status < 300) or attempt == attempts:
                return
            self._stopping.wait(self.retry_delays[attempt - 1])


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_NO_REDIRECTS = urllib.request.build_opener(_NoRedirect)


class _Handler(BaseHTTPRequestHandler):
    server_version = "PayPalEmulator/1.0"
    ROUTES = [
        ("POST", r"/v1/oauth2/token", "api_token"),
        ("POST", r"/v2/checkout/orders", "api_order_create"),
        ("GET", r"/v2/checkout/orders/(?P<object_id>[\w-]+)", "api_order_get"),
        ("POST", r"/v2/checkout/orders/(?P<object_id>[\w-]+)/capture", "api_order_capture"),
        ("GET", r"/v2/payments/captures/(?P<object_id>[\w-]+)", "api_capture_get"),
        ("POST", r"/v2/payments/captures/(?P<object_id>[\w-]+)/refund", "api_refund"),
        ("POST", r"/v1/notifications/verify-webhook-signature", "api_verify"),
        ("POST", r"/v1/catalogs/products", "api_product_create"),
        ("POST", r"/v1/billing/plans", "api_plan_create"),
        ("GET", r"/v1/billing/plans", "api_plans_list"),
        ("POST", r"/v1/billing/subscriptions", "api_subscription_create"),
        ("GET", r"/v1/billing/subscriptions/(?P<object_id>[\w-]+)", "api_subscription_get"),
        ("POST", r"/v1/billing/subscriptions/(?P<object_id>[\w-]+)/cancel", "api_sub_cancel"),
        ("GET", r"/v1/billing/subscriptions/(?P<object_id>[\w-]+)/transactions", "api_sub_txns"),
        ("GET", r"/v1/payments/sale/(?P<object_id>[\w-]+)", "api_sale_get"),
        ("POST", r"/v1/payments/sale/(?P<object_id>[\w-]+)/refund", "api_sale_refund"),
        ("GET", r"/webapps/billing/subscriptions", "sub_page_show"),
        ("POST", r"/webapps/billing/subscriptions/(?P<sub_id>[\w-]+)/(?P<action>\w+)", "sub_page"),
        ("GET", r"/myaccount/autopay/", "autopay_page"),
        ("POST", r"/_emulator/subscriptions/(?P<sub_id>[\w-]+)/approve", "control_sub_approve"),
        ("POST", r"/_emulator/subscriptions/(?P<sub_id>[\w-]+)/cycle", "control_sub_cycle"),
        ("GET", r"/checkoutnow", "page_show"),
        ("POST", r"/checkoutnow/(?P<order_id>[\w-]+)/(?P<action>[\w-]+)", "page_action"),
        ("GET", r"/_emulator/orders", "control_orders"),
        ("GET", r"/_emulator/orders/(?P<order_id>[\w-]+)", "control_order"),
        ("POST", r"/_emulator/orders/(?P<order_id>[\w-]+)/approve", "control_approve"),
        ("POST", r"/_emulator/orders/(?P<order_id>[\w-]+)/events", "control_emit"),
        ("GET", r"/_emulator/events", "control_events"),
        ("POST", r"/_emulator/events/(?P<event_id>[\w-]+)/resend", "control_resend"),
        ("GET", r"/_emulator/config", "control_config"),
        ("POST", r"/_emulator/config", "control_config"),
        ("GET", r"/_emulator/wait", "control_wait"),
        ("GET", r"/", "index"),
    ]

    @property
    def emulator(self) -> PayPalEmulator:
        return self.server.emulator  # type: ignore[attr-defined]

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        if self.emulator.log_requests:
            super().log_message(format, *args)

    def do_GET(self) -> None:  # noqa: N802
        self._dispatch("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._dispatch("POST")

    def _route(self, method: str, path: str) -> tuple[str, re.Match[str] | None]:
        for route_method, pattern, name in self.ROUTES:
            match = re.fullmatch(pattern, path)
            if match and route_method == method:
                return name, match
        return "", None

    def _dispatch(self, method: str) -> None:
        url = urllib.parse.urlsplit(self.path)
        self.query = dict(urllib.parse.parse_qsl(url.query))
        length = int(self.headers.get("Content-Length") or 0)
        self.body = self.rfile.read(length) if length else b""
        name, match = self._route(method, url.path)
        if match is None:
            self._send(404, b'{"name": "NOT_FOUND"}', "application/json")
            return
        try:
            getattr(self, name)(**match.groupdict())
        except Exception as exc:
            if not isinstance(exc, EmulatorError):
                logger.exception("PayPal emulator: %s %s failed", method, url.path)
                exc = EmulatorError("INTERNAL_SERVER_ERROR", f"Emulator error: {exc}", status=500)
            if url.path.startswith("/checkoutnow"):
                self._html(exc.status, page_message("PayPal unavailable", exc.message))
            else:
                self._json(exc.status, exc.as_json())

    def _send(self, status: int, body: bytes, content_type: str, headers=()) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Paypal-Debug-Id", new_id(13).lower())
        for key, value in headers:
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)

    def _json(self, status: int, payload: Any) -> None:
        self._send(status, json.dumps(payload, indent=2).encode(), "application/json")

    def _html(self, status: int, page: str) -> None:
        self._send(status, page.encode(), "text/html; charset=utf-8")

    def _redirect(self, location: str) -> None:
        self._send(303, b"", "text/plain", headers=[("Location", location)])

    def _json_body(self) -> dict[str, Any]:
        if not self.body:
            return {}
        try:
            payload = json.loads(self.body)
        except ValueError:
            raise EmulatorError("INVALID_REQUEST", "The body must be JSON.") from None
        if not isinstance(payload, dict):
            raise EmulatorError("INVALID_REQUEST", "The body must be a JSON object.")
        return payload

    # --- the API ---
    def api_token(self) -> None:
        scheme, _, credentials = self.headers.get("Authorization", "").partition(" ")
        try:
            user, _, secret = base64.b64decode(credentials).decode().partition(":")
        except ValueError:
            user, secret = "", ""
        form = dict(urllib.parse.parse_qsl(self.body.decode(errors="replace")))
        if scheme.lower() != "basic" or form.get("grant_type") != "client_credentials":
            raise EmulatorError("invalid_request", "Basic auth and grant_type=client_credentials")
        self._json(200, self.emulator.issue_token(user, secret))

    def _api_call(self, action, *, created: bool = False) -> None:
        """Bearer token, PayPal-Request-Id (a repeat answers what the first got), then
        `action`."""
        scheme, _, token = self.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not self.emulator.token_valid(token.strip()):
            raise EmulatorError("invalid_token", "Token signature verification failed", status=401)
        key = self.headers.get("PayPal-Request-Id")
        cache_key = (key or "", urllib.parse.urlsplit(self.path).path)
        if key:
            with self.emulator._lock:
                cached = self.emulator._idempotent.get(cache_key)
            if cached is not None:
                self._send(cached[0], cached[1], "application/json")
                return
        try:
            status, body = (201 if created else 200), json.dumps(action(), indent=2).encode()
        except EmulatorError as exc:
            if exc.status >= 500:
                raise
            status, body = exc.status, json.dumps(exc.as_json(), indent=2).encode()
        if key and status < 500:
            with self.emulator._lock:
                self.emulator._idempotent[cache_key] = (status, body)
        self._send(status, body, "application/json")

    def api_order_create(self) -> None:
        self._api_call(lambda: self.emulator.api_create_order(self._json_body()), created=True)

    def api_order_get(self, object_id: str) -> None:
        self._api_call(lambda: self.emulator.api_get_order(object_id))

    def api_order_capture(self, object_id: str) -> None:
        self._api_call(lambda: self.emulator.api_capture(object_id), created=True)

    def api_capture_get(self, object_id: str) -> None:
        self._api_call(lambda: self.emulator.api_get_capture(object_id))

    def api_refund(self, object_id: str) -> None:
        self._api_call(lambda: self.emulator.api_refund(object_id, self._json_body()), created=True)

    def api_verify(self) -> None:
        self._api_call(
            lambda: {"verification_status": self.emulator.verify_signature(self._json_body())}
        )

    # --- subscriptions ---
    def api_product_create(self) -> None:
        self._api_call(lambda: self.emulator.api_product_create(self._json_body()), created=True)

    def api_plan_create(self) -> None:
        self._api_call(lambda: self.emulator.api_plan_create(self._json_body()), created=True)

    def api_plans_list(self) -> None:
        self._api_call(lambda: self.emulator.api_plans_list(self.query.get("product_id", "")))

    def api_subscription_create(self) -> None:
        body = self._json_body()
        self._api_call(lambda: self.emulator.api_subscription_create(body), created=True)

    def api_subscription_get(self, object_id: str) -> None:
        self._api_call(lambda: self.emulator.api_subscription_get(object_id))

    def api_sub_cancel(self, object_id: str) -> None:
        self._api_call(lambda: self.emulator.api_subscription_cancel(object_id))

    def api_sub_txns(self, object_id: str) -> None:
        self._api_call(lambda: self.emulator.api_transactions(object_id))

    def api_sale_refund(self, object_id: str) -> None:
        body = self._json_body()
        self._api_call(lambda: self.emulator.api_sale_refund(object_id, body), created=True)

    def api_sale_get(self, object_id: str) -> None:
        self._api_call(lambda: self.emulator.api_sale_get(object_id))

    def sub_page_show(self) -> None:
        sub = self.emulator.subscription(self.query.get("ba_token", ""))
        self._html(200, subscription_page(sub))

    def sub_page(self, sub_id: str, action: str) -> None:
        if action == "approve":
            self.emulator.subscription_approve(sub_id)
            self._redirect(self.emulator.subscription_return_location(sub_id))
        elif action == "cancel":
            with self.emulator._lock:
                url = self.emulator._sub(sub_id)["_cancel_url"]
            self._redirect(url)
        else:
            self._send(404, b"Not found\n", "text/plain; charset=utf-8")

    def autopay_page(self) -> None:
        self._html(
            200,
            page_message(
                "Automatic payments",
                "Choose the card or bank account PayPal charges for each automatic payment.",
            ),
        )

    def control_sub_approve(self, sub_id: str) -> None:
        self._json(200, self.emulator.subscription_approve(sub_id))

    def control_sub_cycle(self, sub_id: str) -> None:
        outcome = self._json_body().get("outcome", "paid")
        self._json(200, self.emulator.subscription_cycle(sub_id, outcome))

    # --- the approval page ---
    def page_show(self) -> None:
        order_id = self.query.get("token", "")
        self._html(200, approval_page(self.emulator.order(order_id)))

    def page_action(self, order_id: str, action: str) -> None:
        emulator = self.emulator
        outcome = {"approve": "completed", "approve_pending": "pending", "deny": "declined"}
        if action in outcome:
            emulator.approve(order_id, outcome[action])
            self._redirect(emulator.return_location(order_id))
        elif action == "cancel":
            self._redirect(emulator.cancel_location(order_id))
        else:
            self._send(404, b"Not found\n", "text/plain; charset=utf-8")

    # --- the control API ---
    def index(self) -> None:
        self._json(200, {"emulator": "paypal", "api_base": self.emulator.base_url})

    def control_orders(self) -> None:
        self._json(200, {"data": self.emulator.orders()})

    def control_order(self, order_id: str) -> None:
        self._json(200, self.emulator.order(order_id))

    def control_approve(self, order_id: str) -> None:
        outcome = self._json_body().get("outcome", "completed")
        self._json(200, self.emulator.approve(order_id, outcome))

    def control_emit(self, order_id: str) -> None:
        payload = self._json_body()
        if not payload.get("type"):
            raise EmulatorError("INVALID_REQUEST", 'Send {"type": "<event type>"}.')
        options = {k: payload[k] for k in ("amount", "reason") if k in payload}
        self._json(200, self.emulator.emit(order_id, payload["type"], **options))

    def control_events(self) -> None:
        self._json(200, {"data": self.emulator.events()})

    def control_resend(self, event_id: str) -> None:
        self._json(200, self.emulator.resend(event_id))

    def control_config(self) -> None:
        if self.command == "POST":
            payload = self._json_body()
            if "webhook_url" in payload:
                self.emulator.configure(webhook_url=payload["webhook_url"])
        self._json(200, {"webhook_url": self.emulator.webhook_url})

    def control_wait(self) -> None:
        try:
            self.emulator.wait_for_deliveries(timeout=float(self.query.get("timeout", 5)))
        except TimeoutError as exc:
            raise EmulatorError("TIMEOUT", str(exc), status=504) from None
        self._json(200, {"idle": True})


PayPalEmulator.handler_class = _Handler
