"""What the smaller panel emulators share: a threaded HTTP server on loopback with fault modes.

A subclass of `HttpEmulator` answers `handle(handler, method, path, query, body)` for the API
paths and lists which of them fault (`faulted(path)`); `/_emulator/...` control paths are its
own and never faulted. Fault modes: ``ok``, ``down`` (connection closed without an answer),
``503`` (nginx limit_req page), ``html`` (nginx 403 page), ``empty`` (HTTP 200, empty body),
``garbage`` (HTTP 200, truncated JSON), ``act_then_timeout`` (do the action, then sleep
``latency_ms`` before answering). Stdlib only.
"""

from __future__ import annotations

import socket
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from boxoffice_dev.xui_one import pages

FAULT_MODES = ("ok", "down", "503", "html", "empty", "garbage", "act_then_timeout")
TIMEOUT_FAULT_DEFAULT_MS = 3000
TRUNCATED_JSON = b'{"result":true,"user_info":{"username":"li'


class Reply:
    """An answer: status, body, content type and extra headers."""

    def __init__(
        self,
        status: int = 200,
        body: bytes | str = b"",
        content_type: str = "text/html; charset=UTF-8",
        headers: list[tuple[str, str]] | None = None,
    ):
        self.status = status
        self.body = body.encode() if isinstance(body, str) else body
        self.content_type = content_type
        self.headers = headers or []


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    emulator: HttpEmulator

    def handle_error(self, request, client_address) -> None:
        if isinstance(sys.exc_info()[1], ConnectionError | TimeoutError):
            return
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"
    server: _Server

    def version_string(self) -> str:
        return "nginx"

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.emulator.log_requests:
            super().log_message(format, *args)

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def _send(self, reply: Reply) -> None:
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(len(reply.body)))
        self.send_header("Connection", "close")
        for name, value in reply.headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(reply.body)

    def _dispatch(self) -> None:
        emulator = self.server.emulator
        url = urllib.parse.urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        try:
            if not emulator.faulted(url.path):
                self._send(emulator.handle(self, self.command, url.path, url.query, body))
                return
            mode, latency_ms = emulator.take_fault()
            if mode == "down":
                self.close_connection = True
                try:
                    self.connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                return
            if latency_ms and mode != "act_then_timeout":
                time.sleep(latency_ms / 1000)
            if mode == "503":
                self._send(Reply(503, pages.nginx_page(503)))
            elif mode == "html":
                self._send(Reply(403, pages.nginx_page(403)))
            elif mode == "empty":
                self._send(Reply(200, b""))
            elif mode == "garbage":
                self._send(Reply(200, TRUNCATED_JSON, "application/json"))
            else:
                reply = emulator.handle(self, self.command, url.path, url.query, body)
                if mode == "act_then_timeout":
                    time.sleep((latency_ms or TIMEOUT_FAULT_DEFAULT_MS) / 1000)
                self._send(reply)
        except (BrokenPipeError, ConnectionResetError):
            pass


class HttpEmulator:
    """Base of an emulator on a loopback port (``port=0``: pick a free one)."""

    name = "emulator"

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, log_requests: bool = False):
        self.host = host
        self.log_requests = log_requests
        self._port = port
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None
        self._fault_lock = threading.Lock()
        self._mode, self._latency_ms, self._count = "ok", 0, None

    # Subclasses -----------------------------------------------------------------------------

    def handle(self, handler: Any, method: str, path: str, query: str, body: bytes) -> Reply:
        raise NotImplementedError

    def faulted(self, path: str) -> bool:
        return not path.startswith("/_emulator/")

    # Lifecycle --------------------------------------------------------------------------------

    def start(self) -> Any:
        if self._httpd is not None:
            return self
        httpd = _Server((self.host, self._port), _Handler)
        httpd.emulator = self
        self._httpd = httpd
        self._port = httpd.server_address[1]
        self._thread = threading.Thread(
            target=httpd.serve_forever,
            kwargs={"poll_interval": 0.01},
            name=f"{self.name}:{self._port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        httpd.shutdown()
        httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> Any:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        return self._port

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self._port}"

    # Faults -----------------------------------------------------------------------------------

    def set_faults(self, mode: str = "ok", latency_ms: int = 0, count: int | None = None) -> None:
        """Fault the next API requests: all of them (count=None) or the next `count`."""
        if mode not in FAULT_MODES:
            raise ValueError(f"unknown fault mode {mode!r}; use one of {', '.join(FAULT_MODES)}")
        with self._fault_lock:
            self._mode, self._latency_ms, self._count = mode, latency_ms, count

    def take_fault(self) -> tuple[str, int]:
        with self._fault_lock:
            mode, latency_ms = self._mode, self._latency_ms
            if self._count is not None:
                self._count -= 1
                if self._count <= 0:
                    self._mode, self._latency_ms, self._count = "ok", 0, None
            return mode, latency_ms
