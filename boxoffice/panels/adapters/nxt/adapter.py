"""NXT ("NXT Dash") panels, EXPERIMENTAL: a driver of the panel's web forms (reference §4).

NXT publishes no API. The only evidence of how billing talks to it is one scraping client, and
this adapter does what it does, no more:

* Laravel login: `GET /login`, scrape the `_token` (hidden input, or the `csrf-token` meta),
  `POST /login` with it and the credentials, keep the session cookies, read the fresh CSRF token
  from the next page (Laravel regenerates it on login), send it as `X-CSRF-TOKEN` with
  `X-Requested-With: XMLHttpRequest`. Logins are spaced at least 5 s apart per panel. A redirect
  to the login page (or Laravel's 419) means the session expired: log in again, once.
* Create: `POST /lines/create/0` (paid) or `/1` (trial) with the plan's `package` and
  `current_bouquets` (comma list); the answer is `{"redirect":"/lines"}` or `{"error":…}` with no
  id or credentials, so the new line is looked up in `POST /lines/data` (DataTables) after a
  pause, a few times.
* Delete: `POST /lines/delete/<id>`, then checked gone.
* Renewal on NXT is by package (`/lines/extend/<id>`): the duration is the package's, so an
  exact expiry (what `extend` promises) cannot be set. Not declared; nor suspend/resume, which
  the evidence does not show.

Anything this driver does not recognise (a page it cannot read, JSON without the fields it
knows) is a permanent error for an operator to review - never a guess.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from html.parser import HTMLParser
from typing import Any

import httpx

from boxoffice.lib.http import http_client
from boxoffice.panels.adapters.base import (
    Bouquet,
    Capabilities,
    ConfigField,
    HealthReport,
    LineAccess,
    LineFacts,
    LineNotFound,
    LineSpec,
    PanelAdapter,
    PanelConfig,
    PanelError,
    PanelLine,
    PermanentPanelError,
    TransientPanelError,
    UsernameTaken,
)
from boxoffice.panels.adapters.values import since
from boxoffice.panels.adapters.xui_one.access import xui_line_access

OPERATIONS = frozenset({"create_line", "find_line", "get_line", "delete", "health"})
LOGIN_SPACING_SECONDS = 5.0
FIND_DELAYS_SECONDS = (3.0, 5.0, 7.0)  # after a create, before each look in the list
PAGE_SIZE = 100
MAX_PAGES = 200
RAW_PREFIX = 500

_last_login: dict[str, float] = {}
_login_lock = threading.Lock()


class _Forms(HTMLParser):
    """The CSRF token and the login form's field names, from a page."""

    def __init__(self) -> None:
        super().__init__()
        self.meta_token = ""
        self.input_token = ""
        self.text_fields: list[str] = []
        self.password_fields: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        if tag == "meta" and values.get("name") == "csrf-token":
            self.meta_token = values.get("content", "")
        if tag != "input":
            return
        kind, name = values.get("type", "text").lower(), values.get("name", "")
        if name == "_token":
            self.input_token = values.get("value", "")
        elif kind == "password" and name:
            self.password_fields.append(name)
        elif kind in ("text", "email") and name:
            self.text_fields.append(name)

    @property
    def token(self) -> str:
        return self.input_token or self.meta_token


def _forms(text: str) -> _Forms:
    parser = _Forms()
    parser.feed(text)
    return parser


