"""PayPal's REST API over plain httpx (the old SDKs are deprecated): an OAuth2
client-credentials token cached until it expires, and one JSON call with timeouts, a size cap
and errors that say whether trying again may help. The token and the secret are never logged."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from hashlib import sha256
from typing import Any

import httpx

from boxoffice.lib.http import ResponseTooLarge, http_client, http_deadline, http_read_capped

LIVE_API_BASE = "https://api-m.paypal.com"
SANDBOX_API_BASE = "https://api-m.sandbox.paypal.com"
TIMEOUT = httpx.Timeout(10.0, connect=5.0)
DEADLINE_SECONDS = 20.0  # every call, token included, ends within this
MAX_RESPONSE_BYTES = 1024 * 1024
# A token is dropped this long before PayPal says it expires (clocks, slow calls).
TOKEN_MARGIN_SECONDS = 60


class PayPalAPIError(Exception):
    """A call that did not give a usable answer. `transient`: trying again later may work
    (network, 5xx, 429); otherwise PayPal refused the request as it is."""

    def __init__(self, message: str, *, status: int = 0, issue: str = "", transient: bool = False):
        super().__init__(message)
        self.status = status
        self.issue = issue
        self.transient = transient


@dataclass(frozen=True)
class Answer:
    status: int
    body: dict[str, Any]


_tokens: dict[tuple[str, str, str], tuple[str, float]] = {}
_tokens_lock = threading.Lock()


def _cache_key(api_base: str, client_id: str, secret: str) -> tuple[str, str, str]:
    # The secret only as a digest: a rotated secret gets a token of its own.
    return (api_base, client_id, sha256(secret.encode()).hexdigest())


def tokens_forget() -> None:
    """Drop every cached token (tests; a rotated secret)."""
    with _tokens_lock:
        _tokens.clear()


class PayPalClient:
    def __init__(self, *, api_base: str, client_id: str, client_secret: str):
        self.api_base = (api_base or LIVE_API_BASE).rstrip("/")
        self.client_id = client_id
        self._secret = client_secret

    def __repr__(self) -> str:
        return f"PayPalClient(api_base={self.api_base!r}, client_id={self.client_id!r})"

    # --- the token ---------------------------------------------------------------------------
    def _token(self, *, fresh: bool = False) -> str:
        key = _cache_key(self.api_base, self.client_id, self._secret)
        now = time.monotonic()
        with _tokens_lock:
            cached = _tokens.get(key)
            if cached and not fresh and cached[1] > now:
                return cached[0]
        if not self.client_id or not self._secret:
            raise PayPalAPIError("PayPal client id or secret is not configured")
        answer = self._send(
            "POST",
            "/v1/oauth2/token",
            content=b"grant_type=client_credentials",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
            auth=(self.client_id, self._secret),
        )
        token = answer.body.get("access_token")
        expires_in = answer.body.get("expires_in")
        if answer.status != 200 or not isinstance(token, str) or not token:
            raise PayPalAPIError(
                f"PayPal refused the client credentials (HTTP {answer.status})",
                status=answer.status,
                issue=str(answer.body.get("error") or ""),
                transient=answer.status >= 500,
            )
        if not isinstance(expires_in, int) or isinstance(expires_in, bool) or expires_in <= 0:
            expires_in = TOKEN_MARGIN_SECONDS * 2
        lifetime = max(expires_in - TOKEN_MARGIN_SECONDS, 1)
        with _tokens_lock:
            _tokens[key] = (token, time.monotonic() + lifetime)
        return token

    # --- calls -------------------------------------------------------------------------------
    def call(
        self,
        method: str,
        path: str,
        *,
        body: dict[str, Any] | None = None,
        raw_json: bytes | None = None,
        request_id: str = "",
    ) -> Answer:
        """One API call with a bearer token (fetched again once if PayPal says it expired).
        `raw_json` is sent as it is (the webhook event must reach PayPal unchanged)."""
        content = raw_json if raw_json is not None else json.dumps(body or {}).encode()
        headers = {"Content-Type": "application/json", "Prefer": "return=representation"}
        if request_id:
            headers["PayPal-Request-Id"] = request_id
        with http_deadline(DEADLINE_SECONDS):
            for attempt in (1, 2):
                auth = {"Authorization": f"Bearer {self._token(fresh=attempt == 2)}"}
                answer = self._send(
                    method,
                    path,
                    content=content if method != "GET" else None,
                    headers={**headers, **auth},
                )
                if answer.status != 401:
                    break
        if answer.status >= 500 or answer.status == 429:
            raise PayPalAPIError(
                f"PayPal answered HTTP {answer.status} to {method} {path}",
                status=answer.status,
                issue=issue_of(answer.body),
                transient=True,
            )
        return answer

    def _send(self, method: str, path: str, *, content=None, headers=None, auth=None) -> Answer:
        try:
            with (
                http_deadline(DEADLINE_SECONDS),
                http_client(base_url=self.api_base, timeout=TIMEOUT) as client,
                client.stream(method, path, content=content, headers=headers, auth=auth) as r,
            ):
                raw = http_read_capped(r, max_bytes=MAX_RESPONSE_BYTES)
                status = r.status_code
        except ResponseTooLarge as exc:
            raise PayPalAPIError(f"PayPal's answer to {method} {path}: {exc}") from None
        except httpx.HTTPError as exc:
            # The exception's text names the URL only (no header, so no token or secret).
            raise PayPalAPIError(
                f"PayPal could not be reached ({method} {path}): {type(exc).__name__}",
                transient=True,
            ) from None
        if not raw.strip():
            return Answer(status, {})
        try:
            parsed = json.loads(raw)
        except ValueError:
            raise PayPalAPIError(
                f"PayPal answered {method} {path} (HTTP {status}) with something other than JSON",
                status=status,
                transient=status >= 500,
            ) from None
        if not isinstance(parsed, dict):
            raise PayPalAPIError(
                f"PayPal answered {method} {path} (HTTP {status}) with JSON that is not an object",
                status=status,
            )
        return Answer(status, parsed)


def issue_of(body: dict[str, Any]) -> str:
    """The first `details[].issue` of a PayPal error (e.g. ORDER_ALREADY_CAPTURED), else its
    `name`."""
    details = body.get("details")
    if isinstance(details, list):
        for detail in details:
            if isinstance(detail, dict) and isinstance(detail.get("issue"), str):
                return detail["issue"]
    name = body.get("name")
    return name if isinstance(name, str) else ""
