"""A Stripe stand-in for development and tests: Checkout Sessions, refunds, Stripe Billing
(subscriptions, invoices, the billing portal; billing.py) and signed webhooks.

It speaks the part of Stripe's REST API that Boxoffice uses, so the official `stripe` SDK can be
pointed at it (`StripeClient(key, base_addresses={"api": emu.base_url})`, or `stripe.api_base`).
A hosted page at /pay/<session id> plays the customer; /_emulator/* lets tests and people drive
the events Stripe would send. Stripe's own `stripe-mock` answers fixed fixtures and sends no
webhooks, which is why this exists.

Standard library only (no Django, no SDK), so it runs inside a test process as well as on its own
(`boxoffice emulate-stripe`). Webhooks go out through urllib rather than `boxoffice.lib.http`:
the emulator plays Stripe, not Boxoffice, and must not depend on the code it tests.
"""

from __future__ import annotations

import base64
import hmac
import json
import logging
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler
from typing import Any

from boxoffice_dev.hook_server import ThreadedEmulator, checked_url
from boxoffice_dev.stripe.page import (
    checkout_page,
    page_message,
    portal_page,
    success_location,
)
from boxoffice_dev.stripe.state import StripeState
from boxoffice_dev.stripe.wire import (
    API_VERSION,
    EmulatorError,
    decode_form,
    new_id,
    sign_payload,
)

logger = logging.getLogger(__name__)


