"""The Reseller API (access code type 4) of the emulated panel, as XC_VM's reseller_api.php:
packages, credits deducted per sale, renewal adding the package's duration. A mixin of
`XuiPanel` (its rows, lock and save)."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from . import php
from .schema import (
    ADMIN_ID,
    COMPUTED_FIELDS,
    LINE_COLUMNS,
    RESELLER_GROUP,
    RESELLER_ID,
    RESELLER_LINE_KEYS,
    RESELLER_MIN_LENGTH,
    RESELLER_USERNAME,
    _db_value,
    _failure,
)


class ResellerApiMixin:
    def reseller_request(self, request: dict) -> str:
        """The body XUI's Reseller API prints for a cleaned request (reference §1.6)."""
        with self.lock:
            return php.json_encode(self._reseller_dispatch(request))

    def set_credits(self, credits: int) -> None:
        with self.lock:
            self.reseller_credits = int(credits)

    def _own_line(self, raw_id: Any) -> dict | None:
        line = self._get_line(raw_id)
        if line is None or php.mysql_int(line.get("member_id")) != RESELLER_ID:
            return None  # Authorization::check('line', …) fails for another owner's line
        return line

    def _reseller_dispatch(self, request: dict) -> Any:
        key = request.get("api_key")
        if (
            not self.reseller_api_key
            or php.empty(key)
            or not isinstance(key, str)
            or key != self.reseller_api_key
        ):
            return _failure(error="Invalid API key.")
        data = dict(request)
        action = data.pop("action", None)
        start = php.intval(data.pop("start", None)) or 0
        limit = php.intval(data.pop("limit", None)) or 50
        data.pop("api_key", None)
        if action == "user_info":
            return self._reseller_user_info()
        if action == "packages":
            group = RESELLER_GROUP
            offered = [
                dict(p)
                for p in self.packages
                if group in php.array_values(php.json_decode(p.get("groups")))
            ]
            return {"status": "STATUS_SUCCESS", "data": offered}
        if action == "get_lines":
            data["reseller"] = str(RESELLER_ID)
            return self._table_lines(start, limit, data, None, None)
        if action == "get_line":
            line = self._own_line(data.get("id"))
            if line is None:
                return _failure()
            return {"status": "STATUS_SUCCESS", "data": dict(line)}
        if action == "create_line":
            data.pop("edit", None)
            return self._reseller_process_line(data)
        if action == "edit_line":
            line_id = data.pop("id", None)
            if self._own_line(line_id) is None:
                return _failure()
            data["edit"] = line_id
            return self._reseller_process_line(data)
        if action in ("delete_line", "disable_line", "enable_line"):
            if self._own_line(data.get("id")) is None:
                return _failure()
            return self._line_switch(action, data.get("id"))
        return _failure(error="Invalid action.")

    def _reseller_user_info(self) -> dict:
        user = {
            "id": str(RESELLER_ID),
            "username": RESELLER_USERNAME,
            "email": "r@example.invalid",
            "ip": None,
            "date_registered": "1796136673",
            "last_login": None,
            "member_group_id": str(RESELLER_GROUP),
            "credits": str(self.reseller_credits),
            "notes": None,
            "status": "1",
            "reseller_dns": None,
            "owner_id": str(ADMIN_ID),
            "override_packages": None,
            "hue": None,
            "theme": 0,
            "timezone": "",
            "api_key": self.reseller_api_key,
            "lang": "en",
        }
        permissions = {
            "group_id": str(RESELLER_GROUP),
            "group_name": "Resellers",
            "is_admin": 0,
            "is_reseller": "1",
            "total_allowed_gen_trials": "100000",
            "total_allowed_gen_in": "month",
            "delete_users": "1",
            "allowed_pages": "[]",
            "can_delete": 0,
            "create_sub_resellers": 0,
            "create_line": "1",
            "allow_restrictions": "1",
            "allow_change_username": "1",
            "allow_change_password": "1",
            "allow_change_bouquets": 0,
            "minimum_username_length": str(RESELLER_MIN_LENGTH),
            "minimum_password_length": str(RESELLER_MIN_LENGTH),
        }
        return {"status": "STATUS_SUCCESS", "data": user, "permissions": permissions}

    def _reseller_process_line(self, data: dict) -> dict:
        """ResellerAPI::processLine: the package decides expiry, connections, bouquets and
        outputs, and costs credits; renewal with a package adds its duration to the expiry."""
        data = {k: v for k, v in data.items() if k in RESELLER_LINE_KEYS}
        editing = data.get("edit") is not None
        if editing:
            row = self._own_line(data["edit"])
            if row is None:
                return _failure()
            array = {column: row.get(column) for column in LINE_COLUMNS}
            original = (row["username"], row["password"])
        else:
            array = self._verify_post_table(data)
            array["created_at"] = int(time.time())
            array.pop("id", None)
            original = None
        array["is_mag"] = 0
        array["is_e2"] = 0
        package = None
        cost = 0
        if not php.empty(data.get("package")):
            package = next(
                (p for p in self.packages if str(p["id"]) == str(data["package"]).strip()), None
            )
            # getPackage() of an unknown id is false, and false['is_line'] is not truthy.
            if package is None or not php.truthy(package.get("is_line")):
                return _failure("STATUS_INVALID_TYPE", data)
            groups = php.array_values(php.json_decode(package.get("groups")))
            if RESELLER_GROUP not in groups:
                return _failure("STATUS_INVALID_PACKAGE", data)
            trial = php.truthy(data.get("trial"))
            cost = php.intval(package["trial_credits" if trial else "official_credits"])
            if cost > self.reseller_credits:
                return _failure("STATUS_INSUFFICIENT_CREDITS", data)
            now = int(time.time())
            if trial:
                array["exp_date"] = self._strtotime(package, "trial", now)
                array["is_trial"] = 1
            else:
                current = php.mysql_int(array.get("exp_date"))
                base = current if editing and current is not None and now <= current else now
                array["exp_date"] = self._strtotime(package, "official", base)
                array["is_trial"] = 0
            bouquets = list(php.array_values(php.json_decode(package.get("bouquets"))))
            ordered = php.sort_array_by_array(bouquets, self._bouquet_order())
            array["bouquet"] = "[" + ",".join(str(php.intval(b)) for b in ordered) + "]"
            for column in ("max_connections", "is_restreamer", "force_server_id"):
                array[column] = package.get(column)
            array["forced_country"] = package.get("forced_country")
            array["is_isplock"] = package.get("is_isplock")
            array["package_id"] = package["id"]
        elif not editing:
            return _failure("STATUS_INVALID_PACKAGE", data)
        array["contact"] = data.get("contact")
        array["reseller_notes"] = data.get("reseller_notes")
        array["member_id"] = RESELLER_ID

        for name in ("username", "password"):
            value = data.get(name)
            if php.strlen(value) == 0:
                array[name] = array[name] if editing else php.generate_string(10)
                continue
            if php.strlen(value) < RESELLER_MIN_LENGTH and not (
                editing and original and value == original[0 if name == "username" else 1]
            ):
                return _failure(f"STATUS_INVALID_{name.upper()}", data)
            array[name] = value
        if self._username_exists(array["username"], data.get("edit")):
            return _failure("STATUS_EXISTS_USERNAME", data)

        # allow_restrictions: re-sent or reset, on every save.
        for column in ("allowed_ips", "allowed_ua"):
            value = data.get(column)
            array[column] = (
                "[]"
                if value is None
                else php.json_encode(value if isinstance(value, dict) else {0: value})
            )
        array["bypass_ua"] = 1 if data.get("bypass_ua") is not None else 0
        array["is_isplock"] = 1 if data.get("is_isplock") is not None else 0
        if php.strlen(data.get("isp_clear")) == 0:
            array["isp_desc"] = ""
            array["as_number"] = None
        if package is not None:
            outputs = php.array_values(php.json_decode(package.get("output_formats")))
            array["allowed_outputs"] = "[" + ",".join(str(php.intval(o)) for o in outputs) + "]"

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
        if package is not None:
            self.reseller_credits -= cost
        self._save()
        return {"status": "STATUS_SUCCESS", "data": dict(stored)}

    @staticmethod
    def _strtotime(package: dict, prefix: str, base: int) -> int:
        amount = php.intval(package.get(f"{prefix}_duration"))
        unit = str(package.get(f"{prefix}_duration_in") or "days")
        moment = datetime.fromtimestamp(base, tz=UTC)
        return php.parse_php_datetime(f"+{amount} {unit}", now=moment)

    # --- MAG devices (processMAG) ------------------------------------------------------
