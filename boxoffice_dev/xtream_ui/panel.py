"""The state and `api.php` logic of an emulated Xtream Codes 2.x / Xtream UI panel.

Follows the panel's own `api.php` (reference §2) branch by branch, including what a billing
system trips over:

* auth by caller IP (`api_ips`) then `api_pass`, refused as `{"result":false,"0":"IP FORBIDDEN"}`
  / `{"result":false,"0":"KEY WRONG"}`;
* `user/create` refuses only the same username+password pair (`EXISTS`); the same username with
  another password is a second row; `exp_date` is `intval`ed (empty -> NULL), `bouquet` must be a
  JSON string (an array makes PHP 8 throw: HTTP 500, empty body); an unknown column is
  `PARAMETER ERROR`;
* `user/edit` is a raw `UPDATE … SET <user_data>` by username+password (arrays JSON-encoded,
  `{"result":true}` even when nothing changed); no delete action;
* `stb/create` gives the hidden line random credentials, stores `base64(strtoupper(mac))`,
  answers `{"result":true}` without an id; `stb/info` looks the MAC up *as sent*; `stb/edit`
  answers `{"result":false}` when no row changed (MySQL's affected rows);
* MySQL compares usernames and passwords case-insensitively (utf8_general_ci);
* an unknown action/sub falls out of the switch: HTTP 200 with an empty body.
Rows hold DB strings, as PHP hands them out.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from typing import Any

from boxoffice_dev.xui_one import php
from boxoffice_dev.xui_one.php import PhpFatalError

# The columns of XC's `users` table an API caller may write (queryParse/GetColumnNames would
# fail on any other with an SQL error -> PARAMETER ERROR).
USER_COLUMNS = (
    "id",
    "member_id",
    "username",
    "password",
    "exp_date",
    "admin_enabled",
    "enabled",
    "admin_notes",
    "reseller_notes",
    "bouquet",
    "max_connections",
    "is_restreamer",
    "allowed_ips",
    "allowed_ua",
    "is_trial",
    "created_at",
    "created_by",
    "pair_id",
    "is_mag",
    "is_e2",
    "force_server_id",
    "is_isplock",
    "isp_desc",
    "forced_country",
    "is_stalker",
    "bypass_ua",
    "as_number",
)
INT_COLUMNS = frozenset(
    {
        "member_id",
        "exp_date",
        "admin_enabled",
        "enabled",
        "max_connections",
        "is_restreamer",
        "is_trial",
        "created_at",
        "created_by",
        "pair_id",
        "is_mag",
        "is_e2",
        "force_server_id",
        "is_isplock",
        "is_stalker",
        "bypass_ua",
    }
)
DEFAULTS: dict[str, str | None] = {
    "member_id": "0",
    "exp_date": None,
    "admin_enabled": "1",
    "enabled": "1",
    "admin_notes": "",
    "reseller_notes": "",
    "bouquet": "[]",
    "max_connections": "1",
    "is_restreamer": "0",
    "is_trial": "0",
    "pair_id": None,
    "is_mag": "0",
    "is_e2": "0",
    "force_server_id": "0",
    "is_isplock": "0",
    "isp_desc": "",
    "forced_country": "",
    "is_stalker": "0",
    "bypass_ua": "0",
    "as_number": None,
}


def _answer(payload: Any) -> str:
    return php.json_encode(payload)


def _ci(a: Any, b: Any) -> bool:
    return str(a).casefold() == str(b).casefold()


def _parse_json_array(value: Any) -> bool:
    """PHP `parseJson`: is_array(json_decode($s, true)); an array argument is a PHP 8 TypeError."""
    if isinstance(value, dict):
        raise PhpFatalError(
            "json_decode(): Argument #1 ($json) must be of type string, array given"
        )
    try:
        decoded = json.loads(str(value))
    except ValueError:
        return False
    return isinstance(decoded, list | dict)


def _db_value(column: str, value: Any) -> str | None:
    """What the column holds after an INSERT/UPDATE with this PHP value."""
    if value is None:
        return None
    if isinstance(value, dict | list):
        return php.json_encode(value)
    if column in INT_COLUMNS:
        return str(php.mysql_int(value))
    return str(value)


class XtreamUiPanel:
    def __init__(self, *, api_pass: str = "", api_ips: tuple[str, ...] = ("127.0.0.1", "::1")):
        self.api_pass = api_pass
        self.api_ips = list(api_ips)
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with getattr(self, "_lock", threading.Lock()):
            self._users: list[dict[str, Any]] = []
            self._mags: list[dict[str, Any]] = []
            self._next_id = 1
            self._next_mag = 1

    def users(self) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(row) for row in self._users]

    def mags(self) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(row) for row in self._mags]

    # --- api.php ---------------------------------------------------------------------------

    def api_request(self, request: dict, client_ip: str) -> str:
        if client_ip not in self.api_ips:
            return _answer({"result": False, 0: "IP FORBIDDEN"})
        if self.api_pass and request.get("api_pass") != self.api_pass:
            return _answer({"result": False, 0: "KEY WRONG"})
        action, sub = request.get("action") or "", request.get("sub") or ""
        handler = {
            ("user", "create"): self._user_create,
            ("user", "edit"): self._user_edit,
            ("user", "info"): self._user_info,
            ("stb", "create"): self._stb_create,
            ("stb", "edit"): self._stb_edit,
            ("stb", "info"): self._stb_info,
            ("server", "list"): self._server_list,
            ("reg_user", "list"): lambda request: _answer([]),
        }.get((action, sub))
        if handler is None:
            return ""  # falls out of the switch: nothing echoed
        with self._lock:
            return handler(request)

    def _user_data(self, request: dict) -> dict:
        data = request.get("user_data")
        if php.empty(data):
            return {}
        if not isinstance(data, dict):
            raise PhpFatalError("array_key_exists(): Argument #2 ($array) must be of type array")
        return dict(data)

    def _new_line(self, data: dict) -> dict:
        if "allowed_ips" not in data or not _parse_json_array(data.get("allowed_ips")):
            data["allowed_ips"] = "[]"
        if "allowed_ua" not in data or not _parse_json_array(data.get("allowed_ua")):
            data["allowed_ua"] = "[]"
        data["created_at"] = str(int(time.time()))
        data["created_by"] = "0"
        data["exp_date"] = None if php.empty(data.get("exp_date")) else php.intval(data["exp_date"])
        bouquet = data.get("bouquet")
        if php.empty(bouquet) or not _parse_json_array(bouquet):
            data["bouquet"] = []
        else:
            data["bouquet"] = [php.intval(n) for n in json.loads(str(bouquet))]
        data.pop("output_formats", None)
        return data

    def _insert(self, data: dict) -> dict | None:
        unknown = [name for name in data if name not in USER_COLUMNS]
        if unknown:
            return None
        row: dict[str, Any] = {"id": str(self._next_id), **DEFAULTS}
        for name, value in data.items():
            row[name] = _db_value(name, value)
        self._next_id += 1
        self._users.append(row)
        return row

    def _user_create(self, request: dict) -> str:
        data = self._user_data(request)
        if "username" not in data:
            data["username"] = php.generate_string(10)
        if "password" not in data:
            data["password"] = php.generate_string(10)
        data = self._new_line(data)
        if any(
            _ci(r["username"], data["username"]) and _ci(r["password"], data["password"])
            for r in self._users
        ):
            return _answer({"result": False, "error": "EXISTS"})
        row = self._insert(data)
        if row is None:
            return _answer({"result": False, "error": "PARAMETER ERROR"})
        return _answer(
            {
                "result": True,
                "created_id": int(row["id"]),
                "username": data["username"],
                "password": data["password"],
            }
        )

    def _matching(self, username: Any, password: Any) -> list[dict]:
        return [
            r for r in self._users if _ci(r["username"], username) and _ci(r["password"], password)
        ]

    def _update(self, rows: list[dict], data: dict) -> int | None:
        """UPDATE … SET GetColumnNames(data); None = SQL error; returns MySQL's affected rows."""
        if not data or any(name not in USER_COLUMNS for name in data):
            return None
        changed = 0
        for row in rows:
            before = dict(row)
            for name, value in data.items():
                row[name] = _db_value(name, value)
            changed += row != before
        return changed

    def _user_edit(self, request: dict) -> str:
        username, password = request.get("username"), request.get("password")
        if php.empty(username) or php.empty(password):
            return _answer({"result": False, "error": "PARAMETER ERROR (user/pass)"})
        rows = self._matching(username, password)
        if not rows:
            return _answer({"result": False, "error": "NOT EXISTS"})
        if self._update(rows, self._user_data(request)) is None:
            return _answer({"result": False, "error": "PARAMETER ERROR"})
        return _answer({"result": True})

    def _line_info(self, row: dict) -> dict:
        info = dict(row)
        bouquets = json.loads(row.get("bouquet") or "[]")
        info["channel_ids"] = [b * 100 + n for b in bouquets for n in (1, 2)]
        return info

    def _user_info(self, request: dict) -> str:
        username, password = request.get("username"), request.get("password")
        if php.empty(username) or php.empty(password):
            return _answer({"result": False, "error": "PARAMETER ERROR (user/pass)"})
        rows = self._matching(username, password)
        if not rows:
            return _answer({"result": False, "error": "NOT EXISTS"})
        return _answer({"result": True, "user_info": self._line_info(rows[0])})

    def _stb_create(self, request: dict) -> str:
        data = self._user_data(request)
        if php.empty(data.get("mac")):
            return _answer({"result": False, "error": "PARAMETER ERROR (mac)"})
        mac = base64.b64encode(str(data.pop("mac")).upper().encode()).decode()
        data["username"] = php.generate_string(10)
        data["password"] = php.generate_string(10)
        data = self._new_line(data)
        data["allowed_ua"] = "[]"
        data["is_mag"] = 1
        if any(m["mac"] == mac for m in self._mags):
            return _answer({"result": False, "error": "EXISTS"})
        row = self._insert(data)
        if row is None:
            return _answer({"result": False, "error": "PARAMETER ERROR"})
        self._mags.append(
            {
                "mag_id": str(self._next_mag),
                "user_id": row["id"],
                "mac": mac,
                "created": str(int(time.time())),
            }
        )
        self._next_mag += 1
        return _answer({"result": True})

    def _device(self, mac_b64: str) -> tuple[dict, dict] | None:
        for device in self._mags:
            if device["mac"] == mac_b64:
                user = next((r for r in self._users if r["id"] == device["user_id"]), None)
                if user is not None:
                    return device, user
        return None

    def _stb_info(self, request: dict) -> str:
        mac = request.get("mac")
        if php.empty(mac):
            return _answer({"result": False, "error": "PARAMETER ERROR (mac)"})
        # getMagInfo(false, $mac): base64_encode($mac) as sent - no strtoupper here.
        found = self._device(base64.b64encode(str(mac).encode()).decode())
        if found is None:
            return _answer({"result": False, "error": "NOT EXISTS"})
        device, user = found
        shown = {**device, "mac": base64.b64decode(device["mac"]).decode()}
        return _answer(
            {
                "result": True,
                "mag_device": shown,
                "user_info": self._line_info(user),
                "pair_line_info": [],
            }
        )

    def _stb_edit(self, request: dict) -> str:
        mac = request.get("mac")
        if php.empty(mac):
            return _answer({"result": False, "error": "PARAMETER ERROR (user/pass)"})
        data = self._user_data(request)
        data["is_mag"] = 1
        found = self._device(base64.b64encode(str(mac).upper().encode()).decode())
        rows = [found[1]] if found else []
        changed = self._update(rows, data)
        if changed is None:
            return _answer({"result": False, "error": "PARAMETER ERROR"})
        return _answer({"result": True} if changed > 0 else {"result": False})

    def _server_list(self, request: dict) -> str:
        return _answer(
            [{"id": 1, "server_name": "Main Server", "online": "1", "info": {"cpu": 3, "mem": 21}}]
        )
