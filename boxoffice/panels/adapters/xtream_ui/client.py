"""Wire format of the Xtream Codes 2.x / Xtream UI admin API: `api.php?action=<a>&sub=<s>`.

This module sends one action and turns the answer into a dict or a `PanelError`; it knows
nothing about lines. What it absorbs (reference §2, §7):

* Auth is the caller's IP (the panel's own servers or setting `api_ips`) plus an optional
  `api_pass`. Refusals are HTTP 200 JSON with the message as an *unkeyed* array element:
  `{"result":false,"0":"IP FORBIDDEN"}`, `{"result":false,"0":"KEY WRONG"}` - permanent: a retry
  from the same server with the same pass is refused again.
* Outcomes are `{"result":true|false, "error":…}`; `reg_user/credits` even answers
  `result:true` with an error. Lists (`server/list`) are bare JSON arrays.
* Timeouts, refused connections, HTML pages (nginx, a login page), empty bodies: transient.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any
from urllib.parse import urlencode

from boxoffice.panels.adapters.base import (
    PermanentPanelError,
    TransientPanelError,
)
from boxoffice.panels.adapters.transport import (
    RAW_PREFIX,
    PanelHttpClient,
    panel_exchange,
    redact,
)

FormData = Sequence[tuple[str, str]]

IP_FORBIDDEN = "IP FORBIDDEN"
KEY_WRONG = "KEY WRONG"


class XtreamUiClient(PanelHttpClient):
    """Sends `api.php` actions to one Xtream UI panel; every value form-encoded in a POST."""

    @property
    def endpoint(self) -> str:
        path = str(self.config.settings.get("api_path") or "/api.php")
        return f"{self.config.api_url.rstrip('/')}/{path.lstrip('/')}"

    def call(
        self, action: str, sub: str, data: FormData = (), *, secrets: Iterable[str] = ()
    ) -> Any:
        """Send `action`/`sub` and return the decoded JSON (a dict, or a list for lists).

        `secrets` (line passwords in `data`) never reach an exception message or `raw`.
        Raises TransientPanelError when it is not the API answering, PermanentPanelError for
        the auth refusals; `{"result":false}` outcomes are returned for the adapter to read.
        """
        api_pass = str(self.config.settings.get("api_pass") or "")
        hide = [s for s in (api_pass, *secrets) if s]
        form = [("action", action), ("sub", sub), *data]
        if api_pass:
            form.append(("api_pass", api_pass))
        what = f"{action}/{sub}"
        answer = panel_exchange(
            self._http,
            self.config,
            label="Xtream UI",
            what=what,
            method="POST",
            url=self.endpoint,
            log_name="xtream_ui",
            connect_hint="check the panel is up and the API URL is its broadcast port "
            "(25461 by default).",
            applied="action",
            # action/sub in the query too: the panel merges GET and POST, and logs of a
            # proxy in between then say what was asked. Nothing secret goes there.
            params={"action": action, "sub": sub},
            content=urlencode(form).encode(),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        return decode(what, answer.status, answer.text, hide)


def decode(what: str, status: int, text: str, hide: list[str]) -> Any:
    raw = redact(text[:RAW_PREFIX], hide)
    if status != 200:
        hint = "the panel or its nginx is failing; retry later."
        if 300 <= status < 400:
            hint = "the panel redirected (wrong scheme or port?)."
        elif status == 404:
            hint = "no api.php there: is the API URL the panel's broadcast port?"
        raise TransientPanelError(
            f"Xtream UI answered {what} with HTTP {status}: {hint}", code=f"http_{status}", raw=raw
        )
    if not text.strip():
        raise TransientPanelError(
            f"Xtream UI answered {what} with an empty body (the PHP script died?).",
            code="empty_response",
        )
    try:
        payload = json.loads(text)
    except ValueError:
        looks_html = text.lstrip()[:1] == "<"
        raise TransientPanelError(
            f"Xtream UI answered {what} with {'an HTML page' if looks_html else 'non-JSON'} "
            "instead of JSON; check the API URL and port.",
            code="bad_response",
            raw=raw,
        ) from None
    if isinstance(payload, list):
        return payload
    if not isinstance(payload, dict) or "result" not in payload:
        raise TransientPanelError(
            f"Xtream UI answered {what} with JSON that is not an api.php answer.",
            code="bad_response",
            raw=raw,
        )
    if payload.get("result") is False:
        # The auth refusals: json_encode(array('result' => false, 'IP FORBIDDEN')) -> key "0".
        refusal = str(payload.get("0") or "")
        if refusal == IP_FORBIDDEN:
            raise PermanentPanelError(
                "Xtream UI refused this server's IP address: add it under Settings → API "
                "(API IPs, `api_ips`) on the panel.",
                code="ip_forbidden",
                raw=raw,
            )
        if refusal == KEY_WRONG:
            raise PermanentPanelError(
                "Xtream UI refused the API password: set `api_pass` to the panel's "
                "Settings → API password.",
                code="key_wrong",
                raw=raw,
            )
    return payload
