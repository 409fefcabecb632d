"""A Ministra / Stalker portal REST API v1 (`/stalker_portal/api/...`) for development and tests.

It answers as the Stalker portal 4.9.35 recorded in
`boxoffice/panels/adapters/ministra/tests/recorded/ministra_rest_v1_probes.txt` answered:

* every answer HTTP 200 (except a refused HTTP Basic login: 401 with `WWW-Authenticate`), the
  outcome in `{"status":"OK"|"ERROR","results":…,"error":…}`;
* bodies parsed like PHP `parse_str(php://input)`: form-encoded only, so a JSON body has no
  known field ("Insert data is empty" on PUT);
* `accounts/<ids>` finds by MAC (an id of 12+ characters with a `:`) or `account_number` only:
  a login is "Account not found"; `users/<login>` takes a login and answers one object;
* the account answer has no `end_date`; a malformed `end_date` is answered OK and stored as
  `0000-00-00 00:00:00` (no expiry at all), as seen in the recorded panel's database;
* `status` is 1 = active, 0 = off; a PUT that sets `status` leaks PHP deprecation notices
  into an `output` field next to the envelope (S12);
* `stb/<mac>` answers the plain text "Unauthorized request." (S13).

Not recorded, so inferred and marked [INFER] below: logins compare case-insensitively (MySQL's
default collation), `users/<unknown>` is "User not found", an unknown `tariff_plan` is refused.
"""

from __future__ import annotations

import hashlib
import json
import re
import urllib.parse
from base64 import b64decode
from typing import Any

from boxoffice_dev.panel_http import PanelEmulator

API_PREFIXES = ("/stalker_portal/api/v1/", "/stalker_portal/api/")
NO_EXPIRY = "0000-00-00 00:00:00"
_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}( \d{2}:\d{2}:\d{2})?$")
ACCOUNT_FIELDS = (
    "login",
    "password",
    "full_name",
    "phone",
    "account_number",
    "tariff_plan",
    "tariff_plan_id",
    "status",
    "stb_mac",
    "comment",
    "end_date",
    "account_balance",
)
DEFAULT_TARIFFS = (
    {"id": "1", "external_id": "basic", "name": "Basic", "user_default": "1", "packages": []},
    {"id": "2", "external_id": "premium", "name": "Premium", "user_default": "0", "packages": []},
)
# What the recorded panel's PHP 8 printed on a PUT that changes `status` (S12), <ROOT> kept.
DEPRECATION_OUTPUT = (
    "<br />\n<b>Deprecated</b>:  Creation of dynamic property Mysql::$set is deprecated in "
    "<b><ROOT>/server/lib/mysql.class.php</b> on line <b>836</b><br />\n<br />\n"
    "<b>Deprecated</b>:  Optional parameter $mac declared before required parameter $request is "
    "implicitly treated as a required parameter in "
    "<b><ROOT>/server/lib/oauth/authaccesshandler.class.php</b> on line <b>13</b><br />\n"
)


def normalize_mac(value: str) -> str | None:
    """Stalker's Middleware::normalizeMac: upper case, 12 characters get colons, 17 pass."""
    mac = (value or "").strip().upper()
    if len(mac) == 12:
        mac = ":".join(mac[i : i + 2] for i in range(0, 12, 2))
    return mac if len(mac) == 17 else None


def _is_mac(identifier: str) -> bool:
    return len(identifier) >= 12 and ":" in identifier


