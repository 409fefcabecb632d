"""Wire format of the OneStream (1-Stream) `/ext/` API: JSON both ways, two token headers.

Coded to `onestream.md` (vendor token pages, mirrored endpoint docs, agreeing community
clients). **No answer of a real OneStream panel has been recorded**: the status codes and
error texts below are the reference's ("a non-2xx status with {"error": …, "rid": …}; status
codes are not documented; a wrong base URL answers an HTML page"), and everything the reference
leaves open is read defensively:

* `X-Api-Key` (the admin's API access token, IP-whitelisted) and `X-Auth-User` (the reseller
  user's token; lines and credit charges belong to that user) on every request;
* 2xx + JSON: the answer; 401/403: a refused token or IP (permanent: an operator must fix it);
  404 on a line's own path: no such line; 408/425/429/5xx: try again later; any other 4xx: the
  panel refused the request, its `error` text kept; HTML or non-JSON: not the API talking.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

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

LABEL = "OneStream"
RETRY_STATUSES = frozenset({408, 425, 429})


class OneStreamClient(PanelHttpClient):
    def __init__(self, config: PanelConfig, *, transport: httpx.BaseTransport | None = None):
        super().__init__(config, transport=transport, headers={"Accept": "application/json"})

    def url(self, path: str) -> str:
        return f"{self.config.api_url.rstrip('/')}/ext/{path.lstrip('/')}"

    def call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        body: Mapping[str, Any] | None = None,
        secrets: Iterable[str] = (),
        line_path: bool = False,
    ) -> Any:
        """One request; the decoded JSON answer, or a PanelError. `line_path`: the path names a
        line, so a 404 means that line does not exist."""
        settings = self.config.settings
        hide = [s for s in (settings.get("api_key"), settings.get("auth_user"), *secrets) if s]
        request: dict[str, Any] = {
            "headers": {
                "X-Api-Key": settings.get("api_key") or "",
                "X-Auth-User": settings.get("auth_user") or "",
            }
        }
        if params:
            request["params"] = dict(params)
        if body is not None:
            request["content"] = json.dumps(body).encode()
            request["headers"]["Content-Type"] = "application/json"
        what = f"{method} /ext/{path}"
        answer = panel_exchange(
            self._http,
            self.config,
            label=LABEL,
            what=what,
            method=method,
            url=self.url(path),
            **request,
        )
        return decode(what, answer.status, answer.text, hide, line_path=line_path)


def decode(
    what: str, status: int, text: str, hide: Iterable[str] = (), *, line_path: bool = False
) -> Any:
    hide = list(hide)
    raw = redact(text[:RAW_PREFIX], hide)
    try:
        payload = json.loads(text) if text.strip() else None
    except ValueError:
        payload = None
    if payload is None:
        looks_html = text.lstrip()[:1] == "<"
        raise TransientPanelError(
            f"{LABEL} answered {what} with HTTP {status} and "
            f"{'an HTML page' if looks_html else 'no JSON'}; check the panel's base URL.",
            code="bad_response" if text.strip() else "empty_response",
            raw=raw,
        )
    if 200 <= status < 300:
        return payload
    error = (
        str(payload.get("error") or payload.get("message") or "")
        if isinstance(payload, dict)
        else ""
    )
    detail = redact(error, hide) or "no reason given"
    failure_raw = redact(json.dumps({"status": status, "error": error}), hide)
    if status in (401, 403):
        raise PermanentPanelError(
            f"{LABEL} refused the tokens for {what} (HTTP {status}: {detail}): check the API key "
            "(X-Api-Key, its expiry and IP whitelist) and the user token (X-Auth-User) and its "
            "permissions.",
            code="unauthorized",
            raw=failure_raw,
        )
    if status in RETRY_STATUSES or status >= 500:
        raise TransientPanelError(
            f"{LABEL} answered {what} with HTTP {status} ({detail}); retry later.",
            code=f"http_{status}",
            raw=failure_raw,
        )
    if status == 404 and line_path:
        raise LineNotFound(f"{LABEL} has no such line ({detail}).", code="line_not_found")
    lowered = error.lower()
    message = f"{LABEL} refused {what} (HTTP {status}): {detail}."
    if "credit" in lowered:
        raise PermanentPanelError(message, code="insufficient_credits", raw=failure_raw)
    if "mac" in lowered and ("taken" in lowered or "exist" in lowered or "use" in lowered):
        raise DeviceTaken(message, code="mac_taken", raw=failure_raw)
    if "username" in lowered and ("taken" in lowered or "exist" in lowered or "use" in lowered):
        raise UsernameTaken(message, code="username_taken", raw=failure_raw)
    raise PermanentPanelError(message, code=f"http_{status}", raw=failure_raw)
