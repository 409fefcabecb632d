"""`get_lines` / `get_mags` of the emulated panel: the paged, filtered and ordered tables as
table.php builds them. A mixin of `XuiPanel`."""

from __future__ import annotations

import time
from typing import Any

from . import php
from .schema import (
    ADMIN_ID,
    ADMIN_USERNAME,
    COMPUTED_FIELDS,
    TABLE_COLUMNS,
    TABLE_ZERO_AS_NUMBER,
    filter_row,
)


class TablesMixin:
    def _table_mags(self, start: int, limit: int, data: dict) -> dict:
        search = data.get("search")
        needle = search.get("value") if isinstance(search, dict) else None
        rows = []
        for mag in self._mags.values():
            user = self._lines.get(php.intval(mag.get("user_id"))) or {}
            row = {
                "id": mag["mag_id"],
                "user_id": mag["user_id"],
                "mac": mag["mac"],
                "username": user.get("username"),
                "exp_date": user.get("exp_date"),
                "enabled": user.get("enabled"),
                "admin_notes": user.get("admin_notes"),
            }
            haystack = " ".join(str(row[k] or "") for k in ("mac", "username", "admin_notes"))
            if isinstance(needle, str) and needle and needle.lower() not in haystack.lower():
                continue
            rows.append(row)
        page = rows[start : start + limit]
        return {
            "status": "STATUS_SUCCESS",
            "data": page,
            "recordsTotal": len(self._mags),
            "recordsFiltered": len(page),
        }

    # --- get_lines (table.php in API mode) ---------------------------------------------

    def _table_lines(
        self, start: int, limit: int, data: dict, show: list[str] | None, hide: list[str] | None
    ) -> dict:
        rows = [
            r
            for r in self._lines.values()
            if php.intval(r.get("is_mag")) + php.intval(r.get("is_e2")) == 0
        ]
        search = data.get("search")
        needle = search.get("value") if isinstance(search, dict) else None
        if isinstance(needle, str) and needle != "":
            pattern = f"%{needle}%"
            rows = [
                r
                for r in rows
                if any(
                    php.mysql_like(pattern, value)
                    for value in (
                        r["username"],
                        r["password"],
                        php.from_unixtime(r["exp_date"]),
                        r["max_connections"],
                        r["reseller_notes"],
                        r["admin_notes"],
                    )
                )
            ]
        rows = self._filter_lines(rows, data.get("filter"))
        reseller = data.get("reseller")
        if isinstance(reseller, str) and reseller != "":
            rows = [r for r in rows if php.mysql_int(r["member_id"]) == php.mysql_int(reseller)]

        total = len(rows)
        # The count comes back from MySQL as a string; the API caps recordsFiltered at the
        # limit (then an int), exactly as table.php does.
        body: dict[str, Any] = {"status": "STATUS_SUCCESS", "data": []}
        body["recordsTotal"] = str(total) if total else 0
        body["recordsFiltered"] = (str(total) if total else 0) if total < limit else limit
        if total == 0 or start < 0 or limit < 0:
            return body
        rows = self._order_lines(rows, data.get("order"))
        for row in rows[start : start + limit]:
            item = {
                column: row.get(column, COMPUTED_FIELDS.get(column)) for column in TABLE_COLUMNS
            }
            item["owner_name"] = (
                ADMIN_USERNAME if php.mysql_int(row["member_id"]) == ADMIN_ID else None
            )
            item["stream_display_name"] = None
            item["stream_id"] = None
            item["last_active"] = row.get("last_active")
            for column in TABLE_ZERO_AS_NUMBER:
                if php.intval(item.get(column)) == 0:
                    item[column] = 0
            body["data"].append(filter_row(item, show, hide))
        return body

    @staticmethod
    def _filter_lines(rows: list[dict], raw_filter: Any) -> list[dict]:
        if not isinstance(raw_filter, str) or raw_filter == "" or not php.is_numeric(raw_filter):
            return rows
        kind = float(raw_filter)
        now = int(time.time())

        def exp(row: dict) -> int | None:
            return php.mysql_int(row["exp_date"])

        tests = {
            1: lambda r: (
                r["admin_enabled"] == "1"
                and r["enabled"] == "1"
                and (exp(r) is None or exp(r) > now)
            ),
            2: lambda r: r["enabled"] == "0",
            3: lambda r: r["admin_enabled"] == "0",
            4: lambda r: exp(r) is not None and exp(r) <= now,
            5: lambda r: r["is_trial"] == "1",
            6: lambda r: r["is_restreamer"] == "1",
            7: lambda r: r["is_stalker"] == "1",
            8: lambda r: exp(r) is not None and now < exp(r) <= now + 86400 * 14,
        }
        test = tests.get(int(kind)) if kind.is_integer() else None
        return [r for r in rows if test(r)] if test else rows

    @staticmethod
    def _order_lines(rows: list[dict], order: Any) -> list[dict]:
        rows = sorted(rows, key=lambda r: int(r["id"]))
        column, direction = 0, "asc"
        if isinstance(order, dict) and isinstance(order.get(0), dict):
            first = order[0]
            if isinstance(first.get("column"), str) and first["column"] != "":
                column = php.intval(first["column"])
            if isinstance(first.get("dir"), str) and first["dir"].lower() == "desc":
                direction = "desc"

        def number(name: str):
            return lambda r: php.mysql_int(r.get(name))

        keys = {
            0: number("id"),
            1: lambda r: r["username"].lower(),
            2: lambda r: r["password"].lower(),
            3: number("member_id"),
            4: lambda r: php.intval(r["enabled"]) - php.intval(r["admin_enabled"]),
            5: lambda r: 0,
            6: number("is_trial"),
            7: number("is_restreamer"),
            8: lambda r: 0,
            9: number("max_connections"),
            10: number("exp_date"),
            11: number("last_activity"),
        }
        key = keys.get(column)
        if key is None:
            return rows  # `false` or unknown column: no ORDER BY, primary-key order

        def sort_key(row: dict):
            value = key(row)
            return (0, 0) if value is None else (1, value)  # NULL first when ascending

        return sorted(rows, key=sort_key, reverse=direction == "desc")

    # --- processLine ---------------------------------------------------------------------
