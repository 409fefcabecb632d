"""A small NXT ("NXT Dash") panel: the Laravel web forms a billing driver uses (reference §4).

NXT has no public API; the only evidence is one scraping client, and this imitates what it
relies on, nothing more:

* `GET /login`: a login form with a hidden `_token` and a `csrf-token` meta; cookies
  `XSRF-TOKEN` and `laravel_session`. `POST /login` with `_token` + credentials: 302 to
  `/dashboard` (a new session and a new CSRF token, as Laravel's `session()->regenerate()`),
  or 302 back to `/login` when refused.
* Every other page needs the session (else 302 to `/login`, as when a session expires), and
  every POST its CSRF token (`_token` or `X-CSRF-TOKEN`; else Laravel's 419 "Page Expired").
* `POST /lines/create/0` (paid) / `/lines/create/1` (trial): `line_type=line, username,
  password, mac, forced_country, package, current_bouquets=<comma ids>, q, description` ->
  `{"redirect":"/lines"}` or `{"error":…}`; **no id, no credentials** in the answer.
* `POST /lines/data` (DataTables `draw, start, length, search[value]`) -> `data` rows with
  `exp_date` as `DD-MM-YYYY HH:mm`.
* `POST /lines/delete/<id>`.
* `GET /lines/extend/<id>`: the renewal form's package `<option>`s (data-credits,
  data-duration, data-duration-in, data-connections).
"""

from __future__ import annotations

import html
import json
import secrets
import urllib.parse
from datetime import UTC, datetime, timedelta
from http.cookies import SimpleCookie
from typing import Any

from boxoffice_dev.panel_http import PanelEmulator, Reply, serve_main

PACKAGES = {
    "1": {
        "name": "1 Month",
        "credits": 1,
        "duration": 1,
        "duration_in": "months",
        "connections": 1,
    },
    "2": {
        "name": "3 Months 2 screens",
        "credits": 3,
        "duration": 3,
        "duration_in": "months",
        "connections": 2,
    },
    "9": {
        "name": "24h Trial",
        "credits": 0,
        "duration": 24,
        "duration_in": "hours",
        "connections": 1,
    },
}

LOGIN_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="csrf-token" content="{token}">
<title>NXT Dash | Login</title></head>
<body><form method="POST" action="/login" class="login-form">
<input type="hidden" name="_token" value="{token}">
<input type="text" name="username" placeholder="Username" autofocus>
<input type="password" name="password" placeholder="Password">
<button type="submit">Sign in</button>
</form></body></html>"""

PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="csrf-token" content="{token}"><title>NXT Dash | {title}</title></head>
<body><nav>NXT Dash</nav><main>{main}</main></body></html>"""

EXPIRED_PAGE = """<!DOCTYPE html><html><head><title>Page Expired</title></head>
<body><div class="code">419</div><div class="message">Page Expired</div></body></html>"""


def _duration(package: dict) -> timedelta:
    unit = package["duration_in"]
    if unit == "hours":
        return timedelta(hours=package["duration"])
    if unit == "days":
        return timedelta(days=package["duration"])
    return timedelta(days=30 * package["duration"])


