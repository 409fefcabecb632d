"""What the panel emulators (Xtream UI, NXT, Ministra, OneStream) share: a threaded HTTP server
on loopback, fault injection on the API paths, `/_emulator/...` control endpoints, start/stop/reset
and a `python -m boxoffice_dev.<kind>` entry point.

A kind's emulator subclasses `PanelEmulator` (its state and `api(...)`, answering a `Reply` or a
plain ``(status, body, content_type, headers)`` tuple). Fault modes (the paths `faulted` names,
by default every API path): ``ok``, ``down`` (the connection closed without an answer), ``503``
(an nginx page), ``html`` (an nginx 403 page), ``empty`` (HTTP 200, empty body), ``garbage``
(HTTP 200, the kind's `truncated_json`), ``act_then_timeout`` (do the request, then wait
``latency_ms``, default 3000, before answering). Control endpoints (never faulted):
``/_emulator/faults`` (GET, POST), ``/_emulator/state``, ``/_emulator/requests``, POST
``/_emulator/reset``, plus whatever a kind's `control` answers.

Stdlib only, no Django.
"""

from __future__ import annotations

import argparse
import json
import socket
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, NamedTuple

FAULT_MODES = ("ok", "down", "503", "html", "empty", "garbage", "act_then_timeout")
TIMEOUT_FAULT_DEFAULT_MS = 3000

NGINX_PAGE = (
    "<html>\r\n<head><title>{status}</title></head>\r\n<body>\r\n<center><h1>{status}</h1>"
    "</center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
)
_STATUS_TEXT = {
    403: "403 Forbidden",
    404: "404 Not Found",
    503: "503 Service Temporarily Unavailable",
}

Headers = Mapping[str, str] | Sequence[tuple[str, str]]


class Reply(NamedTuple):
    """One answer. Extra `headers` as a mapping or as pairs (pairs allow two `Set-Cookie`s)."""

    status: int
    body: bytes | str = b""
    content_type: str = "text/html; charset=UTF-8"
    headers: Headers | None = None


class EmulatorServer(ThreadingHTTPServer):
    """A threaded loopback server for one emulator (this module's kinds and XUI One's)."""

    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    emulator: Any

    def handle_error(self, request, client_address) -> None:
        # Clients that give up (timeouts, the `down` fault) are expected, not errors.
        if isinstance(sys.exc_info()[1], ConnectionError | TimeoutError):
            return
        super().handle_error(request, client_address)


class _Server(EmulatorServer):
    emulator: PanelEmulator


class EmulatorHandler(BaseHTTPRequestHandler):
    """What every emulator's handler does alike: nginx's name, quiet unless the emulator logs
    requests, GET and POST to `_dispatch`, `send` one whole answer (headers only for HEAD),
    `_drop` a connection without an answer."""

    protocol_version = "HTTP/1.0"
    server: EmulatorServer

    def version_string(self) -> str:
        return "nginx"

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.emulator.log_requests:
            super().log_message(format, *args)

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def _dispatch(self) -> None:
        raise NotImplementedError

    def send(
        self,
        status: int,
        body: bytes | str,
        content_type: str = "text/html; charset=UTF-8",
        headers: Headers | None = None,
    ) -> None:
        data = body.encode() if isinstance(body, str) else body
        pairs = headers.items() if isinstance(headers, Mapping) else headers or ()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Connection", "close")
        for name, value in pairs:
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _drop(self) -> None:
        """Hang up without a status line: the client sees a connection error."""
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


class PanelHandler(EmulatorHandler):
    server: _Server

    def do_PUT(self) -> None:
        self._dispatch()

    def do_DELETE(self) -> None:
        self._dispatch()

    def json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        self.send(status, json.dumps(payload), "application/json", headers)

    def nginx(self, status: int) -> None:
        self.send(status, NGINX_PAGE.format(status=_STATUS_TEXT.get(status, str(status))))

    def _dispatch(self) -> None:
        emulator = self.server.emulator
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        path, _, query = self.path.partition("?")
        try:
            if path.startswith("/_emulator/"):
                self._control(path, body)
            elif emulator.is_api_path(path):
                self._api(path, query, body, faulted=emulator.faulted(path))
            else:
                self.nginx(404)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def _api(self, path: str, query: str, body: bytes, *, faulted: bool) -> None:
        emulator = self.server.emulator
        mode, latency_ms = emulator._take_fault() if faulted else ("ok", 0)
        if mode == "down":
            self._drop()
            return
        if latency_ms and mode != "act_then_timeout":
            time.sleep(latency_ms / 1000)
        if mode in ("503", "html"):
            self.nginx(503 if mode == "503" else 403)
            return
        if mode == "empty":
            self.send(200, b"")
            return
        if mode == "garbage":
            self.send(200, emulator.truncated_json, "application/json")
            return
        with emulator.lock:
            emulator.log_request(self.command, path, query, body)
            reply = Reply(
                *emulator.api(self.command, path, query, body, self.headers, self.client_address[0])
            )
        if mode == "act_then_timeout":
            time.sleep((latency_ms or TIMEOUT_FAULT_DEFAULT_MS) / 1000)
        self.send(*reply)

    def _control(self, path: str, body: bytes) -> None:
        emulator = self.server.emulator
        if path == "/_emulator/faults":
            if self.command == "POST":
                try:
                    spec = json.loads(body or b"{}")
                    emulator.set_faults(
                        mode=spec.get("mode", "ok"),
                        latency_ms=spec.get("latency_ms", 0),
                        count=spec.get("count"),
                    )
                except (ValueError, TypeError, AttributeError) as exc:
                    self.json(400, {"error": str(exc), "modes": list(FAULT_MODES)})
                    return
            self.json(200, emulator.faults)
        elif path == "/_emulator/state":
            self.json(200, emulator.state())
        elif path == "/_emulator/requests":
            with emulator.lock:
                self.json(200, list(emulator.request_log))
        elif path == "/_emulator/reset" and self.command == "POST":
            emulator.reset()
            self.json(200, {"reset": True})
        else:
            with emulator.lock:
                reply = emulator.control(self.command, path, body)
            if reply is None:
                self.json(404, {"error": "unknown control endpoint"})
            else:
                self.send(*reply)


