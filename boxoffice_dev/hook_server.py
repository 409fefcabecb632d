"""What the crypto gateway emulators share: an HTTP server in threads and signed notifications
delivered in order, with retries, to the configured Boxoffice URL.

Standard library only (no Django), like the Stripe emulator: it plays the gateway, not Boxoffice.
"""

from __future__ import annotations

import abc
import json
import logging
import queue
import threading
import urllib.error
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

logger = logging.getLogger(__name__)


def checked_url(url: str | None) -> str | None:
    if url is None:
        return None
    parsed = urllib.parse.urlsplit(url)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise ValueError(f"not an http(s) URL: {url!r}")
    return url


class ThreadedEmulator(abc.ABC):
    """The lifecycle every gateway emulator shares: an HTTP server in threads (its
    `handler_class` finds the emulator as `server.emulator`) and one delivery thread draining
    `_queue`; `configure` and `wait_for_deliveries` for tests. A subclass calls
    `_threads_init()` in its constructor and implements `_delivery_loop`."""

    name = "emulator"
    handler_class: type[BaseHTTPRequestHandler]
    host: str
    port: int
    webhook_url: str | None
    _lock: Any

    def _threads_init(self) -> None:
        self._queue: queue.Queue[Any] = queue.Queue()
        self._pending = 0
        self._idle = threading.Condition()
        self._stopping = threading.Event()
        self._httpd: ThreadingHTTPServer | None = None
        self._threads: list[threading.Thread] = []

    def start(self):
        self._httpd = ThreadingHTTPServer((self.host, self.port), self.handler_class)
        self._httpd.emulator = self  # type: ignore[attr-defined]
        self.port = self._httpd.server_address[1]
        self._stopping.clear()
        self._threads = [
            # A short poll interval makes stop() quick (at most 10 ms); tests start one each.
            threading.Thread(
                target=self._httpd.serve_forever, args=(0.01,), name=f"{self.name}-http"
            ),
            threading.Thread(target=self._delivery_loop, name=f"{self.name}-hooks"),
        ]
        for thread in self._threads:
            thread.daemon = True
            thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._queue.put(None)
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        for thread in self._threads:
            thread.join(timeout=2)
        self._threads = []

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        host = "127.0.0.1" if self.host in ("", "0.0.0.0") else self.host  # noqa: S104
        return f"http://{host}:{self.port}"

    def configure(self, *, webhook_url: str | None) -> None:
        with self._lock:
            self.webhook_url = checked_url(webhook_url)

    def wait_for_deliveries(self, timeout: float = 5) -> None:
        """Block until every queued delivery (retries included) has finished."""
        with self._idle:
            if not self._idle.wait_for(lambda: self._pending == 0, timeout=timeout):
                raise TimeoutError(f"{self._pending} deliveries still queued after {timeout} s")

    @abc.abstractmethod
    def _delivery_loop(self) -> None:
        """Deliver what `_queue` holds until it yields None."""


class HookServer(ThreadedEmulator):
    """Lifecycle, state lock and notification delivery; subclasses route requests."""

    handler_class: type[BaseHTTPRequestHandler]  # set below, once _Handler exists

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        webhook_url: str | None = None,
        *,
        retry_delays: tuple[float, ...] = (0.05, 0.2, 0.5),
        delivery_timeout: float = 5.0,
        log_requests: bool = False,
    ):
        self.host = host
        self.port = port
        self.webhook_url = checked_url(webhook_url)
        self.retry_delays = tuple(retry_delays)
        self.delivery_timeout = delivery_timeout
        self.log_requests = log_requests
        self._lock = threading.RLock()
        self._threads_init()
        # Every notification sent (or held back when no URL is set): url, body, headers, status.
        self.deliveries: list[dict[str, Any]] = []

    # --- delivery -------------------------------------------------------------------------------
    def send(self, body: bytes, headers: dict[str, str], url: str | None = None) -> None:
        """Queue one signed notification for `url` (default: the configured one; none: kept in
        `deliveries` as held back, so a test can send it later)."""
        target = url or self.webhook_url
        if not target:
            self.deliveries.append({"url": None, "body": body, "headers": headers, "status": None})
            return
        with self._idle:
            self._pending += 1
        self._queue.put((target, body, headers))

    def release_held(self, url: str) -> int:
        """Send every notification held back (no URL was set) to `url` now, in order."""
        held = [d for d in self.deliveries if d["url"] is None and not d.get("released")]
        for record in held:
            record["released"] = True
            self.send(record["body"], record["headers"], url)
        return len(held)

    def _delivery_loop(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            try:
                self._deliver(*item)
            except Exception:
                logger.exception("%s: a delivery failed", self.name)
            finally:
                with self._idle:
                    self._pending -= 1
                    self._idle.notify_all()

    def _deliver(self, url: str, body: bytes, headers: dict[str, str]) -> None:
        record: dict[str, Any] = {"url": url, "body": body, "headers": headers, "status": None}
        self.deliveries.append(record)
        for delay in (0.0, *self.retry_delays):
            if delay and self._stopping.wait(delay):
                return
            request = urllib.request.Request(  # noqa: S310 - http(s) only, checked
                url,
                data=body,
                method="POST",
                headers={"Content-Type": "application/json", **headers},
            )
            try:
                with urllib.request.urlopen(request, timeout=self.delivery_timeout) as response:  # noqa: S310
                    record["status"] = response.status
            except urllib.error.HTTPError as exc:
                record["status"] = exc.code
            except (urllib.error.URLError, OSError) as exc:
                record["status"] = f"error: {exc}"
            if isinstance(record["status"], int) and 200 <= record["status"] < 300:
                return

    # --- routing (subclasses) -------------------------------------------------------------------
    def handle(
        self, method: str, path: str, query: dict[str, str], headers, body: bytes
    ) -> tuple[int, str, bytes, dict[str, str]]:
        """(status, content type, body, extra headers) for one request."""
        raise NotImplementedError


def json_answer(status: int, value: Any) -> tuple[int, str, bytes, dict[str, str]]:
    return status, "application/json", json.dumps(value).encode(), {}


def html_answer(status: int, html: str) -> tuple[int, str, bytes, dict[str, str]]:
    return status, "text/html; charset=utf-8", html.encode(), {}


def redirect(location: str) -> tuple[int, str, bytes, dict[str, str]]:
    return 303, "text/plain", b"", {"Location": location}


class _Handler(BaseHTTPRequestHandler):
    server_version = "GatewayEmulator/1"

    def _serve(self, method: str) -> None:
        emulator: HookServer = self.server.emulator  # type: ignore[attr-defined]
        split = urllib.parse.urlsplit(self.path)
        query = dict(urllib.parse.parse_qsl(split.query, keep_blank_values=True))
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(min(length, 1024 * 1024)) if length else b""
        try:
            status, ctype, payload, extra = emulator.handle(
                method, split.path, query, self.headers, body
            )
        except Exception as exc:  # an emulator bug must answer, not hang the client
            logger.exception("%s: %s %s", emulator.name, method, self.path)
            status, ctype, payload, extra = json_answer(500, {"message": str(exc)})
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(payload)))
        for key, value in extra.items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(payload)

    def do_GET(self) -> None:  # noqa: N802
        self._serve("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._serve("POST")

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        if self.server.emulator.log_requests:  # type: ignore[attr-defined]
            logger.info("%s %s", self.server.emulator.name, format % args)  # type: ignore[attr-defined]


HookServer.handler_class = _Handler