class NxtEmulator(PanelEmulator):
    name = "nxt"
    truncated_json = b'{"result":true,"user_info":{"username":"li'

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        username: str = "reseller",
        password: str = "nxt-test-pass",  # noqa: S107 (the emulator's own test login)
        log_requests: bool = False,
    ):
        super().__init__(host, port, log_requests=log_requests)
        self.username, self.password = username, password
        self.reset()

    # --- state -------------------------------------------------------------------------------

    def reset_state(self) -> None:
        self._sessions: dict[str, dict[str, Any]] = {}
        self._lines: list[dict[str, Any]] = []
        self._next_id = 101
        self.logins = 0

    def state(self) -> Any:
        return {"lines": self.lines(), "logins": self.logins}

    def lines(self) -> list[dict]:
        with self.lock:
            return [dict(line) for line in self._lines]

    def expire_sessions(self) -> None:
        """As after the panel's session lifetime: every session is gone."""
        with self.lock:
            self._sessions.clear()

    def is_api_path(self, path: str) -> bool:
        return True  # the whole site: its web forms are the only interface

    def faulted(self, path: str) -> bool:
        # The line pages misbehave; the login page stays up (a test of a timed-out create must
        # reach the create, not stop at the login before it).
        return path.startswith("/lines")

    # --- HTTP --------------------------------------------------------------------------------

    def api(self, method, path, query, body, headers, client) -> Reply:
        cookies = SimpleCookie(headers.get("Cookie") or "")
        sid = cookies["laravel_session"].value if "laravel_session" in cookies else ""
        form = dict(urllib.parse.parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
        session = self._sessions.get(sid)
        if path == "/login":
            return self._login(method, session, form)
        if session is None or not session.get("user"):
            return Reply(302, b"", headers=[("Location", "/login")])
        if method == "POST":
            sent = form.get("_token") or headers.get("X-CSRF-TOKEN") or ""
            if sent != session["token"]:
                return Reply(419, EXPIRED_PAGE)
        return self._page(method, path, session, form)

    def _new_session(self, user: str = "") -> tuple[str, dict]:
        sid = secrets.token_urlsafe(24)
        session = {"token": secrets.token_urlsafe(30), "user": user}
        self._sessions[sid] = session
        return sid, session

    def _cookies(self, sid: str, session: dict) -> list[tuple[str, str]]:
        return [
            ("Set-Cookie", f"XSRF-TOKEN={urllib.parse.quote(session['token'])}; path=/"),
            ("Set-Cookie", f"laravel_session={sid}; path=/; httponly"),
        ]

    def _login(self, method: str, session: dict | None, form: dict) -> Reply:
        if method == "GET":
            sid, session = self._new_session()
            return Reply(
                200, LOGIN_PAGE.format(token=session["token"]), headers=self._cookies(sid, session)
            )
        if session is None or form.get("_token") != session["token"]:
            return Reply(419, EXPIRED_PAGE)
        if form.get("username") != self.username or form.get("password") != self.password:
            return Reply(302, b"", headers=[("Location", "/login")])
        self.logins += 1
        # session()->regenerate(): a new id and a new CSRF token.
        sid, fresh = self._new_session(user=self.username)
        return Reply(302, b"", headers=[("Location", "/dashboard"), *self._cookies(sid, fresh)])

    def _page(self, method: str, path: str, session: dict, form: dict) -> Reply:
        token = session["token"]
        if method == "GET" and path in ("/dashboard", "/lines"):
            main = f"<h1>{'Dashboard' if path == '/dashboard' else 'Lines'}</h1>"
            return Reply(200, PAGE.format(token=token, title=path.strip("/").title(), main=main))
        if method == "GET" and path.startswith("/lines/extend/"):
            line = self._line(path.rsplit("/", 1)[-1])
            if line is None:
                return Reply(404, PAGE.format(token=token, title="404", main="<h1>Not Found</h1>"))
            options = "".join(
                f'<option value="{pid}" data-credits="{p["credits"]}" data-duration="{p["duration"]}"'
                f' data-duration-in="{p["duration_in"]}" data-connections="{p["connections"]}">'
                f"{html.escape(p['name'])}</option>"
                for pid, p in PACKAGES.items()
                if p["credits"]
            )
            main = f'<form method="POST"><select name="package">{options}</select></form>'
            return Reply(200, PAGE.format(token=token, title="Extend", main=main))
        if method == "POST" and path in ("/lines/create/0", "/lines/create/1"):
            return self._create(form, trial=path.endswith("/1"))
        if method == "POST" and path == "/lines/data":
            return self._data(form)
        if method == "POST" and path.startswith("/lines/delete/"):
            line = self._line(path.rsplit("/", 1)[-1])
            if line is None:
                return _json({"error": "Line not found."})
            self._lines.remove(line)
            return _json({"redirect": "/lines"})
        return Reply(404, PAGE.format(token=token, title="404", main="<h1>Not Found</h1>"))

    def _line(self, line_id: str) -> dict | None:
        return next((line for line in self._lines if str(line["id"]) == line_id), None)

    def _create(self, form: dict, *, trial: bool) -> Reply:
        username, password = form.get("username", ""), form.get("password", "")
        if form.get("line_type") != "line":
            return _json({"error": "Invalid line type."})
        if not username or not password:
            return _json({"error": "The username and password fields are required."})
        if any(line["username"].lower() == username.lower() for line in self._lines):
            return _json({"error": "The username has already been taken."})
        package = PACKAGES.get(form.get("package", ""))
        if package is None or (trial != (package["credits"] == 0)):
            return _json({"error": "Invalid package."})
        bouquets = [b for b in form.get("current_bouquets", "").split(",") if b.strip()]
        expires = datetime.now(UTC).replace(second=0, microsecond=0) + _duration(package)
        self._lines.append(
            {
                "id": self._next_id,
                "username": username,
                "password": password,
                "mac": form.get("mac", ""),
                "package": form.get("package"),
                "bouquets": bouquets,
                "max_connections": package["connections"],
                "exp_date": expires.strftime("%d-%m-%Y %H:%M"),
                "is_trial": int(trial),
                "enabled": 1,
                "description": form.get("description", ""),
            }
        )
        self._next_id += 1
        return _json({"redirect": "/lines"})

    def _data(self, form: dict) -> Reply:
        term = form.get("search[value]", "").lower()
        rows = [line for line in self._lines if not term or term in line["username"].lower()]
        start = int(form.get("start") or 0)
        length = int(form.get("length") or 10)
        page = rows[start : start + length]
        return _json(
            {
                "draw": int(form.get("draw") or 1),
                "recordsTotal": len(self._lines),
                "recordsFiltered": len(rows),
                "data": [
                    {k: v for k, v in line.items() if k not in ("bouquets",)} for line in page
                ],
            }
        )


def _json(payload: Any) -> Reply:
    return Reply(200, json.dumps(payload), "application/json")


def main(argv: list[str] | None = None) -> None:
    serve_main(
        NxtEmulator,
        "NXT web-form emulator (/login: reseller / nxt-test-pass)",
        argv,
        default_port=9102,
    )