class NxtAdapter(PanelAdapter):
    kind = "nxt"
    label = "NXT (experimental — drives the web forms)"
    capabilities = Capabilities(operations=OPERATIONS, devices=False)
    config_fields = (
        ConfigField(
            "login_username", "Panel login", required=True, help="The reseller login of the web UI"
        ),
        ConfigField(
            "login_password",
            "Panel password",
            secret=True,
            help="Stored encrypted. Leave empty to keep the current one.",
        ),
    )
    plan_fields = (
        ConfigField(
            "package",
            "Package",
            required=True,
            help="The NXT package id this plan sells (it sets duration and connections)",
        ),
        ConfigField(
            "bouquets",
            "Bouquets",
            kind="int_list",
            help="Bouquet ids (sent as current_bouquets, a comma list)",
            invalid="bouquets must be a list of bouquet ids (whole numbers)",
        ),
    )

    @classmethod
    def access(cls, config: PanelConfig, facts: LineFacts) -> LineAccess:
        # NXT lines are Xtream Codes lines on the streaming side.
        return xui_line_access(config, facts)

    def __init__(self, config: PanelConfig, *, transport: httpx.BaseTransport | None = None):
        super().__init__(config)
        self._http = http_client(
            base_url=config.api_url.rstrip("/"),
            timeout=config.timeout,
            verify=config.verify_tls,
            transport=transport,
        )
        self._token = ""

    def close(self) -> None:
        self._http.close()

    # Operations -------------------------------------------------------------------------------

    def create_line(self, spec: LineSpec) -> PanelLine:
        self.require("create_line")
        package = str(spec.mapping.get("package") or "").strip()
        if not package:
            raise PermanentPanelError(
                "The plan has no NXT package for this panel; map it first.", code="no_package"
            )
        bouquets = spec.mapping.get("bouquets", spec.bouquets) or ()
        form = {
            "line_type": "line",
            "username": spec.username,
            "password": spec.password,
            "mac": "",
            "forced_country": "",
            "package": package,
            "current_bouquets": ",".join(str(int(b)) for b in bouquets),
            "q": "",
            "description": spec.notes,
        }
        path = f"/lines/create/{1 if spec.is_trial else 0}"
        answer = self._post(path, form, secrets=[spec.password])
        if "error" in answer:
            # The panel's wording is unknown: the list tells whether the name is the problem.
            if self.find_line(spec.username) is not None:
                raise UsernameTaken(
                    f"NXT already has a line named {spec.username!r}.", code="username_taken"
                )
            raise PermanentPanelError(
                f"NXT refused the new line: {str(answer['error'])[:200]}", code="nxt_refused"
            )
        if "redirect" not in answer:
            raise _unknown(f"POST {path}", str(answer)[:RAW_PREFIX])
        # No id comes back: the line shows up in the list after a moment.
        delays = self.config.options.get("find_delays", FIND_DELAYS_SECONDS)
        for delay in delays:
            time.sleep(float(delay))
            found = self.find_line(spec.username)
            if found is not None:
                if found.password != spec.password:
                    raise PermanentPanelError(
                        f"NXT lists line {spec.username!r} with another password than sent; "
                        "check it on the panel.",
                        code="credentials_altered",
                    )
                return found
        raise TransientPanelError(
            f"NXT accepted line {spec.username!r} but does not list it yet; the retry looks "
            "for it first.",
            code="not_listed_yet",
        )

    def find_line(self, username: str) -> PanelLine | None:
        self.require("find_line")
        if not username:
            return None
        for row in self._rows(search=username):
            if str(row.get("username")) == username:
                return _to_panel_line(row)
        return None

    def get_line(self, panel_line_id: str) -> PanelLine:
        self.require("get_line")
        wanted = str(panel_line_id or "").strip()
        if wanted.isdigit():
            for row in self._rows(search=""):
                if str(row.get("id")) == wanted:
                    return _to_panel_line(row)
        raise LineNotFound(f"NXT has no line with id {wanted!r}.", code="line_not_found")

    def delete(self, panel_line_id: str) -> None:
        self.require("delete")
        line = self.get_line(panel_line_id)
        answer = self._post(f"/lines/delete/{line.panel_line_id}", {})
        if "error" in answer:
            raise PermanentPanelError(
                f"NXT refused to delete line {line.panel_line_id}: {str(answer['error'])[:200]}",
                code="nxt_refused",
            )
        try:
            self.get_line(line.panel_line_id)
        except LineNotFound:
            return
        raise PermanentPanelError(
            f"NXT answered the delete of line {line.panel_line_id} but still lists it; check "
            "it on the panel.",
            code="edit_not_applied",
        )

    def extend(self, panel_line_id: str, expires_at: datetime | None) -> PanelLine:
        self.require("extend")
        raise AssertionError("unreachable")

    def change_password(self, panel_line_id: str, password: str) -> PanelLine:
        self.require("change_password")
        raise AssertionError("unreachable")

    def set_connections(self, panel_line_id: str, max_connections: int) -> PanelLine:
        self.require("set_connections")
        raise AssertionError("unreachable")

    def suspend(self, panel_line_id: str) -> PanelLine:
        self.require("suspend")
        raise AssertionError("unreachable")

    def resume(self, panel_line_id: str) -> PanelLine:
        self.require("resume")
        raise AssertionError("unreachable")

    def list_bouquets(self) -> list[Bouquet]:
        self.require("list_bouquets")
        return []

    def health(self) -> HealthReport:
        started = time.monotonic()
        try:
            self._login()
            answer = self._post(
                "/lines/data", {"draw": "1", "start": "0", "length": "1", "search[value]": ""}
            )
        except PanelError as exc:
            return HealthReport(ok=False, detail=str(exc), latency_ms=since(started))
        total = answer.get("recordsTotal")
        detail = (
            f"NXT login works; {total} lines listed"
            if isinstance(total, int)
            else ("NXT login works")
        )
        return HealthReport(ok=True, detail=detail, latency_ms=since(started))

    # Web forms --------------------------------------------------------------------------------

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            return self._http.request(method, path, **kwargs)
        except httpx.TimeoutException:
            raise TransientPanelError(
                f"NXT did not answer {method} {path} within {self.config.timeout:g}s; the "
                "action may still have been applied.",
                code="timeout",
            ) from None
        except httpx.HTTPError as exc:
            raise TransientPanelError(
                f"Could not reach NXT for {method} {path} ({type(exc).__name__}).",
                code="connect",
            ) from None

    def _login(self) -> None:
        spacing = float(self.config.options.get("login_spacing", LOGIN_SPACING_SECONDS))
        with _login_lock:
            wait = _last_login.get(self.config.api_url, -1e9) + spacing - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            _last_login[self.config.api_url] = time.monotonic()
        self._http.cookies.clear()
        page = self._request("GET", "/login")
        text = _page_text("GET /login", page)
        forms = _forms(text)
        if not forms.token or not forms.password_fields or not forms.text_fields:
            raise _unknown("GET /login", text, "no login form with a CSRF token")
        login = self.config.settings.get("login_username") or ""
        password = self.config.settings.get("login_password") or ""
        answer = self._request(
            "POST",
            "/login",
            data={
                "_token": forms.token,
                forms.text_fields[0]: login,
                forms.password_fields[0]: password,
            },
        )
        location = answer.headers.get("Location", "")
        if answer.status_code in (301, 302, 303) and "/login" not in location:
            landing = self._request("GET", urlpath(location) or "/dashboard")
            token = _forms(_page_text("GET /dashboard", landing)).token
            if not token:
                raise _unknown("the page after login", landing.text, "no CSRF token on it")
            self._token = token
            return
        if answer.status_code in (302, 303) or (
            answer.status_code == 200 and _forms(answer.text).password_fields
        ):
            raise PermanentPanelError(
                "NXT refused the login; check the panel login and password.",
                code="login_refused",
            )
        _page_text("POST /login", answer)  # 5xx and the like: transient
        raise _unknown("POST /login", answer.text, f"HTTP {answer.status_code}")

    def _post(
        self, path: str, form: dict[str, str], *, secrets: list[str] | None = None
    ) -> dict[str, Any]:
        for attempt in (1, 2):
            if not self._token:
                self._login()
            response = self._request(
                "POST",
                path,
                data={"_token": self._token, **form},
                headers={"X-CSRF-TOKEN": self._token, "X-Requested-With": "XMLHttpRequest"},
            )
            expired = response.status_code == 419 or (
                response.status_code in (301, 302, 303)
                and "/login" in response.headers.get("Location", "")
            )
            if expired:
                # The auth middleware stopped the request before it ran: safe to send again.
                self._token = ""
                if attempt == 1:
                    continue
                raise TransientPanelError(
                    f"NXT sent POST {path} back to its login page twice.", code="session"
                )
            return _json_answer(f"POST {path}", response, secrets or [])
        raise AssertionError("unreachable")

    def _rows(self, *, search: str) -> Iterator[dict[str, Any]]:
        start = 0
        for draw in range(1, MAX_PAGES + 1):
            answer = self._post(
                "/lines/data",
                {
                    "draw": str(draw),
                    "start": str(start),
                    "length": str(PAGE_SIZE),
                    "search[value]": search,
                },
            )
            rows = answer.get("data")
            if not isinstance(rows, list):
                raise _unknown("POST /lines/data", str(answer)[:RAW_PREFIX], "no data list")
            for row in rows:
                if not isinstance(row, dict) or "id" not in row or "username" not in row:
                    raise _unknown("POST /lines/data", str(row)[:RAW_PREFIX], "a row without id")
                yield row
            start += len(rows)
            total = answer.get("recordsFiltered")
            if len(rows) < PAGE_SIZE or (isinstance(total, int) and start >= total):
                return


