"""An Xtream Codes 2.x / Xtream UI panel's `api.php` on a loopback port, for development and tests.

Serves `/api.php` (also `/admin/api.php`, where later builds moved it), GET and POST merged as
PHP's `$_REQUEST`; `/_emulator/users`, `/_emulator/mags`, `/_emulator/faults` and
`/_emulator/reset` to inspect and steer it (never faulted). The caller's IP must be in
`api_ips` (default: loopback) and `api_pass` must match when set, as on the real panel.

``python -m boxoffice_dev.xtream_ui --port 9101 --api-pass secret``
"""

from __future__ import annotations

import argparse
import json
import threading
from typing import Any

from boxoffice_dev.http_emulator import HttpEmulator, Reply
from boxoffice_dev.xtream_ui.panel import XtreamUiPanel
from boxoffice_dev.xui_one import php
from boxoffice_dev.xui_one.php import PhpFatalError

_FORM = "application/x-www-form-urlencoded"
API_PATHS = ("/api.php", "/admin/api.php")


class XtreamUiEmulator(HttpEmulator):
    name = "xtream-ui-emulator"

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
        self.request_log: list[dict[str, Any]] = []
        self._log_lock = threading.Lock()

    @property
    def api_pass(self) -> str:
        return self.panel.api_pass

    def users(self) -> list[dict]:
        return self.panel.users()

    def mags(self) -> list[dict]:
        return self.panel.mags()

    def reset(self) -> None:
        self.panel.reset()
        self.set_faults("ok")
        with self._log_lock:
            self.request_log.clear()

    def faulted(self, path: str) -> bool:
        return path in API_PATHS

    def handle(self, handler: Any, method: str, path: str, query: str, body: bytes) -> Reply:
        if path in API_PATHS:
            get = php.parse_php_query(query)
            post: dict = {}
            if method == "POST" and (handler.headers.get("Content-Type") or "").startswith(_FORM):
                post = php.parse_php_query(body.decode("utf-8", "replace"))
            request = php.clean_request(php.merge_request(get, post))
            with self._log_lock:
                self.request_log.append(
                    {k: php.to_json_ready(v) for k, v in request.items() if k != "api_pass"}
                )
            try:
                text = self.panel.api_request(request, handler.client_address[0])
            except PhpFatalError:
                return Reply(500, b"")
            return Reply(200, text, "text/html; charset=UTF-8")
        if path == "/_emulator/users":
            return Reply(200, json.dumps(self.users()), "application/json")
        if path == "/_emulator/mags":
            return Reply(200, json.dumps(self.mags()), "application/json")
        if path == "/_emulator/reset" and method == "POST":
            self.reset()
            return Reply(200, '{"reset":true}', "application/json")
        if path == "/_emulator/faults" and method == "POST":
            try:
                spec = json.loads(body or b"{}")
                self.set_faults(
                    spec.get("mode", "ok"), spec.get("latency_ms", 0), spec.get("count")
                )
            except (ValueError, TypeError, AttributeError) as exc:
                return Reply(400, json.dumps({"error": str(exc)}), "application/json")
            return Reply(200, '{"ok":true}', "application/json")
        return Reply(404, b"<html><body><h1>404 Not Found</h1></body></html>")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Xtream UI api.php emulator")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9101)
    parser.add_argument("--api-pass", default="")
    args = parser.parse_args(argv)
    emulator = XtreamUiEmulator(
        host=args.host, port=args.port, api_pass=args.api_pass, log_requests=True
    ).start()
    print(f"Xtream UI emulator: {emulator.base_url}/api.php", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        emulator.stop()