class MinistraEmulator(PanelEmulator):
    """A Stalker portal's REST API on a loopback port. `api_login`/`api_password` empty: no
    auth (the portal's default). `accounts()` gives the stored rows, as the database has them."""

    name = "ministra"

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        api_login: str = "",
        api_password: str = "",
        tariffs: tuple[dict[str, Any], ...] = DEFAULT_TARIFFS,
        log_requests: bool = False,
    ) -> None:
        super().__init__(host, port, log_requests=log_requests)
        self.api_login = api_login
        self.api_password = api_password
        self.tariffs = [dict(t) for t in tariffs]
        self._accounts: list[dict[str, Any]] = []
        self._next_id = 1

    @property
    def api_url(self) -> str:
        return f"{self.base_url}/stalker_portal/api/"

    @property
    def portal_url(self) -> str:
        return f"{self.base_url}/stalker_portal/c/"

    # Inspection ----------------------------------------------------------------------------

    def accounts(self) -> list[dict[str, Any]]:
        with self.lock:
            return [dict(a) for a in self._accounts]

    def state(self) -> Any:
        return self.accounts()

    def password_matches(self, login: str, password: str) -> bool:
        with self.lock:
            account = self._by_login(login)
            return account is not None and account["password"] == _hash(password, account["id"])

    def reset_state(self) -> None:
        self._accounts.clear()
        self._next_id = 1

    # HTTP ----------------------------------------------------------------------------------

    def is_api_path(self, path: str) -> bool:
        return path.startswith("/stalker_portal/api/")

    def api(self, method, path, query, body, headers, client):
        if self.api_login and not self._authorized(headers):
            payload = {"status": "ERROR", "results": None, "error": "Authorization required"}
            return (
                401,
                json.dumps(payload),
                "application/json",
                {"WWW-Authenticate": 'Basic realm="Stalker API"'},
            )
        prefix = next(p for p in API_PREFIXES if path.startswith(p))
        resource, _, ids = path[len(prefix) :].strip("/").partition("/")
        ids = urllib.parse.unquote(ids)
        data = dict(urllib.parse.parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
        if resource == "stb":
            return 200, "Unauthorized request.", "text/html; charset=UTF-8", {}
        handler = {
            ("GET", "tariffs"): self._tariffs,
            ("GET", "accounts"): self._get_accounts,
            ("POST", "accounts"): self._create_account,
            ("PUT", "accounts"): self._update_account,
            ("DELETE", "accounts"): self._delete_account,
            ("GET", "users"): self._get_user,
            ("POST", "send_event"): self._true,
            ("POST", "stb_msg"): self._true,
        }.get((method, resource))
        if handler is None:
            return _answer(_error("Resource not found"))
        return _answer(handler(ids, data))

    def _authorized(self, headers: dict[str, str]) -> bool:
        value = headers.get("Authorization") or headers.get("authorization") or ""
        if not value.startswith("Basic "):
            return False
        try:
            login, _, password = b64decode(value[6:]).decode().partition(":")
        except ValueError:
            return False
        return (login, password) == (self.api_login, self.api_password)

    # Resources -----------------------------------------------------------------------------

    def _true(self, ids: str, data: dict) -> dict:
        return _ok(True)

    def _tariffs(self, ids: str, data: dict) -> dict:
        if ids:
            found = [t for t in self.tariffs if t["id"] == ids]
            return _ok(found) if found else _error("Tariff plan not found")
        return _ok([dict(t) for t in self.tariffs])

    def _get_accounts(self, ids: str, data: dict) -> dict:
        if not ids:
            return _ok([_public(a) for a in self._accounts])
        found = []
        for identifier in ids.split(","):
            if _is_mac(identifier):
                mac = normalize_mac(identifier)
                if mac is None:
                    return _error("One or more identifiers are incorrect")
                found += [a for a in self._accounts if a["stb_mac"] == mac]
            else:
                found += [a for a in self._accounts if a["account_number"] == identifier]
        return _ok([_public(a) for a in found]) if found else _error("Account not found")

    def _get_user(self, ids: str, data: dict) -> dict:
        account = self._by_login(ids)
        return _ok(_public(account)) if account else _error("User not found")  # [INFER]

    def _create_account(self, ids: str, data: dict) -> dict:
        if not data:
            return _error("HTTP POST data is empty")
        fields = {k: v for k, v in data.items() if k in ACCOUNT_FIELDS}
        login = fields.get("login", "")
        if not login:
            return _error("Login required")
        if self._by_login(login) is not None:
            return _error("Login already in use")
        mac = ""
        if fields.get("stb_mac"):
            normalized = normalize_mac(fields["stb_mac"])
            if normalized is None:
                return _error("Not valid mac address")
            if any(a["stb_mac"] == normalized for a in self._accounts):
                return _error("MAC address already in use")
            mac = normalized
        tariff = self._tariff(fields)
        if tariff is False:
            return _error("Tariff plan not found")  # [INFER]
        account_id = self._next_id
        self._next_id += 1
        self._accounts.append(
            {
                "id": account_id,
                "login": login,
                "password": _hash(fields.get("password", ""), account_id),
                "full_name": fields.get("full_name", ""),
                "phone": fields.get("phone", ""),
                "account_number": fields.get("account_number", ""),
                "tariff_plan": tariff or self._default_tariff(),
                "stb_mac": mac,
                "status": 0 if fields.get("status") == "0" else 1,
                "comment": fields.get("comment"),
                "end_date": _stored_date(fields.get("end_date")),
                "account_balance": fields.get("account_balance", ""),
            }
        )
        return _ok(True)

    def _update_account(self, ids: str, data: dict) -> dict:
        fields = {k: v for k, v in data.items() if k in ACCOUNT_FIELDS and k != "login"}
        if not fields:
            return _error("Insert data is empty")
        if not ids or "," in ids:
            return _error("Only one identifier allowed")  # [INFER]
        [account] = self._find(ids) or [None]
        if account is None:
            return _error("Account not found")
        if "stb_mac" in fields:
            normalized = normalize_mac(fields["stb_mac"]) if fields["stb_mac"] else ""
            if normalized is None:
                return _error("Not valid mac address")
            if normalized and any(
                a["stb_mac"] == normalized and a is not account for a in self._accounts
            ):
                return _error("MAC address already in use")
            account["stb_mac"] = normalized
        tariff = self._tariff(fields)
        if tariff is False:
            return _error("Tariff plan not found")  # [INFER]
        if tariff:
            account["tariff_plan"] = tariff
        if "password" in fields:
            account["password"] = _hash(fields["password"], account["id"])
        for name in ("full_name", "phone", "account_number", "comment", "account_balance"):
            if name in fields:
                account[name] = fields[name]
        if "end_date" in fields:
            account["end_date"] = _stored_date(fields["end_date"])
        answer = _ok(True)
        if "status" in fields:
            account["status"] = 0 if fields["status"] == "0" else 1
            answer["output"] = DEPRECATION_OUTPUT
        return answer

    def _delete_account(self, ids: str, data: dict) -> dict:
        [account] = self._find(ids) or [None]
        if account is None:
            return _error("Account not found")
        self._accounts.remove(account)
        return _ok(True)

    # Helpers -------------------------------------------------------------------------------

    def _find(self, identifier: str) -> list[dict[str, Any]]:
        if _is_mac(identifier):
            mac = normalize_mac(identifier)
            return [a for a in self._accounts if mac and a["stb_mac"] == mac][:1]
        return [a for a in self._accounts if identifier and a["account_number"] == identifier][:1]

    def _by_login(self, login: str) -> dict[str, Any] | None:
        wanted = (login or "").lower()  # [INFER] MySQL's case-insensitive collation
        return next((a for a in self._accounts if a["login"].lower() == wanted), None)

    def _tariff(self, fields: dict) -> str | bool | None:
        """The external id named (None: none named, False: unknown)."""
        if fields.get("tariff_plan"):
            known = {t["external_id"] for t in self.tariffs}
            return fields["tariff_plan"] if fields["tariff_plan"] in known else False
        if fields.get("tariff_plan_id"):
            by_id = {t["id"]: t["external_id"] for t in self.tariffs}
            return by_id.get(fields["tariff_plan_id"], False)
        return None

    def _default_tariff(self) -> str:
        return next((t["external_id"] for t in self.tariffs if t["user_default"] == "1"), "")


def _hash(password: str, account_id: int) -> str:
    # Stalker stores md5(md5(password) . id); the emulator does the same (no plain password).
    inner = hashlib.md5(password.encode(), usedforsecurity=False).hexdigest()
    return hashlib.md5(f"{inner}{account_id}".encode(), usedforsecurity=False).hexdigest()


def _stored_date(value: str | None) -> str:
    """What MySQL keeps of an `end_date`: a DATETIME, or the zero date for anything else."""
    if not value or not _DATETIME.match(value):
        return NO_EXPIRY
    return value if " " in value else f"{value} 00:00:00"


def _public(account: dict[str, Any]) -> dict[str, Any]:
    """An account as the API answers it (S8): no password, no end_date, status an int."""
    return {
        "login": account["login"],
        "full_name": account["full_name"],
        "phone": account["phone"],
        "account_number": account["account_number"],
        "tariff_plan": account["tariff_plan"],
        "stb_sn": "",
        "stb_mac": account["stb_mac"],
        "stb_type": "",
        "status": account["status"],
        "online": "0",
        "ip": "",
        "version": "",
        "comment": account["comment"],
        "account_balance": account["account_balance"],
        "last_active": NO_EXPIRY,
        "subscribed": [],
        "subscribed_id": [],
    }


def _ok(results: Any) -> dict[str, Any]:
    return {"status": "OK", "results": results}


def _error(message: str) -> dict[str, Any]:
    return {"status": "ERROR", "results": None, "error": message}


def _answer(payload: dict[str, Any]) -> tuple[int, str, str, dict[str, str]]:
    # PHP's json_encode escapes slashes: "<br \/>" as in the recording.
    return (
        200,
        json.dumps(payload, separators=(",", ":")).replace("/", "\\/"),
        "application/json",
        {},
    )