def urlpath(location: str) -> str:
    return httpx.URL(location).path if location else ""


def _page_text(what: str, response: httpx.Response) -> str:
    if response.status_code >= 500 or response.status_code in (403, 429):
        raise TransientPanelError(
            f"NXT answered {what} with HTTP {response.status_code}; retry later.",
            code=f"http_{response.status_code}",
        )
    if response.status_code != 200:
        raise _unknown(what, response.text, f"HTTP {response.status_code}")
    if not response.text.strip():
        raise TransientPanelError(f"NXT answered {what} with an empty page.", code="empty_response")
    return response.text


def _json_answer(what: str, response: httpx.Response, secrets: list[str]) -> dict[str, Any]:
    text = _page_text(what, response)
    try:
        payload = response.json()
    except ValueError:
        if text.lstrip()[:1] == "<":
            raise _unknown(what, _redact(text, secrets), "an HTML page instead of JSON") from None
        raise TransientPanelError(
            f"NXT answered {what} with broken JSON.", code="bad_response"
        ) from None
    if not isinstance(payload, dict):
        raise _unknown(what, _redact(text, secrets), "JSON that is not an object")
    return payload


def _redact(text: str, secrets: list[str]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


def _unknown(what: str, raw: str, why: str = "") -> PermanentPanelError:
    return PermanentPanelError(
        f"NXT answered {what} with something this experimental driver does not recognise"
        f"{f' ({why})' if why else ''}; review it on the panel - nothing was guessed.",
        code="nxt_unknown_answer",
        raw=raw[:RAW_PREFIX],
    )


_EXP = re.compile(r"^(\d{2})-(\d{2})-(\d{4}) (\d{2}):(\d{2})$")


def _expiry(value: Any) -> datetime | None:
    text = str(value or "").strip()
    if text in ("", "-", "Unlimited", "unlimited", "Never", "null", "None"):
        return None
    match = _EXP.match(text)
    if not match:
        raise _unknown("POST /lines/data", text, "an exp_date not shaped DD-MM-YYYY HH:mm")
    day, month, year, hour, minute = (int(part) for part in match.groups())
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def _flag(value: Any, default: bool) -> bool:
    if value in (None, ""):
        return default
    return str(value).strip().lower() in ("1", "true", "yes", "active", "enabled")


def _to_panel_line(row: dict[str, Any]) -> PanelLine:
    try:
        connections = int(row.get("max_connections") or 1)
    except (TypeError, ValueError):
        connections = 1
    return PanelLine(
        panel_line_id=str(row["id"]),
        username=str(row["username"]),
        password=str(row.get("password") or ""),
        max_connections=connections,
        expires_at=_expiry(row.get("exp_date")),
        enabled=_flag(row.get("enabled"), True),
        notes=str(row.get("description") or ""),
        is_trial=_flag(row.get("is_trial"), False),
        package_id=str(row.get("package") or ""),
    )