class StripeEmulator(ThreadedEmulator, StripeState):
    """The emulator: state, webhook delivery and the HTTP server, started with `.start()`."""

    name = "stripe-emulator"

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        api_key: str = "sk_test_emulator",
        webhook_secret: str = "whsec_emulator",  # noqa: S107 - a test-mode placeholder
        webhook_url: str | None = None,
        *,
        retry_delays: tuple[float, ...] = (0.05, 0.2, 0.5),
        delivery_timeout: float = 5.0,
        log_requests: bool = False,
    ):
        self.host = host
        self.port = port
        self.api_key = api_key
        self.webhook_secret = webhook_secret
        self.webhook_url = checked_url(webhook_url)
        # One first attempt, then one retry per delay: short, because tests wait for them.
        self.retry_delays = tuple(retry_delays)
        self.delivery_timeout = delivery_timeout
        self.log_requests = log_requests
        super().__init__()
        self._idempotent: dict[tuple[str, str], tuple[int, bytes]] = {}
        self._threads_init()

    # --- webhook delivery -------------------------------------------------------------------
    def _enqueue(self, event_id: str) -> None:
        with self._idle:
            self._pending += 1
        self._queue.put(event_id)

    def _delivery_loop(self) -> None:
        # One thread, one event at a time: deliveries leave in the order events happened.
        while True:
            event_id = self._queue.get()
            if event_id is None:
                return
            try:
                self._deliver(event_id)
            except Exception:
                logger.exception("Stripe emulator: delivering %s failed", event_id)
            finally:
                with self._idle:
                    self._pending -= 1
                    self._idle.notify_all()

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
            timestamp = int(time.time())
            request = urllib.request.Request(  # noqa: S310 - http(s) only, see checked_url
                url,
                data=body,
                method="POST",
                headers={
                    "Content-Type": "application/json; charset=utf-8",
                    "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
                    "Stripe-Signature": sign_payload(body, self.webhook_secret, timestamp),
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
            ok = status is not None and 200 <= status < 300
            logger.info(
                "Stripe emulator: %s %s attempt %d -> %s",
                record["event"]["type"],
                event_id,
                attempt,
                status or error,
            )
            with self._lock:
                delivery = {"attempt": attempt, "url": url, "status": status, "error": error}
                record["deliveries"].append({**delivery, "at": time.time()})
            if ok or attempt == attempts:
                return
            self._stopping.wait(self.retry_delays[attempt - 1])


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    # Stripe counts a redirect as a failed delivery; so do we.
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_NO_REDIRECTS = urllib.request.build_opener(_NoRedirect)


# --- HTTP -----------------------------------------------------------------------------------
class _Handler(BaseHTTPRequestHandler):
    server_version = "StripeEmulator/1.0"
    ROUTES = [
        ("POST", r"/v1/checkout/sessions", "api_session_create"),
        ("GET", r"/v1/checkout/sessions/(?P<object_id>[\w-]+)", "api_session_retrieve"),
        ("POST", r"/v1/checkout/sessions/(?P<object_id>[\w-]+)/expire", "api_session_expire"),
        ("POST", r"/v1/refunds", "api_refund_create"),
        ("GET", r"/v1/refunds/(?P<object_id>[\w-]+)", "api_refund_retrieve"),
        ("GET", r"/v1/payment_intents/(?P<object_id>[\w-]+)", "api_payment_intent_retrieve"),
        ("GET", r"/v1/charges/(?P<object_id>[\w-]+)", "api_charge_retrieve"),
        ("GET", r"/v1/subscriptions/(?P<object_id>[\w-]+)", "api_subscription_retrieve"),
        ("POST", r"/v1/subscriptions/(?P<object_id>[\w-]+)", "api_subscription_update"),
        ("GET", r"/v1/invoices/(?P<object_id>[\w-]+)", "api_invoice_retrieve"),
        ("POST", r"/v1/billing_portal/sessions", "api_portal_session_create"),
        ("GET", r"/portal/(?P<session_id>[\w-]+)", "portal_show"),
        ("POST", r"/portal/(?P<session_id>[\w-]+)/update_card", "portal_update_card"),
        ("GET", r"/_emulator/subscriptions/(?P<object_id>[\w-]+)", "control_subscription"),
        ("POST", r"/_emulator/subscriptions/(?P<object_id>[\w-]+)/cycle", "control_cycle"),
        ("POST", r"/_emulator/subscriptions/(?P<object_id>[\w-]+)/end", "control_end"),
        ("POST", r"/_emulator/invoices/(?P<object_id>[\w-]+)/retry", "control_retry"),
        ("GET", r"/pay/(?P<session_id>[\w-]+)", "page_show"),
        ("POST", r"/pay/(?P<session_id>[\w-]+)/(?P<action>[\w-]+)", "page_action"),
        ("GET", r"/_emulator/sessions", "control_sessions"),
        ("GET", r"/_emulator/sessions/(?P<session_id>[\w-]+)", "control_session"),
        ("POST", r"/_emulator/sessions/(?P<session_id>[\w-]+)/events", "control_emit"),
        (
            "POST",
            r"/_emulator/sessions/(?P<session_id>[\w-]+)/(?P<action>pay|pay_later|fail)",
            "control_customer",
        ),
        ("GET", r"/_emulator/events", "control_events"),
        ("POST", r"/_emulator/events/(?P<event_id>[\w-]+)/resend", "control_resend"),
        ("GET", r"/_emulator/config", "control_config"),
        ("POST", r"/_emulator/config", "control_config"),
        ("GET", r"/_emulator/wait", "control_wait"),
        ("GET", r"/", "index"),
    ]

    @property
    def emulator(self) -> StripeEmulator:
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
            if url.path.startswith("/v1/"):
                self._api_error(
                    EmulatorError(f"Unrecognized request URL ({method}: {url.path}).", status=404)
                )
            else:
                self._send(404, b"Not found\n", "text/plain; charset=utf-8")
            return
        try:
            getattr(self, name)(**match.groupdict())
        except Exception as exc:
            if not isinstance(exc, EmulatorError):
                logger.exception("Stripe emulator: %s %s failed", method, url.path)
                exc = EmulatorError(f"Emulator error: {exc}", status=500, type="api_error")
            if url.path.startswith(("/pay/", "/portal/")):
                self._html(exc.status, page_message("Checkout unavailable", exc.message))
            elif url.path.startswith("/_emulator/"):
                self._json(exc.status, {"error": {"message": exc.message}})
            else:
                self._api_error(exc)

    # --- responses ---
    def _send(self, status: int, body: bytes, content_type: str, headers=()) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
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

    def _api_error(self, exc: EmulatorError) -> None:
        self._api_send(exc.status, json.dumps(exc.as_json(), indent=2).encode())

    def _api_send(self, status: int, body: bytes) -> None:
        headers = [("Request-Id", new_id("req")), ("Stripe-Version", API_VERSION)]
        self._send(status, body, "application/json", headers)

    def _json_body(self) -> dict[str, Any]:
        if not self.body:
            return {}
        try:
            payload = json.loads(self.body)
        except ValueError:
            raise EmulatorError("The body must be JSON.") from None
        if not isinstance(payload, dict):
            raise EmulatorError("The body must be a JSON object.")
        return payload

    # --- the API ---
    def _authorize(self) -> None:
        header = self.headers.get("Authorization", "")
        scheme, _, credentials = header.partition(" ")
        key = credentials.strip()
        if scheme.lower() == "basic":  # Stripe also takes the key as a basic-auth user name
            try:
                key = base64.b64decode(credentials).decode(errors="replace").partition(":")[0]
            except ValueError:
                key = ""
        if not key:
            raise EmulatorError(
                "You did not provide an API key. Set it with an `Authorization: Bearer` header.",
                status=401,
            )
        if not hmac.compare_digest(key.encode(), self.emulator.api_key.encode()):
            raise EmulatorError(f"Invalid API Key provided: {key[:8]}****{key[-4:]}", status=401)

    def _api_call(self, action) -> None:
        """Auth, idempotency keys (the SDK retries POSTs with the same key), then `action`."""
        self._authorize()
        key = self.headers.get("Idempotency-Key")
        cache_key = (key or "", self.path)
        if key and self.command == "POST":
            with self.emulator._lock:
                cached = self.emulator._idempotent.get(cache_key)
            if cached is not None:
                self._api_send(*cached)
                return
        try:
            status, body = 200, json.dumps(action(), indent=2).encode()
        except EmulatorError as exc:
            if exc.status >= 500 or exc.status == 401:
                raise
            status, body = exc.status, json.dumps(exc.as_json(), indent=2).encode()
        if key and self.command == "POST":
            with self.emulator._lock:
                self.emulator._idempotent[cache_key] = (status, body)
        self._api_send(status, body)

    def _form(self) -> dict[str, Any]:
        return decode_form(self.body.decode())

    def api_session_create(self) -> None:
        self._api_call(lambda: self.emulator.api_create_session(self._form()))

    def api_session_retrieve(self, object_id: str) -> None:
        self._api_call(lambda: self.emulator.api_retrieve("checkout.session", object_id))

    def api_session_expire(self, object_id: str) -> None:
        self._api_call(lambda: self.emulator.api_expire_session(object_id))

    def api_refund_create(self) -> None:
        self._api_call(lambda: self.emulator.api_create_refund(self._form()))

    def api_refund_retrieve(self, object_id: str) -> None:
        self._api_call(lambda: self.emulator.api_retrieve("refund", object_id))

    def api_payment_intent_retrieve(self, object_id: str) -> None:
        self._api_call(lambda: self.emulator.api_retrieve("payment_intent", object_id))

    def api_charge_retrieve(self, object_id: str) -> None:
        self._api_call(lambda: self.emulator.api_retrieve("charge", object_id))

    def api_subscription_retrieve(self, object_id: str) -> None:
        self._api_call(lambda: self.emulator.api_retrieve("subscription", object_id))

    def api_subscription_update(self, object_id: str) -> None:
        self._api_call(lambda: self.emulator.api_update_subscription(object_id, self._form()))

    def api_invoice_retrieve(self, object_id: str) -> None:
        expand = [v for k, v in self.query.items() if k == "expand" or k.startswith("expand[")]
        self._api_call(lambda: self.emulator.api_retrieve_invoice(object_id, expand=expand))

    def api_portal_session_create(self) -> None:
        self._api_call(lambda: self.emulator.api_create_portal_session(self._form()))

    # --- the billing portal page ---
    def portal_show(self, session_id: str) -> None:
        sessions = {s["id"]: s for s in self.emulator.portal_sessions()}
        if session_id not in sessions:
            self._html(404, page_message("Portal unavailable", "No such portal session."))
            return
        self._html(200, portal_page(sessions[session_id]))

    def portal_update_card(self, session_id: str) -> None:
        session = self.emulator.portal_update_card(session_id)
        self._redirect(session["return_url"] or f"/portal/{session_id}")

    # --- the hosted page ---
    def page_show(self, session_id: str) -> None:
        self._html(200, checkout_page(self.emulator.page_context(session_id)))

    def page_action(self, session_id: str, action: str) -> None:
        form = dict(urllib.parse.parse_qsl(self.body.decode()))
        email = form.get("email") or None
        emulator = self.emulator
        if action == "pay":
            self._redirect(success_location(emulator.pay(session_id, email=email)))
        elif action == "pay_later":
            self._redirect(success_location(emulator.pay_later(session_id, email=email)))
        elif action == "fail":
            emulator.fail(session_id)
            self._html(200, checkout_page(emulator.page_context(session_id)))
        elif action in ("async_succeeded", "async_failed"):
            kind = "succeeded" if action == "async_succeeded" else "failed"
            emulator.emit(session_id, f"checkout.session.async_payment_{kind}")
            self._redirect(f"/pay/{session_id}")
        else:
            self._send(404, b"Not found\n", "text/plain; charset=utf-8")

    # --- the control API ---
    def index(self) -> None:
        self._json(200, {"emulator": "stripe", "api_base": self.emulator.base_url})

    def control_sessions(self) -> None:
        self._json(200, {"data": self.emulator.sessions()})

    def control_session(self, session_id: str) -> None:
        self._json(200, self.emulator.session(session_id))

    def control_emit(self, session_id: str) -> None:
        payload = self._json_body()
        if not payload.get("type"):
            raise EmulatorError('Send {"type": "<event type>"}.')
        options = {k: payload[k] for k in ("payment_status", "amount", "reason") if k in payload}
        self._json(200, self.emulator.emit(session_id, payload["type"], **options))

    def control_customer(self, session_id: str, action: str) -> None:
        email = self._json_body().get("email")
        if action == "fail":
            self._json(200, self.emulator.fail(session_id))
        else:
            self._json(200, getattr(self.emulator, action)(session_id, email=email))

    def control_subscription(self, object_id: str) -> None:
        self._json(200, self.emulator.subscription(object_id))

    def control_cycle(self, object_id: str) -> None:
        outcome = self._json_body().get("outcome", "paid")
        self._json(200, self.emulator.cycle(object_id, outcome=outcome))

    def control_end(self, object_id: str) -> None:
        self._json(200, self.emulator.end(object_id))

    def control_retry(self, object_id: str) -> None:
        outcome = self._json_body().get("outcome", "paid")
        self._json(200, self.emulator.retry(object_id, outcome=outcome))

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
            raise EmulatorError(str(exc), status=504) from None
        self._json(200, {"idle": True})


StripeEmulator.handler_class = _Handler
