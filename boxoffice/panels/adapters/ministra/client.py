"""Wire format of the Ministra / Stalker REST API v1: `<api_url><api_path><resource>[/<id>]`.

What it absorbs (reference panels.md §5, recorded probes in tests/recorded/):

* GET reads, POST creates, PUT updates, DELETE deletes; bodies are read with PHP `parse_str`,
  so they go form-encoded (a JSON body is "Insert data is empty", S18).
* HTTP Basic with the portal's `api_auth_login`/`api_auth_password` (none by default); a refused
  login is HTTP 401, the only non-200 answer of the API itself.
* Every other answer is HTTP 200: `{"status":"OK","results":…}` or
  `{"status":"ERROR","results":null,"error":"…"}`; only the body tells success (S3, S5, S7).
* PHP notices leak into the answer: under an `output` key next to the envelope (S12), or printed
  before the JSON when the portal prints errors itself. Both are logged and read past.
* A resource this API user may not use answers the plain text "Unauthorized request." (S13).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import quote, urlencode

import httpx

from boxoffice.panels.adapters.base import (
    DeviceTaken,
    LineNotFound,
    PanelConfig,
    PermanentPanelError,
    TransientPanelError,
    UsernameTaken,
)
from boxoffice.panels.adapters.transport import (
    RAW_PREFIX,
    PanelHttpClient,
    panel_exchange,
    redact,
)

logger = logging.getLogger(__name__)

LABEL = "Ministra"
_TAGS = re.compile(r"<[^>]+>")

# The portal's own error texts (S3, S5, S6, S7, S17, S18) and what they mean to us.
ERRORS: dict[str, tuple[type[PermanentPanelError], str]] = {
    "Login already in use": (UsernameTaken, "login_in_use"),
    "MAC address already in use": (DeviceTaken, "mac_in_use"),
    "Not valid mac address": (PermanentPanelError, "invalid_mac"),
    "Account not found": (LineNotFound, "account_not_found"),
    "Login required": (PermanentPanelError, "login_required"),
    "Insert data is empty": (PermanentPanelError, "empty_data"),
    "HTTP POST data is empty": (PermanentPanelError, "empty_data"),
    "One or more identifiers are incorrect": (PermanentPanelError, "bad_identifier"),
}


class MinistraClient(PanelHttpClient):
    """Sends REST API v1 requests to one Stalker portal and returns the envelope's `results`."""

    def __init__(self, config: PanelConfig, *, transport: httpx.BaseTransport | None = None):
        super().__init__(config, transport=transport)
        login = config.settings.get("api_login") or ""
        self._auth = httpx.BasicAuth(login, config.settings.get("api_password") or "")
        self._use_auth = bool(login)

    def url(self, resource: str, identifier: str = "") -> str:
        path = "/" + (self.config.settings.get("api_path") or "/stalker_portal/api/").strip("/")
        url = f"{self.config.api_url.rstrip('/')}{path}/{resource}"
        # MACs keep their colons: the API tells a MAC from an account number by them.
        return f"{url}/{quote(identifier, safe=':')}" if identifier else url

    def call(
        self,
        method: str,
        resource: str,
        identifier: str = "",
        data: Mapping[str, str] | None = None,
        *,
        secrets: Iterable[str] = (),
    ) -> Any:
        """One request; the `results` of an OK answer, or a PanelError. `secrets` (passwords
        sent) never reach an exception message or `raw`."""
        what = f"{method} {resource}"
        hide = [s for s in (self.config.settings.get("api_password"), *secrets) if s]
        request: dict[str, Any] = {}
        if self._use_auth:
            request["auth"] = self._auth
        if data is not None:
            request["content"] = urlencode(list(data.items())).encode()
            request["headers"] = {"Content-Type": "application/x-www-form-urlencoded"}
        answer = panel_exchange(
            self._http,
            self.config,
            label=LABEL,
            what=what,
            method=method,
            url=self.url(resource, identifier),
            **request,
        )
        return decode(what, answer.status, answer.text, hide)


def decode(what: str, status: int, text: str, hide: Iterable[str] = ()) -> Any:
    """The `results` of one answer, or the PanelError it means (module docstring)."""
    hide = list(hide)
    raw = redact(text[:RAW_PREFIX], hide)
    if status == 401:
        raise PermanentPanelError(
            f"{LABEL} refused the API login for {what} (HTTP 401): set the API login and "
            "password to the portal's api_auth_login / api_auth_password.",
            code="unauthorized",
            raw=raw,
        )
    if status != 200:
        hint = {
            404: "is the REST API enabled ([server_api] enable_api = true in custom.ini) and "
            "the API path right?",
            503: "the portal or its web server is overloaded; retry later.",
        }.get(status, "the portal or its web server is failing; retry later.")
        raise TransientPanelError(
            f"{LABEL} answered {what} with HTTP {status}: {hint}", code=f"http_{status}", raw=raw
        )
    stripped = text.strip()
    if not stripped:
        raise TransientPanelError(
            f"{LABEL} answered {what} with an empty body (the portal's PHP crashed?).",
            code="empty_response",
        )
    if stripped == "Unauthorized request.":
        raise PermanentPanelError(
            f'{LABEL} does not let this API user use {what} ("Unauthorized request.").',
            code="unauthorized_resource",
            raw=raw,
        )
    payload = _envelope(what, stripped, raw, hide)
    leaked = payload.get("output")
    if leaked:
        logger.warning(
            "%s %s: the portal's PHP printed notices into the answer: %s",
            LABEL,
            what,
            redact(_TAGS.sub("", str(leaked))[:300], hide),
        )
    if payload.get("status") == "OK":
        return payload.get("results")
    error = str(payload.get("error") or "")
    failure_raw = redact(json.dumps({"status": "ERROR", "error": error}), hide)
    cls, code = ERRORS.get(error, (PermanentPanelError, "ERROR"))
    detail = redact(error, hide) or "no reason given"
    raise cls(f"{LABEL} refused {what}: {detail}.", code=code, raw=failure_raw)


def _envelope(what: str, text: str, raw: str, hide: list[str]) -> dict[str, Any]:
    try:
        payload = json.loads(text)
    except ValueError:
        # PHP notices printed before the JSON: read the envelope after them.
        start = text.find('{"status"')
        try:
            payload = json.loads(text[start:]) if start > 0 else None
        except ValueError:
            payload = None
        if payload is None:
            looks_html = text[:1] == "<"
            raise TransientPanelError(
                f"{LABEL} answered {what} with {'an HTML page' if looks_html else 'non-JSON'} "
                "instead of JSON; check the API URL and path.",
                code="bad_response",
                raw=raw,
            ) from None
        logger.warning(
            "%s %s: the portal's PHP printed notices before the answer: %s",
            LABEL,
            what,
            redact(_TAGS.sub("", text[:start])[:300], hide),
        )
    if not isinstance(payload, dict) or payload.get("status") not in ("OK", "ERROR"):
        raise TransientPanelError(
            f"{LABEL} answered {what} with JSON that is not an API envelope.",
            code="bad_response",
            raw=raw,
        )
    return payload
