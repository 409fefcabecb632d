"""A real HTTP server that behaves like an XUI.one panel, for development and tests.

One port serves what a real XUI install serves on its broadcast port:

* the Admin API at ``/<access code>/`` (and ``/<access code>/index.php``), GET and POST merged;
* the Reseller API (an access code of type 4, ``/resellerapi1/`` by default): packages, credits
  deducted per sale, renewal by package (``/_emulator/credits`` reads or sets the balance);
* the customer side: ``player_api.php``, ``get.php``, ``/playlist/U/P/m3u_plus``, ``xmltv.php``,
  ``/epg/U/P``, ``/live/U/P/<id>.ts``, and a ``/c/`` MAG portal placeholder;
* ``/_emulator/...`` control endpoints (never faulted) to inject faults and inspect state
  (``/_emulator/in_flight``: the API requests being answered now and the most at once).

Fault modes (admin and reseller API requests only): ``ok``, ``down`` (connection closed without an answer),
``503`` (nginx limit_req page), ``html`` (nginx 403 page), ``empty`` (HTTP 200, empty body),
``garbage`` (HTTP 200, truncated JSON), ``act_then_timeout`` (do the action, then sleep
``latency_ms``, default 3000, before answering), ``drip`` (do the action, send the headers,
then the body one byte every ``latency_ms``, default 2000: never a read timeout, never done),
``huge`` (HTTP 200 without Content-Length and 60 MB of body; the bytes written before the client
hung up are in ``huge_bytes_sent``).

Stdlib only, no Django: ``python -m boxoffice_dev.xui_one --port 8100`` works anywhere.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import socket
import threading
import time
import urllib.parse
from datetime import UTC, datetime
from typing import Any

from ..panel_http import EmulatorHandler, EmulatorServer
from . import pages, php
from .panel import XuiPanel
from .php import PhpFatalError

FAULT_MODES = (
    "ok",
    "down",
    "503",
    "html",
    "empty",
    "garbage",
    "act_then_timeout",
    "drip",
    "huge",
)
TIMEOUT_FAULT_DEFAULT_MS = 3000
DRIP_FAULT_DEFAULT_MS = 2000
HUGE_FAULT_BYTES = 60 * 1024 * 1024
XUI_VERSION = "1.5.13"

_FORM = "application/x-www-form-urlencoded"
_TRUNCATED_JSON = b'{"status":"STATUS_SUCCESS","data":{"id":"1","username":"li'


class _Server(EmulatorServer):
    emulator: XuiOneEmulator


class _Server6(_Server):
    address_family = socket.AF_INET6


class _Handler(EmulatorHandler):
    server: _Server

    def do_HEAD(self) -> None:
        self._dispatch()

    # --- plumbing ------------------------------------------------------------------------

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _nginx(self, status: int, headers: dict[str, str] | None = None) -> None:
        self.send(status, pages.nginx_page(status), headers=headers)

    def _json(self, status: int, payload: Any) -> None:
        self.send(status, json.dumps(payload), "application/json")

    def _php_request(self, query: str, body: bytes) -> dict:
        get = php.parse_php_query(query)
        post: dict = {}
        if self.command == "POST" and (self.headers.get("Content-Type") or "").startswith(_FORM):
            post = php.parse_php_query(body.decode("utf-8", "replace"))
        return php.clean_request(php.merge_request(get, post))

    def _public_base(self) -> str:
        host = self.headers.get("Host")
        return f"http://{host}" if host else self.server.emulator.base_url

    def _dispatch(self) -> None:
        emulator = self.server.emulator
        url = urllib.parse.urlsplit(self.path)
        path = url.path
        body = self._read_body()
        code = emulator.access_code
        try:
            if path.startswith("/_emulator/"):
                self._control(path, body)
            elif path == f"/{code}":
                # nginx adds the slash to a directory location; a POST turns into a GET there.
                self._nginx(301, {"Location": f"{self._public_base()}/{code}/"})
            elif path in (f"/{code}/", f"/{code}/index.php"):
                self._admin(self._php_request(url.query, body))
            elif emulator.reseller_access_code and path in (
                f"/{emulator.reseller_access_code}/",
                f"/{emulator.reseller_access_code}/index.php",
            ):
                # An access code of type 4: the Reseller API (reference §1.6).
                self._admin(self._php_request(url.query, body), reseller=True)
            else:
                self._customer(path, self._php_request(url.query, body))
        except (BrokenPipeError, ConnectionResetError):
            pass

    # --- control ---------------------------------------------------------------------------

    def _control(self, path: str, body: bytes) -> None:
        emulator = self.server.emulator
        if path == "/_emulator/faults":
            if self.command == "POST":
                try:
                    spec = json.loads(body or b"{}")
                    if not isinstance(spec, dict):
                        raise ValueError("send a JSON object")
                    emulator.set_faults(
                        mode=spec.get("mode", "ok"),
                        latency_ms=spec.get("latency_ms", 0),
                        count=spec.get("count"),
                        rate=spec.get("rate", 1.0),
                        seed=spec.get("seed"),
                    )
                except (ValueError, TypeError) as exc:
                    self._json(400, {"error": str(exc), "modes": list(FAULT_MODES)})
                    return
            self._json(200, emulator.faults)
        elif path == "/_emulator/lines":
            self._json(200, emulator.lines())
        elif path == "/_emulator/credits":
            if self.command == "POST":
                try:
                    emulator.panel.set_credits(int(json.loads(body or b"{}")["credits"]))
                except (ValueError, TypeError, KeyError):
                    self._json(400, {"error": 'send {"credits": <whole number>}'})
                    return
            self._json(200, {"credits": emulator.panel.reseller_credits})
        elif path == "/_emulator/mags":
            self._json(200, emulator.mags())
        elif path == "/_emulator/seed" and self.command == "POST":
            # {"count": 10000, "prefix": "seed", "exp_date": 1830000000, "bouquets": [1, 2],
            #  "admin_notes": "customer{n}@example.com", "trial_every": 10, "disabled_every": 0}
            try:
                spec = json.loads(body or b"{}")
                if not isinstance(spec, dict):
                    raise ValueError("send a JSON object")
                ids = emulator.seed_lines(**spec)
            except (ValueError, TypeError) as exc:
                self._json(400, {"error": str(exc)})
                return
            self._json(200, {"seeded": len(ids), "first_id": ids[0] if ids else None})
        elif path == "/_emulator/in_flight":
            # {"in_flight": n, "max_in_flight": m}: API requests being answered now, and the
            # most at once since the start, a reset or a POST here (which zeroes the maximum).
            if self.command == "POST":
                emulator.in_flight_reset()
            self._json(200, emulator.in_flight)
        elif path == "/_emulator/requests":
            self._json(200, [{"action": a, "params": p} for a, p in emulator.request_log])
        elif path == "/_emulator/activity" and self.command == "POST":
            # {"username": ..., "active_connections": 1, "last_active": <unix seconds or null>}:
            # the customer is watching now (or stopped), as the panel would report it.
            try:
                spec = json.loads(body or b"{}")
                if not isinstance(spec, dict):
                    raise ValueError("send a JSON object")
                row = emulator.panel.set_activity(
                    str(spec.get("username", "")),
                    active_connections=int(spec.get("active_connections", 1)),
                    last_active=spec.get("last_active", int(time.time())),
                )
            except KeyError as exc:
                self._json(404, {"error": str(exc)})
                return
            except (ValueError, TypeError) as exc:
                self._json(400, {"error": str(exc)})
                return
            self._json(
                200, {k: row[k] for k in ("id", "username", "active_connections", "last_active")}
            )
        elif path == "/_emulator/reset" and self.command == "POST":
            emulator.reset()
            self._json(200, {"reset": True})
        else:
            self._json(404, {"error": "unknown control endpoint"})

    # --- admin API ------------------------------------------------------------------------

    def _admin(self, request: dict, *, reseller: bool = False) -> None:
        emulator = self.server.emulator
        emulator._log_request(request)
        emulator._in_flight_change(+1)
        try:
            self._admin_answer(request, reseller=reseller)
        finally:
            emulator._in_flight_change(-1)

    def _admin_answer(self, request: dict, *, reseller: bool) -> None:
        emulator = self.server.emulator
        mode, latency_ms = emulator._take_fault()
        if mode == "down":
            self._drop()
            return
        if latency_ms and mode not in ("act_then_timeout", "drip"):
            time.sleep(latency_ms / 1000)
        if mode == "503":
            self._nginx(503)
            return
        if mode == "html":
            self._nginx(403)
            return
        if mode == "empty":
            self.send(200, b"")
            return
        if mode == "garbage":
            self.send(200, _TRUNCATED_JSON, "application/json")
            return
        if mode == "huge":
            self._send_huge()
            return
        try:
            answer = emulator.panel.reseller_request if reseller else emulator.panel.admin_request
            status, text = 200, answer(request)
        except PhpFatalError:
            status, text = 500, ""  # php-fpm with display_errors off: nginx relays a bare 500
        if mode == "act_then_timeout":
            time.sleep((latency_ms or TIMEOUT_FAULT_DEFAULT_MS) / 1000)
        if mode == "drip":
            self._send_drip(status, text, (latency_ms or DRIP_FAULT_DEFAULT_MS) / 1000)
            return
        self.send(status, text)

    def _send_drip(self, status: int, text: str, interval: float) -> None:
        # A slow or hostile middlebox: the answer arrives, one byte per interval, padded so it
        # lasts about a minute, and every single read comes well within any read timeout.
        data = text.encode() + b" " * 60
        self.send_response(status)
        self.send_header("Content-Type", "text/html; charset=UTF-8")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.flush()
        stop = self.server.emulator._stopping
        for i in range(len(data)):
            if stop.wait(interval):
                return
            self.wfile.write(data[i : i + 1])
            self.wfile.flush()

    def _send_huge(self) -> None:
        emulator = self.server.emulator
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Connection", "close")
        self.end_headers()
        chunk = b" " * (64 * 1024)
        self.wfile.write(b'{"status":"STATUS_SUCCESS","data":[')
        sent = 0
        try:
            while sent < HUGE_FAULT_BYTES:
                self.wfile.write(chunk)
                sent += len(chunk)
                emulator.huge_bytes_sent = sent
        finally:
            emulator.huge_bytes_sent = sent

    # --- customer side --------------------------------------------------------------------

    def _customer(self, path: str, request: dict) -> None:
        parts = [urllib.parse.unquote(p) for p in path.split("/")[1:]]
        if path == "/player_api.php":
            self._player_api(request)
        elif path == "/get.php":
            self._playlist(
                request.get("username"),
                request.get("password"),
                request.get("type") or "m3u_plus",
                request.get("output") or "ts",
            )
        elif parts[0] == "playlist" and len(parts) in (3, 4):
            kind = parts[3] if len(parts) == 4 and parts[3] else "m3u_plus"
            self._playlist(parts[1], parts[2], kind, request.get("output") or "ts")
        elif path == "/xmltv.php":
            self._epg(request.get("username"), request.get("password"), gzipped=False)
        elif parts[0] == "epg" and len(parts) in (3, 4):
            self._epg(parts[1], parts[2], gzipped=len(parts) == 4 and parts[3] == "gz")
        elif parts[0] == "live" and len(parts) == 4:
            self._live(parts[1], parts[2], parts[3])
        elif path == "/c":
            self._nginx(301, {"Location": f"{self._public_base()}/c/"})
        elif path in ("/c/", "/c/index.html"):
            self.send(200, pages.PORTAL_PAGE)
        else:
            self._nginx(404)

    def _line_or_404(self, username: Any, password: Any) -> dict | None:
        line, error = self.server.emulator.panel.authenticate(username, password)
        if error:
            # XUI's generateError(): a fake nginx 404 page, whatever the reason.
            self._nginx(404)
            return None
        return line

    def _player_api(self, request: dict) -> None:
        line = self._line_or_404(request.get("username"), request.get("password"))
        if line is None:
            return
        action = request.get("action")
        if action == "get_live_categories":
            payload: Any = pages.CATEGORIES
        elif action == "get_live_streams":
            category = request.get("category_id")
            payload = [
                s for s in pages.live_streams() if not category or s["category_id"] == category
            ]
        elif action in (
            "get_vod_categories",
            "get_vod_streams",
            "get_series_categories",
            "get_series",
        ):
            payload = []
        elif action in ("get_short_epg", "get_simple_data_table"):
            payload = {"epg_listings": []}
        else:
            payload = self._player_info(line)
        self.send(200, php.json_encode(payload), "application/json")

    def _player_info(self, line: dict) -> dict:
        emulator = self.server.emulator
        outputs = php.json_decode(line["allowed_outputs"])
        formats = [
            pages.OUTPUT_KEYS[php.intval(i)]
            for i in (outputs if isinstance(outputs, list) else [])
            if php.intval(i) in pages.OUTPUT_KEYS
        ]
        host = urllib.parse.urlsplit(self._public_base()).hostname or emulator.host
        now = datetime.now(UTC)
        return {
            "user_info": {
                "username": line["username"],
                "password": line["password"],
                "message": "Welcome to the XUI.one emulator",
                "auth": 1,
                "status": "Active",
                "exp_date": line["exp_date"],
                "is_trial": line["is_trial"],
                "active_cons": line.get("active_connections") or "0",
                "created_at": line["created_at"],
                "max_connections": line["max_connections"],
                "allowed_output_formats": formats,
            },
            "server_info": {
                "xcms": True,
                "version": XUI_VERSION,
                "revision": 2,
                "url": host,
                "port": str(emulator.port),
                "https_port": "443",
                "server_protocol": "http",
                "rtmp_port": "8880",
                "timestamp_now": int(now.timestamp()),
                "time_now": now.strftime("%Y-%m-%d %H:%M:%S"),
                "timezone": "UTC",
            },
        }

    def _playlist(self, username: Any, password: Any, kind: Any, output: Any) -> None:
        line = self._line_or_404(username, password)
        if line is None:
            return
        text = pages.m3u_playlist(
            self._public_base(), line["username"], line["password"], str(kind), str(output)
        )
        suffix = "_plus" if kind == "m3u_plus" else ""
        disposition = f'attachment; filename="playlist_{line["username"]}{suffix}.m3u"'
        self.send(200, text, "application/octet-stream", {"Content-Disposition": disposition})

    def _epg(self, username: Any, password: Any, *, gzipped: bool) -> None:
        if self._line_or_404(username, password) is None:
            return
        document = pages.xmltv(self._public_base()).encode()
        if gzipped:
            self.send(200, gzip.compress(document), "application/octet-stream")
        else:
            self.send(200, document, "application/xml; charset=utf-8")

    def _live(self, username: str, password: str, filename: str) -> None:
        line = self._line_or_404(username, password)
        if line is None:
            return
        stream, _, extension = filename.partition(".")
        extension = extension or "ts"
        outputs = php.json_decode(line["allowed_outputs"])
        allowed = {pages.OUTPUT_KEYS.get(php.intval(i)) for i in (outputs or [])}
        known = {str(c["id"]) for c in pages.CHANNELS}
        # An output missing from allowed_outputs is refused (USER_DISALLOW_EXT), like any error.
        if stream not in known or extension not in ("ts", "m3u8") or extension not in allowed:
            self._nginx(404)
        elif extension == "m3u8":
            self.send(200, pages.hls_playlist(int(stream)), "application/vnd.apple.mpegurl")
        else:
            self.send(200, pages.ts_packets(), "video/mp2t")


class XuiOneEmulator:
    """An XUI.one panel on a loopback port (``port=0``: pick a free one). See the module docstring."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        access_code: str = "adminapi1",
        api_key: str = "testkey",
        state_path: str | os.PathLike | None = None,
        bouquets: list[dict] | None = None,
        *,
        log_requests: bool = False,
        reseller_access_code: str = "resellerapi1",
        reseller_api_key: str = "resellerkey",
        reseller_credits: int = 100,
    ) -> None:
        self.host = host
        self.access_code = access_code.strip("/")
        self.api_key = api_key
        self.log_requests = log_requests
        self.reseller_access_code = reseller_access_code.strip("/")
        self.reseller_api_key = reseller_api_key
        self.panel = XuiPanel(
            api_key=api_key,
            bouquets=bouquets,
            state_path=state_path,
            reseller_api_key=reseller_api_key,
            reseller_credits=reseller_credits,
        )
        self._port = port
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._mode = "ok"
        self._latency_ms = 0
        self._count: int | None = None
        self._rate = 1.0
        self._random = random.Random()
        self._request_log: list[tuple[Any, dict]] = []
        self._in_flight = self._max_in_flight = 0
        self._stopping = threading.Event()
        self.huge_bytes_sent = 0

    # --- lifecycle -------------------------------------------------------------------------

    def start(self) -> XuiOneEmulator:
        if self._httpd is not None:
            return self
        self._stopping.clear()
        server_class = _Server6 if ":" in self.host else _Server
        httpd = server_class((self.host, self._port), _Handler)
        httpd.emulator = self
        self._httpd = httpd
        self._port = httpd.server_address[1]
        self._thread = threading.Thread(
            target=httpd.serve_forever,
            kwargs={"poll_interval": 0.01},  # stop() waits at most this long
            name=f"xui-one-emulator:{self._port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        self._stopping.set()  # ends dripping answers
        httpd.shutdown()
        httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> XuiOneEmulator:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        return self._port

    @property
    def base_url(self) -> str:
        host = self.host
        if host in ("", "0.0.0.0"):  # noqa: S104 (a URL to reach a wildcard bind)
            host = "127.0.0.1"
        elif host == "::":
            host = "::1"
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self._port}"

    @property
    def admin_url(self) -> str:
        return f"{self.base_url}/{self.access_code}/"

    @property
    def reseller_url(self) -> str:
        return f"{self.base_url}/{self.reseller_access_code}/"

    @property
    def credits(self) -> int:
        """The reseller's credit balance (the Reseller API's `user_info` credits)."""
        return self.panel.reseller_credits

    def set_credits(self, credits: int) -> None:
        self.panel.set_credits(credits)

    # --- inspection and control --------------------------------------------------------------

    def lines(self) -> list[dict]:
        return self.panel.lines()

    def seed_lines(self, count: int, **options: Any) -> list[int]:
        """`count` lines at once (see XuiPanel.seed_lines): for 10,000-line tests and the bench."""
        return self.panel.seed_lines(int(count), **options)

    def mags(self) -> list[dict]:
        """MAG devices (mag_devices rows, each with its hidden line under "user")."""
        return self.panel.mags()

    @property
    def request_log(self) -> list[tuple[Any, dict]]:
        with self._lock:
            return list(self._request_log)

    @property
    def faults(self) -> dict:
        with self._lock:
            return {
                "mode": self._mode,
                "latency_ms": self._latency_ms,
                "count": self._count,
                "rate": self._rate,
            }

    def set_faults(
        self,
        mode: str = "ok",
        latency_ms: int = 0,
        count: int | None = None,
        rate: float = 1.0,
        seed: int | None = None,
    ) -> None:
        """Fault the next admin API requests: all of them (count=None) or the next `count`;
        with `rate` below 1 only that fraction of them, at random (`seed` makes it repeatable)."""
        if mode not in FAULT_MODES:
            raise ValueError(f"unknown fault mode {mode!r}; use one of {', '.join(FAULT_MODES)}")
        if isinstance(latency_ms, bool) or not isinstance(latency_ms, int) or latency_ms < 0:
            raise ValueError("latency_ms must be a non-negative integer")
        if count is not None and (
            isinstance(count, bool) or not isinstance(count, int) or count < 1
        ):
            raise ValueError("count must be null or a positive integer")
        if isinstance(rate, bool) or not isinstance(rate, int | float) or not 0 <= rate <= 1:
            raise ValueError("rate must be a number from 0 to 1")
        with self._lock:
            self._mode, self._latency_ms, self._count = mode, latency_ms, count
            self._rate, self._random = float(rate), random.Random(seed)

    @property
    def in_flight(self) -> dict:
        """Admin and reseller API requests being answered now, and the most at once (since the
        start, a reset or `in_flight_reset`): what a panel's rate limit sees."""
        with self._lock:
            return {"in_flight": self._in_flight, "max_in_flight": self._max_in_flight}

    def in_flight_reset(self) -> None:
        with self._lock:
            self._max_in_flight = self._in_flight

    def _in_flight_change(self, delta: int) -> None:
        with self._lock:
            self._in_flight += delta
            self._max_in_flight = max(self._max_in_flight, self._in_flight)

    def simulate_watching(
        self, username: str, *, connections: int = 1, at: datetime | None = None
    ) -> dict:
        """The customer of `username` is watching now on `connections` devices (0: stopped,
        last seen `at`): what get_lines then reports as active_connections and last_active."""
        moment = at or datetime.now(UTC)
        return self.panel.set_activity(
            username, active_connections=connections, last_active=int(moment.timestamp())
        )

    def reset(self) -> None:
        """Back to a fresh start without a restart: no lines, no faults, an empty log."""
        self.panel.reset()
        with self._lock:
            self._mode, self._latency_ms, self._count = "ok", 0, None
            self._rate, self._random = 1.0, random.Random()
            self._request_log.clear()
            self._max_in_flight = self._in_flight
            self.huge_bytes_sent = 0

    def _take_fault(self) -> tuple[str, int]:
        with self._lock:
            mode, latency_ms = self._mode, self._latency_ms
            if mode != "ok" and self._rate < 1 and self._random.random() >= self._rate:
                return "ok", 0
            if self._count is not None:
                self._count -= 1
                if self._count <= 0:
                    self._mode, self._latency_ms, self._count = "ok", 0, None
            return mode, latency_ms

    def _log_request(self, request: dict) -> None:
        params = {k: php.to_json_ready(v) for k, v in request.items() if k != "api_key"}
        with self._lock:
            self._request_log.append((request.get("action"), params))


def main(argv: list[str] | None = None) -> None:
    """Run without Django: ``python -m boxoffice_dev.xui_one --port 8100``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8100)
    parser.add_argument("--access-code", default="adminapi1")
    parser.add_argument(
        "--api-key", default=os.environ.get("DEMO_PANEL_API_KEY") or "dev-panel-key"
    )
    parser.add_argument("--state", default=None, help="JSON file that keeps lines across restarts")
    args = parser.parse_args(argv)
    emulator = XuiOneEmulator(
        host=args.host,
        port=args.port,
        access_code=args.access_code,
        api_key=args.api_key,
        state_path=args.state,
        log_requests=True,
    ).start()
    print(f"XUI.one emulator admin API: {emulator.admin_url} (api_key={args.api_key})", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        emulator.stop()


if __name__ == "__main__":
    main()
