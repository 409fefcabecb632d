"""An Xtream Codes 2.x / Xtream UI panel's `api.php` on a loopback port, for development and tests.

Serves `/api.php` (also `/admin/api.php`, where later builds moved it), GET and POST merged as
PHP's `$_REQUEST`; the shared control endpoints of `boxoffice_dev.panel_http` (faults, state,
requests, reset) plus `/_emulator/users` and `/_emulator/mags`. The caller's IP must be in
`api_ips` (default: loopback) and `api_pass` must match when set, as on the real panel.

``python -m boxoffice_dev.xtream_ui --port 9101 --api-pass secret``
"""

from __future__ import annotations

import json
from typing import Any

from boxoffice_dev.panel_http import PanelEmulator, Reply, serve_main
from boxoffice_dev.xtream_ui.panel import XtreamUiPanel
from boxoffice_dev.xui_one import php
from boxoffice_dev.xui_one.php import PhpFatalError

_FORM = "application/x-www-form-urlencoded"
API_PATHS = ("/api.php", "/admin/api.php")


class XtreamUiEmulator(PanelEmulator):
    name = "xtream-ui"
    truncated_json = b'{"result":true,"user_info":{"username":"li'

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        api_pass: str = "",
        api_ips: tuple[str, ...] = ("127.0.0.1", "::1"),
        log_requests: bool = False,
    ):
        super().__init__(host, port, log_requests=log_requests)
        self.panel = XtreamUiPanel(api_pass=api_pass, api_ips=api_ips)

    @property
    def api_pass(self) -> str:
        return self.panel.api_pass

    def users(self) -> list[dict]:
        return self.panel.users()

    def mags(self) -> list[dict]:
        return self.panel.mags()

    def state(self) -> Any:
        return {"users": self.users(), "mags": self.mags()}

    def reset_state(self) -> None:
        self.panel.reset()

    def is_api_path(self, path: str) -> bool:
        return path in API_PATHS

    def log_request(self, method: str, path: str, query: str, body: bytes) -> None:
        """`api` logs the parsed `$_REQUEST` instead (without `api_pass`)."""

    def api(self, method, path, query, body, headers, client) -> Reply:
        get = php.parse_php_query(query)
        post: dict = {}
        if method == "POST" and (headers.get("Content-Type") or "").startswith(_FORM):
            post = php.parse_php_query(body.decode("utf-8", "replace"))
        request = php.clean_request(php.merge_request(get, post))
        self.request_log.append(
            {k: php.to_json_ready(v) for k, v in request.items() if k != "api_pass"}
        )
        try:
            text = self.panel.api_request(request, client)
        except PhpFatalError:
            return Reply(500, b"")
        return Reply(200, text, "text/html; charset=UTF-8")

    def control(self, method: str, path: str, body: bytes) -> Reply | None:
        if path == "/_emulator/users":
            return Reply(200, json.dumps(self.users()), "application/json")
        if path == "/_emulator/mags":
            return Reply(200, json.dumps(self.mags()), "application/json")
        return None


def _add_arguments(parser) -> None:
    parser.add_argument("--api-pass", default="")


def main(argv: list[str] | None = None) -> None:
    serve_main(
        XtreamUiEmulator,
        "Xtream UI api.php emulator (/api.php)",
        argv,
        default_port=9101,
        add_arguments=_add_arguments,
    )