class PanelEmulator:
    """A panel on a loopback port (``port=0``: pick a free one). Subclasses implement
    `is_api_path`, `api`, `state` and `reset_state`, and may narrow `faulted`, add `control`
    endpoints and replace `log_request`; `lock` (reentrant) is held around every API and
    control call. `request_log` is a plain list (tests may read or clear it)."""

    name = "panel"
    # The `garbage` fault's body: the start of a JSON answer, cut off.
    truncated_json = b'{"status":"OK","results":[{"login":"li'

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, log_requests: bool = False):
        self.host = host
        self.log_requests = log_requests
        self.lock = threading.RLock()
        self._port = port
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None
        self._mode, self._latency_ms = "ok", 0
        self._count: int | None = None
        self.request_log: list[dict[str, Any]] = []

    # What a kind implements -------------------------------------------------------------------

    def is_api_path(self, path: str) -> bool:
        raise NotImplementedError

    def faulted(self, path: str) -> bool:
        """Whether the fault modes apply to this API path (by default: all of them)."""
        return True

    def api(
        self, method: str, path: str, query: str, body: bytes, headers: Message, client: str
    ) -> Reply | tuple[int, bytes | str, str, Headers | None]:
        """The answer to one API request (`headers` look-ups are case-insensitive; `client`
        is the caller's IP)."""
        raise NotImplementedError

    def control(self, method: str, path: str, body: bytes) -> Reply | None:
        """A kind's own `/_emulator/...` endpoints (None: not one of them)."""
        return None

    def state(self) -> Any:
        raise NotImplementedError

    def reset_state(self) -> None:
        raise NotImplementedError

    # Lifecycle ---------------------------------------------------------------------------------

    def start(self):
        if self._httpd is not None:
            return self
        httpd = _Server((self.host, self._port), PanelHandler)
        httpd.emulator = self
        self._httpd = httpd
        self._port = httpd.server_address[1]
        self._thread = threading.Thread(
            target=httpd.serve_forever,
            kwargs={"poll_interval": 0.01},
            name=f"{self.name}-emulator:{self._port}",
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

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        return self._port

    @property
    def base_url(self) -> str:
        host = "127.0.0.1" if self.host in ("", "0.0.0.0") else self.host  # noqa: S104
        return f"http://{host}:{self._port}"

    # Faults and inspection --------------------------------------------------------------------

    @property
    def faults(self) -> dict[str, Any]:
        with self.lock:
            return {"mode": self._mode, "latency_ms": self._latency_ms, "count": self._count}

    def set_faults(self, mode: str = "ok", latency_ms: int = 0, count: int | None = None) -> None:
        """Fault the next API requests: all of them (count=None) or the next `count`."""
        if mode not in FAULT_MODES:
            raise ValueError(f"unknown fault mode {mode!r}; use one of {', '.join(FAULT_MODES)}")
        if isinstance(latency_ms, bool) or not isinstance(latency_ms, int) or latency_ms < 0:
            raise ValueError("latency_ms must be a non-negative integer")
        if count is not None and (
            isinstance(count, bool) or not isinstance(count, int) or count < 1
        ):
            raise ValueError("count must be null or a positive integer")
        with self.lock:
            self._mode, self._latency_ms, self._count = mode, latency_ms, count

    def _take_fault(self) -> tuple[str, int]:
        with self.lock:
            mode, latency_ms = self._mode, self._latency_ms
            if self._count is not None:
                self._count -= 1
                if self._count <= 0:
                    self._mode, self._latency_ms, self._count = "ok", 0, None
            return mode, latency_ms

    def log_request(self, method: str, path: str, query: str, body: bytes) -> None:
        self.request_log.append(
            {
                "method": method,
                "path": path,
                "query": query,
                "body": body.decode("utf-8", "replace"),
            }
        )

    def reset(self) -> None:
        """Back to a fresh panel without a restart: no faults, an empty log."""
        with self.lock:
            self.reset_state()
            self._mode, self._latency_ms, self._count = "ok", 0, None
            self.request_log.clear()


def serve_main(
    cls: type[PanelEmulator],
    description: str,
    argv: list[str] | None = None,
    *,
    default_port: int | None = None,
    add_arguments: Any = None,
) -> None:
    """Run one emulator in the foreground: `python -m boxoffice_dev.<kind> --port N`.
    `add_arguments(parser)` adds a kind's own options, passed to `cls` by their dest names."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=default_port, required=default_port is None)
    if add_arguments is not None:
        add_arguments(parser)
    options = vars(parser.parse_args(argv))
    host, port = options.pop("host"), options.pop("port")
    emulator = cls(host=host, port=port, log_requests=True, **options).start()
    print(
        f"{description} on {emulator.base_url} (control: /_emulator/state, /_emulator/faults)",
        flush=True,
    )
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        emulator.stop()
