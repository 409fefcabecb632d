"""The emulated XUI.one panel: its `lines` table and the Admin API actions (no HTTP here).

Behaviour follows XUI 1.5.x / XC_VM source as summarised in panels.md §1 and §3, quirks
included: ``processLine`` regenerates credentials and resets flags on edit, ``bouquets_selected``
must be a JSON string, list actions return bare arrays, ``get_lines`` caps ``recordsFiltered``.
Values are stored and returned the way MySQL hands them to PHP: strings or null.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from . import php
from .php import PhpFatalError
from .reseller import ResellerApiMixin
from .schema import (
    ADMIN_ID,
    ADMIN_USERNAME,
    COMPUTED_FIELDS,
    DEFAULT_BOUQUETS,
    DEFAULT_PACKAGES,
    LINE_COLUMNS,
    PRESENCE_FLAGS,
    RESELLER_CREDITS,
    _db_value,
    _failure,
    _valid_mac,
    filter_row,
)
from .tables import TablesMixin


class XuiPanel(ResellerApiMixin, TablesMixin):
    """In-memory `lines` table plus bouquets, guarded by one lock, optionally mirrored to JSON."""

    def __init__(
        self,
        *,
        api_key: str,
        bouquets: list[dict] | None = None,
        state_path: str | os.PathLike | None = None,
        reseller_api_key: str = "",
        reseller_credits: int = RESELLER_CREDITS,
        packages: list[dict] | None = None,
    ) -> None:
        self.lock = threading.RLock()
        self.api_key = api_key
        self.bouquets = [
            self._bouquet_row(b, i) for i, b in enumerate(bouquets or DEFAULT_BOUQUETS)
        ]
        self.packages: list[dict] = [
            dict(p) for p in (DEFAULT_PACKAGES if packages is None else packages)
        ]
        self.reseller_api_key = reseller_api_key
        self._initial_credits = reseller_credits
        self.reseller_credits = reseller_credits
        self.state_path = Path(state_path) if state_path else None
        self._lines: dict[int, dict] = {}
        self._next_id = 1
        # mag_devices: one row per MAG box, each with its hidden line (is_mag=1) in _lines.
        self._mags: dict[int, dict] = {}
        self._next_mag_id = 1
        self._load()

    # --- state -------------------------------------------------------------------------

    @staticmethod
    def _bouquet_row(bouquet: dict, index: int) -> dict:
        row = {
            "id": str(bouquet["id"]),
            "bouquet_name": str(bouquet.get("bouquet_name", f"Bouquet {bouquet['id']}")),
            "bouquet_channels": "[]",
            "bouquet_movies": "[]",
            "bouquet_radios": "[]",
            "bouquet_series": "[]",
            "bouquet_order": str(index + 1),
        }
        for key, value in bouquet.items():
            if key not in ("id", "bouquet_name"):
                row[key] = value if value is None or isinstance(value, str) else json.dumps(value)
        return row

    def _bouquet_order(self) -> list[int]:
        ordered = sorted(self.bouquets, key=lambda b: php.intval(b.get("bouquet_order")))
        return [php.intval(b["id"]) for b in ordered]

    def _load(self) -> None:
        if not self.state_path or not self.state_path.exists():
            return
        try:
            state = json.loads(self.state_path.read_text() or "{}")
        except (OSError, ValueError):
            return
        for row in state.get("lines", []):
            self._lines[int(row["id"])] = dict(row)
        self._next_id = max([int(state.get("next_id", 1)), *[i + 1 for i in self._lines]])
        for row in state.get("mags", []):
            self._mags[int(row["mag_id"])] = dict(row)
        self._next_mag_id = max([1, *[i + 1 for i in self._mags]])

    def _save(self) -> None:
        if not self.state_path:
            return
        self.state_path.parent.mkdir(parents=True, exist_ok=True)
        payload = {
            "next_id": self._next_id,
            "lines": [self._lines[i] for i in sorted(self._lines)],
            "mags": [self._mags[i] for i in sorted(self._mags)],
        }
        handle, temp = tempfile.mkstemp(dir=self.state_path.parent, prefix=".xui-state-")
        with os.fdopen(handle, "w") as file:
            json.dump(payload, file, indent=1)
        os.replace(temp, self.state_path)

    def lines(self) -> list[dict]:
        with self.lock:
            return [dict(self._lines[i]) for i in sorted(self._lines)]

    def mags(self) -> list[dict]:
        """The mag_devices rows, each with its line under "user" (what get_mag answers)."""
        with self.lock:
            return [self._mag_with_user(self._mags[i]) for i in sorted(self._mags)]

    def reset(self) -> None:
        with self.lock:
            self._lines.clear()
            self._mags.clear()
            self._next_id = self._next_mag_id = 1
            self.reseller_credits = self._initial_credits
            self._save()

    def set_activity(
        self, username: str, *, active_connections: int, last_active: int | None
    ) -> dict:
        """A customer watching (or not): what table.php computes from the live connections
        and the activity log, set on the line for development and tests."""
        with self.lock:
            for row in self._lines.values():
                if row["username"] == username:
                    row["active_connections"] = str(max(int(active_connections), 0))
                    row["last_active"] = None if last_active is None else str(int(last_active))
                    self._save()
                    return dict(row)
        raise KeyError(f"no line {username!r}")

    def seed_lines(
        self,
        count: int,
        *,
        prefix: str = "seed",
        exp_date: int | None = None,
        bouquets: tuple[int, ...] = (1,),
        max_connections: int = 1,
        admin_notes: str | None = None,
        trial_every: int = 0,
        disabled_every: int = 0,
    ) -> list[int]:
        """Put `count` ordinary lines in at once, as create_line would store them (a dev tool
        for 10,000-line tests and the bench; one save at the end, no per-line name scan).

        Usernames are `<prefix><n:06d>`, passwords `Pw<n:06d>x`; `admin_notes` may hold `{n}`;
        every `trial_every`-th line is a trial, every `disabled_every`-th one disabled.
        """
        with self.lock:
            taken = {str(row["username"]).lower() for row in self._lines.values()}
            created_at = int(time.time())
            ids = []
            for n in range(count):
                username = f"{prefix}{n:06d}"
                if username.lower() in taken:
                    raise ValueError(f"the emulator already has a line named {username}")
                array = self._verify_post_table({})
                array.update(
                    username=username,
                    password=f"Pw{n:06d}x",
                    member_id=ADMIN_ID,
                    exp_date=exp_date,
                    max_connections=max_connections,
                    enabled=0 if disabled_every and n % disabled_every == 0 else 1,
                    admin_enabled=1,
                    is_trial=1 if trial_every and n % trial_every == 0 else 0,
                    bouquet="[" + ",".join(str(int(b)) for b in bouquets) + "]",
                    allowed_outputs="[1,2]",
                    allowed_ips="[]",
                    allowed_ua="[]",
                    admin_notes=admin_notes.format(n=n) if admin_notes is not None else None,
                    created_at=created_at,
                    isp_desc="",
                )
                line_id = self._next_id
                self._next_id += 1
                stored = {column: _db_value(column, array.get(column)) for column in LINE_COLUMNS}
                stored["id"] = str(line_id)
                stored.update(COMPUTED_FIELDS)
                self._lines[line_id] = stored
                ids.append(line_id)
            self._save()
            return ids

    def _get_line(self, raw_id: Any) -> dict | None:
        # `WHERE id = ?` with a bound string: MySQL compares numerically ("7abc" finds 7).
        if raw_id is None or isinstance(raw_id, dict):
            return None
        return self._lines.get(php.mysql_int(raw_id) or 0)

    # --- Admin API ---------------------------------------------------------------------

    def admin_request(self, request: dict) -> str:
        """The body XUI's ``/<access code>/index.php`` prints for a cleaned request.

        Raises PhpFatalError where PHP 8 dies (the caller answers HTTP 500, empty body).
        """
        with self.lock:
            return php.json_encode(self._admin_dispatch(request))

    def _admin_dispatch(self, request: dict) -> Any:
        key = request.get("api_key")
        if php.empty(key) or not isinstance(key, str) or key != self.api_key:
            return _failure(error="Invalid API key.")
        data = dict(request)
        action = data.pop("action", None)
        start = php.intval(data.pop("start", None)) or 0
        limit = php.intval(data.pop("limit", None)) or 50
        data.pop("api_key", None)
        show = self._columns(request, "show_columns")
        hide = self._columns(request, "hide_columns")

        if action == "user_info":
            return self._user_info(show, hide)
        if action == "get_lines":
            return self._table_lines(start, limit, data, show, hide)
        if action == "get_line":
            line = self._get_line(data.get("id"))
            if line is None:
                # filterRow on a failure still sets `data` (to an empty array) when asked to.
                return _failure(data=[]) if (show or hide) else _failure()
            return {"status": "STATUS_SUCCESS", "data": filter_row(dict(line), show, hide)}
        if action == "create_line":
            data.pop("edit", None)
            return self._process_line(data)
        if action == "edit_line":
            line_id = data.pop("id", None)
            if self._get_line(line_id) is None:
                return _failure()
            data["edit"] = line_id
            if "isp_clear" in data:
                data["isp_clear"] = ""
            return self._process_line(data)
        if action in ("delete_line", "disable_line", "enable_line", "ban_line", "unban_line"):
            return self._line_switch(action, data.get("id"))
        if action == "create_mag":
            return self._create_mag(data)
        if action == "get_mag":
            mag = self._mags.get(php.mysql_int(data.get("id")) or 0)
            if mag is None:
                return _failure()
            return {"status": "STATUS_SUCCESS", "data": self._mag_with_user(mag)}
        if action == "get_mags":
            return self._table_mags(start, limit, data)
        if action in ("disable_mag", "enable_mag", "ban_mag", "unban_mag"):
            # Reference §1.5: these read $device['user_id'] from the wrapper's {status,data}
            # instead of its data, so `UPDATE lines … WHERE id = NULL` touches nothing, and the
            # answer is still a success.
            if self._mags.get(php.mysql_int(data.get("id")) or 0) is None:
                return _failure()
            return {"status": "STATUS_SUCCESS"}
        if action == "get_bouquets":
            return [filter_row(b, show, hide) for b in self.bouquets]
        if action == "get_bouquet":
            found = next((b for b in self.bouquets if b["id"] == str(data.get("id"))), None)
            if found is None:
                return _failure()
            return {"status": "STATUS_SUCCESS", "data": filter_row(found, show, hide)}
        if action == "get_packages":
            return [filter_row(p, show, hide) for p in self.packages]
        if action == "reload_cache":
            return {"status": "STATUS_SUCCESS"}
        return _failure(error="Invalid action.")

    @staticmethod
    def _columns(request: dict, key: str) -> list[str] | None:
        if request.get(key) is None:
            return None
        value = request[key]
        if isinstance(value, dict):
            raise PhpFatalError(
                "explode(): Argument #2 ($string) must be of type string, array given"
            )
        return value.split(",")

    def _user_info(self, show: list[str] | None, hide: list[str] | None) -> dict:
        user = {
            "id": str(ADMIN_ID),
            "username": ADMIN_USERNAME,
            "email": "",
            "ip": "",
            "date_registered": "1700000000",
            "last_login": str(int(time.time())),
            "member_group_id": "1",
            "credits": "0",
            "notes": "",
            "status": "1",
            "reseller_dns": "",
            "owner_id": "0",
            "override_packages": None,
            "hue": "",
            "theme": "0",
            "timezone": "",
            "api_key": self.api_key,
        }
        permissions = {
            "group_id": "1",
            "group_name": "Administrators",
            "group_color": "#FF0000",
            "is_admin": "1",
            "is_reseller": "0",
            "total_allowed_gen_trials": "0",
            "total_allowed_gen_in": "day",
            "delete_users": "0",
            "allowed_pages": "[]",
            "can_delete": "0",
            "create_sub_resellers": "0",
            "create_sub_resellers_price": "0",
            "reseller_client_connection_logs": "0",
            "can_view_vod": "0",
            "allow_download": "1",
            "minimum_trial_credits": "0",
            "allow_restrictions": "1",
            "allow_change_username": "1",
            "allow_change_password": "1",
            "minimum_username_length": "8",
            "minimum_password_length": "8",
            "allow_change_bouquets": "0",
            "notice_html": None,
            "subresellers": "[]",
            "advanced": [],
        }
        return {
            "status": "STATUS_SUCCESS",
            "data": filter_row(user, show, hide),
            "permissions": permissions,
        }

    def _line_switch(self, action: str, raw_id: Any) -> dict:
        line = self._get_line(raw_id)
        if line is None:
            return _failure()
        if action == "delete_line":
            del self._lines[int(line["id"])]
        else:
            column = "enabled" if action in ("disable_line", "enable_line") else "admin_enabled"
            line[column] = "1" if action in ("enable_line", "unban_line") else "0"
        self._save()
        return {"status": "STATUS_SUCCESS"}

    # --- Reseller API (access code type 4) ----------------------------------------------

    def _mag_with_user(self, mag: dict) -> dict:
        row = dict(mag)
        user = self._lines.get(php.intval(mag.get("user_id")))
        row["user"] = dict(user) if user else None
        row["paired"] = None
        return row

    def _create_mag(self, data: dict) -> dict:
        mac = data.get("mac")
        if php.empty(mac) or not isinstance(mac, str):
            return _failure("STATUS_INVALID_INPUT", data)
        if not _valid_mac(mac):
            return _failure("STATUS_INVALID_MAC", data)
        mac = mac.upper()
        if any(str(m.get("mac")).upper() == mac for m in self._mags.values()):
            return _failure("STATUS_EXISTS_MAC", data)
        line = dict(data)
        line.pop("mac", None)
        # A hidden line: one connection, HLS and TS, 32-character random credentials unless given.
        line["is_mag"] = "1"
        line["max_connections"] = "1"
        line.pop("is_restreamer", None)
        line["access_output"] = {0: "1", 1: "2"}
        for name in ("username", "password"):
            if php.strlen(line.get(name)) == 0:
                line[name] = php.generate_string(32)
        result = self._process_line(line)
        if result.get("status") != "STATUS_SUCCESS":
            return _failure(result["status"], data)
        mag_id = self._next_mag_id
        self._next_mag_id += 1
        self._mags[mag_id] = {
            "mag_id": str(mag_id),
            "user_id": str(result["data"]["id"]),
            "mac": mac,
            "sn": str(data.get("sn") or ""),
            "stb_type": str(data.get("stb_type") or ""),
            "lock_device": 0,
        }
        self._save()
        return {"status": "STATUS_SUCCESS", "data": self._mag_with_user(self._mags[mag_id])}

    def _process_line(self, data: dict) -> dict:
        editing = data.get("edit") is not None
        if editing:
            row = self._get_line(data["edit"])
            if row is None:  # checked by the wrapper already; REPLACE would insert otherwise
                return _failure()
            array = self._overwrite(row, data)
        else:
            array = self._verify_post_table(data)
            array["created_at"] = int(time.time())
            array.pop("id", None)

        if php.strlen(data.get("username")) == 0:
            array["username"] = php.generate_string(10)
        if php.strlen(data.get("password")) == 0:
            array["password"] = php.generate_string(10)
        for selection in ("max_connections", "enabled", "admin_enabled"):
            value = data.get(selection)
            array[selection] = php.intval(value) if value is not None else 1
        for flag in PRESENCE_FLAGS:
            array[flag] = 1 if data.get(flag) is not None else 0  # isset(): the value is ignored
        if php.strlen(data.get("isp_clear")) == 0:
            array["isp_desc"] = ""
            array["as_number"] = None

        # json_decode() of anything but a JSON array/object string ends in a PHP 8 TypeError.
        selected = php.array_values(php.json_decode(data.get("bouquets_selected")))
        bouquet = php.sort_array_by_array(selected, self._bouquet_order())
        array["bouquet"] = "[" + ",".join(str(php.intval(b)) for b in bouquet) + "]"

        if data.get("exp_date") is not None and data.get("no_expire") is None:
            raw = data["exp_date"]
            if php.strlen(raw) > 0 and raw != "1970-01-01":
                try:
                    array["exp_date"] = php.parse_php_datetime(raw)
                except ValueError:
                    return _failure("STATUS_INVALID_DATE", data)
        else:
            array["exp_date"] = None

        if not php.truthy(array.get("member_id")):
            array["member_id"] = ADMIN_ID
        for column in ("allowed_ips", "allowed_ua"):
            value = data.get(column)
            if value is None:
                array[column] = "[]"
            else:
                array[column] = php.json_encode(value if isinstance(value, dict) else {0: value})
        outputs = data.get("access_output")
        # foreach over a non-array only warns: a scalar access_output leaves the list empty.
        ids = [php.intval(v) for v in outputs.values()] if isinstance(outputs, dict) else []
        array["allowed_outputs"] = "[" + ",".join(str(i) for i in ids) + "]"

        if self._username_exists(array["username"], data.get("edit")):
            return _failure("STATUS_EXISTS_USERNAME", data)

        if editing:
            line_id = int(row["id"])
        else:
            line_id = self._next_id
            self._next_id += 1
        stored = {column: _db_value(column, array.get(column)) for column in LINE_COLUMNS}
        stored["id"] = str(line_id)
        previous = self._lines.get(line_id, {})
        for field, default in COMPUTED_FIELDS.items():
            stored[field] = previous.get(field, default)
        self._lines[line_id] = stored
        self._save()
        return {"status": "STATUS_SUCCESS", "data": dict(stored)}

    def _username_exists(self, username: Any, exclude: Any) -> bool:
        exclude_id = php.intval(exclude) if php.truthy(exclude) else None
        # MySQL's default collation compares case-insensitively: `Jane` collides with `jane`
        # (recorded: BOXTEST01 vs boxtest01 is STATUS_EXISTS_USERNAME).
        wanted = str(username).casefold()
        return any(
            str(row["username"]).casefold() == wanted
            for line_id, row in self._lines.items()
            if exclude_id is None or line_id != exclude_id
        )

    @staticmethod
    def _overwrite(row: dict, data: dict) -> dict:
        """overwriteData(getLine(id), $rData): submitted columns replace the stored ones."""
        array = {column: row.get(column) for column in LINE_COLUMNS}
        for key, value in data.items():
            if key in array:
                array[key] = None if (php.empty(value) and array[key] is None) else value
        return array

    @staticmethod
    def _verify_post_table(data: dict) -> dict:
        """verifyPostTable('lines', $rData): every column, submitted value or default."""
        array: dict[str, Any] = {}
        for column, default in LINE_COLUMNS.items():
            if column in data:
                value = data[column]
                if php.empty(value) and not php.is_numeric(value) and default is None:
                    array[column] = None
                else:
                    array[column] = value
            else:
                array[column] = default
        return array

    # --- customer side -------------------------------------------------------------------

    def authenticate(self, username: Any, password: Any) -> tuple[dict | None, str]:
        """The line for these credentials and "" if it may play, else (None|line, XUI error name)."""
        if not isinstance(username, str) or not isinstance(password, str) or not username:
            return None, "INVALID_CREDENTIALS"
        with self.lock:
            line = next(
                (
                    dict(r)
                    for r in self._lines.values()
                    if r["username"] == username and r["password"] == password
                ),
                None,
            )
        if line is None:
            return None, "INVALID_CREDENTIALS"
        expires = php.mysql_int(line["exp_date"])
        if expires is not None and expires <= int(time.time()):
            return line, "EXPIRED"
        if line["admin_enabled"] == "0":
            return line, "BANNED"
        if line["enabled"] == "0":
            return line, "DISABLED"
        return line, ""
