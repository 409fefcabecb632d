"""Wire format of the XUI One Admin API: `/<access_code>/?api_key=…&action=…`.

This module knows how to send one action and turn the answer into Python values or a
`PanelError`; it knows nothing about lines. Panel quirks it absorbs (reference §1.1, §1.2, §7):

* Errors arrive as HTTP 200 with `{"status":"STATUS_<NAME>", …}`; only the body tells success.
* List actions (`get_bouquets`, …) answer a bare JSON array without an envelope.
* nginx answers rate limits (503) and IP-whitelist denials (403) with HTML, and a wrong port,
  scheme or access code gives a login page or a 404: none of that is the API talking.
* A permission failure inside create/edit ends the PHP script with `exit()`: HTTP 200, empty body.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable, Sequence
from typing import Any
from urllib.parse import urlencode

from boxoffice.panels.adapters.base import (
    InsufficientCredits,
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

FormData = Sequence[tuple[str, str]]

_API_KEY_IN_URL = re.compile(r"(api_key=)[^&\s\"']*")


class _RedactApiKey(logging.Filter):
    """httpx logs every request URL at INFO, and ours carries the api_key in the query string."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.args:
            args = record.args if isinstance(record.args, tuple) else (record.args,)
            record.args = tuple(
                _API_KEY_IN_URL.sub(r"\1***", str(a)) if "api_key=" in str(a) else a for a in args
            )
        if isinstance(record.msg, str) and "api_key=" in record.msg:
            record.msg = _API_KEY_IN_URL.sub(r"\1***", record.msg)
        return True


_httpx_logger = logging.getLogger("httpx")
if not any(isinstance(f, _RedactApiKey) for f in _httpx_logger.filters):
    _httpx_logger.addFilter(_RedactApiKey())


class XuiOneClient(PanelHttpClient):
    """Sends Admin API actions to one XUI One panel; every value goes form-encoded in a POST."""

    @property
    def endpoint(self) -> str:
        # The trailing slash matters: without it nginx redirects or serves the admin login page.
        return f"{self.config.api_url.rstrip('/')}/{self.config.access_code.strip('/')}/"

    def call(self, action: str, data: FormData = (), *, secrets: Iterable[str] = ()) -> Any:
        """Send one action and return the decoded JSON (a dict for most actions, a list for
        list actions). `secrets` are values from `data` (line passwords) that must never reach an
        exception message or `raw`, even if the panel echoes them back.

        Raises TransientPanelError for anything that is not the API answering, and
        PermanentPanelError (or UsernameTaken) when the API answers with a STATUS_* failure.
        """
        if not self.config.access_code.strip("/"):
            raise PermanentPanelError(
                "This XUI One panel has no Admin API access code; add it to the panel settings.",
                code="misconfigured",
            )
        hide = [s for s in (self.config.api_key, *secrets) if s]
        body = urlencode(list(data))
        answer = panel_exchange(
            self._http,
            self.config,
            label="XUI One",
            what=action,
            method="POST",
            url=self.endpoint,
            log_name="xui_one",
            connect_hint="check the panel is up and the API URL and port.",
            too_large_note=" (a proxy or a broken panel page?)",
            applied="action",
            # The network error's text may hold the request URL, and with it the api_key.
            error_text=lambda text: _redact(text, hide),
            params={"api_key": self.config.api_key, "action": action},
            content=body.encode(),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        return _decode(action, answer.status, answer.text, hide)


def _redact(text: str, secrets: Iterable[str]) -> str:
    return redact(_API_KEY_IN_URL.sub(r"\1***", text), secrets)


def _decode(action: str, status: int, text: str, hide: list[str]) -> Any:
    raw = _redact(text[:RAW_PREFIX], hide)

    if status != 200:
        hint = {
            403: "nginx refused the caller: is this server's IP on the access code's whitelist?",
            404: "check the access code and that the API URL is the panel's HTTP port.",
            503: "nginx rate limit or the panel is overloaded; retry later.",
        }.get(status, "the panel or its nginx is failing; retry later.")
        if 300 <= status < 400:
            hint = "the panel redirected (wrong scheme, port or access code?)."
        raise TransientPanelError(
            f"XUI One answered {action} with HTTP {status}: {hint}",
            code=f"http_{status}",
            raw=raw,
        )

    if not text.strip():
        # PHP exit() on a failed permission check (reference §1.1) looks exactly like a request
        # that died mid-way (PHP 8 TypeError, proxy hiccup). We cannot tell them apart, and for a
        # create we cannot know whether it was applied, so the operation layer must treat it like
        # a timeout: retry with the same username (idempotent), give up after its attempt limit.
        raise TransientPanelError(
            f"XUI One answered {action} with an empty body; usually the API key's group lacks "
            "the permission for this action (add_user/edit_user), otherwise the panel crashed.",
            code="empty_response",
        )

    try:
        payload = json.loads(text)
    except ValueError:
        looks_html = text.lstrip()[:1] == "<"
        raise TransientPanelError(
            f"XUI One answered {action} with {'an HTML page' if looks_html else 'non-JSON'} "
            "instead of JSON; check the API URL, port and access code.",
            code="bad_response",
            raw=raw,
        ) from None

    if payload is None:
        # get_lines proxies to table.php over cURL and json_encode()s its decode failure: `null`.
        raise TransientPanelError(
            f"XUI One answered {action} with null (its internal table request failed).",
            code="bad_response",
            raw=raw,
        )
    if isinstance(payload, list):
        return payload
    if not isinstance(payload, dict) or "status" not in payload:
        raise TransientPanelError(
            f"XUI One answered {action} with JSON that is not an API envelope.",
            code="bad_response",
            raw=raw,
        )

    panel_status = str(payload.get("status"))
    if panel_status in ("STATUS_SUCCESS", "STATUS_SUCCESS_MULTI"):
        return payload

    error = str(payload.get("error") or "")
    # Failure bodies echo the submitted fields (passwords included): keep only status and error.
    failure_raw = _redact(json.dumps({"status": panel_status, "error": error}), hide)
    if error == "Invalid API key.":
        raise PermanentPanelError(
            "XUI One refused the API key: it must belong to an enabled admin user; "
            "generate one under Edit Profile and save it in the panel settings.",
            code="invalid_api_key",
            raw=failure_raw,
        )
    if error == "Invalid action.":
        raise PermanentPanelError(
            f"This XUI One panel does not know the action {action!r}; is it an XUI One panel?",
            code="invalid_action",
            raw=failure_raw,
        )
    if panel_status == "STATUS_EXISTS_USERNAME":
        raise UsernameTaken(
            "XUI One already has a line with this username.",
            code=panel_status,
            raw=failure_raw,
        )
    if panel_status == "STATUS_INSUFFICIENT_CREDITS":
        # The Reseller API's refusal of a sale (reference §1.6): nothing was created or renewed.
        raise InsufficientCredits(
            f"XUI One refused {action}: the reseller's credits do not cover the package; top "
            "up the credits on the panel, then retry.",
            code=panel_status,
            raw=failure_raw,
        )
    if not panel_status.startswith("STATUS_"):
        raise TransientPanelError(
            f"XUI One answered {action} with an unknown status.",
            code="bad_response",
            raw=failure_raw,
        )
    detail = f": {_redact(error, hide)}" if error else ""
    raise PermanentPanelError(
        f"XUI One refused {action} with {panel_status}{detail}.",
        code=panel_status,
        raw=failure_raw,
    )
