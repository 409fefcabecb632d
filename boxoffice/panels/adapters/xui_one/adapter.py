"""XUI One (and XC_VM) panels through the Admin API.

What shapes this adapter (reference §1.4, §7):

* `create_line`/`edit_line` share one code path that treats a missing field as "use the default":
  an edit that leaves out `username`/`password` gets random ones, a missing `exp_date` makes the
  line unlimited, missing `access_output[]` blocks live playback, missing flags clear them.
  So every edit is read-modify-write: read the stored row, re-send all of it, change one thing.
* Flags are presence-based: `is_trial=0` makes a trial. We only ever send flags that are 1.
* `exp_date` is parsed by PHP `new DateTime()`: a bare unix number is refused, `@<unix>` is UTC.
* `bouquets_selected` is a JSON string; the array form crashes PHP 8.
* Rows come back with numbers as strings, `exp_date` null for "never", JSON lists as strings.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any, ClassVar, TypeGuard

import httpx

from boxoffice.panels.adapters.base import (
    OPERATIONS,
    Bouquet,
    Capabilities,
    ConfigField,
    DeviceTaken,
    HealthReport,
    LineAccess,
    LineFacts,
    LineNotFound,
    LinePage,
    LineSpec,
    PanelAdapter,
    PanelConfig,
    PanelError,
    PanelLine,
    PermanentPanelError,
    TransientPanelError,
)
from boxoffice.panels.adapters.values import (
    int_list,
    int_or,
    json_ints,
    normalized_mac,
    seconds_or_none,
    since,
    str_list,
    unix_seconds,
    utc_datetime,
)
from boxoffice.panels.adapters.xui_one.access import URL_STYLES, xui_line_access
from boxoffice.panels.adapters.xui_one.client import XuiOneClient

OUTPUT_IDS = {"m3u8": 1, "ts": 2, "rtmp": 3}
OUTPUT_NAMES = {number: name for name, number in OUTPUT_IDS.items()}

# Columns processLine reads as "present = 1, absent = 0".
PRESENCE_FLAGS = ("is_trial", "is_restreamer", "is_stalker", "is_isplock", "bypass_ua")

# Plain columns an edit re-sends as stored so that processLine does not reset them
# (member_id would fall back to the API user, i.e. the line would change owner).
KEPT_COLUMNS = (
    "member_id",
    "admin_notes",
    "reseller_notes",
    "contact",
    "forced_country",
    "force_server_id",
    "package_id",
)

# get_lines pages by 50 unless told otherwise; the cap guards against a panel that ignores `start`.
PAGE_SIZE = 50
MAX_PAGES = 400

# XUI trims values, strips backslashes and rewrites `../`, `<script`, `<!--` (reference §1.1);
# credentials also end up in playback URLs (/live/U/P/1.ts, get.php?…). Only this set is safe.
SAFE_CREDENTIAL = re.compile(r"^[A-Za-z0-9._@-]+$")


class XuiOneAdapter(PanelAdapter):
    kind = "xui_one"
    label = "XUI One"
    keep_between_calls = True  # a key or basic auth per request, no session
    # Devices: create_mag makes a hidden line (is_mag=1) plus a mag_devices row (reference §1.5,
    # recorded probe 13). get_lines does not list MAG lines, so a device is found by its MAC
    # (get_mags); the line's id is what extend/suspend/resume act on, because disable_mag and
    # friends are a silent no-op on XUI.
    # list_lines/line_count: get_lines pages (start/limit, primary-key order), then get_mags for
    # the device lines get_lines leaves out (reference §1.2, §1.3).
    capabilities = Capabilities(operations=OPERATIONS | {"list_lines", "line_count"}, devices=True)
    config_fields: ClassVar[tuple[ConfigField, ...]] = (
        ConfigField("access_code", "Access code", help="XUI One Admin API access code"),
        ConfigField(
            "api_key",
            "API key",
            secret=True,
            help="Stored encrypted. Leave empty to keep the current key.",
        ),
        ConfigField("m3u_style", "M3U style", kind="choice", choices=URL_STYLES, default="get_php"),
        ConfigField("epg_style", "EPG style", kind="choice", choices=URL_STYLES, default="get_php"),
    )
    plan_fields: ClassVar[tuple[ConfigField, ...]] = (
        ConfigField(
            "bouquets",
            "Bouquets",
            kind="int_list",
            help="Bouquet ids on this panel",
            invalid="bouquets must be a list of bouquet ids (whole numbers)",
        ),
        ConfigField(
            "outputs",
            "Outputs",
            kind="choice_list",
            choices=tuple((o, o) for o in OUTPUT_IDS),
            default=("m3u8", "ts"),
            help='Stream outputs, e.g. ["m3u8", "ts"]',
        ),
    )

    @classmethod
    def access(cls, config: PanelConfig, facts: LineFacts) -> LineAccess:
        return xui_line_access(config, facts)

    def __init__(self, config: PanelConfig, *, transport: httpx.BaseTransport | None = None):
        super().__init__(config)
        self.client = XuiOneClient(config, transport=transport)

    def close(self) -> None:
        self.client.close()

    def _edit_form(self, row: dict[str, Any]) -> tuple[dict[str, str], dict[str, list[str]]]:
        """The full edit_line form that writes `row` back unchanged (per kind: what its
        edit_line resets when a field is left out)."""
        return _edit_payload(row)

    def _line_from_row(self, row: dict[str, Any]) -> PanelLine:
        """The line as this kind reads a stored row (a subclass reads its own columns)."""
        return _to_panel_line(row)

    # Lines ------------------------------------------------------------------------------------

    def create_line(self, spec: LineSpec) -> PanelLine:
        self.require("create_line")
        _check_new_credential("username", spec.username)
        _check_new_credential("password", spec.password)
        if spec.max_connections < 0:
            raise ValueError("max_connections cannot be negative (0 means unlimited on XUI)")
        outputs = _output_ids(_spec_outputs(spec))

        data: list[tuple[str, str]] = [
            ("username", spec.username),
            ("password", spec.password),
            ("max_connections", str(spec.max_connections)),
            ("enabled", "1"),
            ("admin_enabled", "1"),
            *_expiry_fields(unix_seconds(spec.expires_at)),
            ("bouquets_selected", json_ints(_spec_bouquets(spec))),
            *(("access_output[]", str(number)) for number in outputs),
            ("admin_notes", spec.notes),
        ]
        if spec.is_trial:
            data.append(("is_trial", "1"))

        return self._send_create(spec, data)

    def _send_create(self, spec: LineSpec, data: list[tuple[str, str]]) -> PanelLine:
        """Send `create_line` and read the created line back (both APIs answer alike)."""
        body = self.client.call("create_line", data, secrets=[spec.password])
        row = body.get("data")
        if not _is_row(row):
            # The wrapper swaps {"insert_id": N} for get_line N; if that re-read failed the
            # line still exists, so look for it instead of reporting a failure.
            if isinstance(row, dict) and int_or(row.get("insert_id"), 0) > 0:
                return self.get_line(str(row["insert_id"]))
            found = self.find_line(spec.username)
            if found is None:
                raise TransientPanelError(
                    "XUI One reported the line created but returned no row and it cannot be "
                    "found; retry (the username makes the retry safe).",
                    code="bad_response",
                )
            return found
        if str(row.get("username")) != spec.username or str(row.get("password")) != spec.password:
            raise PermanentPanelError(
                f"XUI One created line {row.get('id')} but stored different credentials than "
                "requested; fix the line on the panel.",
                code="credentials_altered",
            )
        return self._line_from_row(row)

    def create_device(self, spec: LineSpec) -> PanelLine:
        self.require("create_device")
        mac = normalized_mac(spec.mac, code="STATUS_INVALID_MAC")
        _check_new_credential("username", spec.username)
        _check_new_credential("password", spec.password)
        data: list[tuple[str, str]] = [
            ("mac", mac),
            ("username", spec.username),
            ("password", spec.password),
            *_expiry_fields(unix_seconds(spec.expires_at)),
            ("bouquets_selected", json_ints(_spec_bouquets(spec))),
            ("admin_notes", spec.notes),
        ]
        if spec.is_trial:
            data.append(("is_trial", "1"))
        try:
            body = self.client.call("create_mag", data, secrets=[spec.password])
        except PermanentPanelError as exc:
            if exc.code == "STATUS_EXISTS_MAC":
                raise DeviceTaken(
                    f"XUI One already has a device with MAC {mac}.", code=exc.code, raw=exc.raw
                ) from None
            raise
        device = body.get("data")
        user = device.get("user") if isinstance(device, dict) else None
        if not _is_row(user):
            found = self.find_device(mac)
            if found is None:
                raise TransientPanelError(
                    "XUI One reported the device created but returned no line and it cannot be "
                    "found by its MAC; retry (the MAC makes the retry safe).",
                    code="bad_response",
                )
            return found
        return self._line_from_row(user)

    def find_device(self, mac: str) -> PanelLine | None:
        self.require("create_device")
        wanted = normalized_mac(mac, code="STATUS_INVALID_MAC")
        body = self.client.call(
            "get_mags", [("search[value]", wanted), ("start", "0"), ("limit", str(PAGE_SIZE))]
        )
        rows = body.get("data") if isinstance(body, dict) else None
        for row in rows if isinstance(rows, list) else []:
            if not isinstance(row, dict) or str(row.get("mac") or "").upper() != wanted:
                continue
            user_id = row.get("user_id")
            if user_id in (None, ""):  # a table without user_id: read the device itself
                device = self.client.call("get_mag", [("id", str(row.get("id")))]).get("data")
                user_id = device.get("user_id") if isinstance(device, dict) else None
            try:
                return self._line_from_row(self._get_row(_line_id(user_id)))
            except LineNotFound:
                return None
        return None

    def find_line(self, username: str) -> PanelLine | None:
        self.require("find_line")
        if not username:
            return None
        for row in self._search_lines(username):
            # search[value] is a case-insensitive substring match over several columns.
            if str(row.get("username")) != username:
                continue
            try:
                full = self._get_row(_line_id(row.get("id")))
            except LineNotFound:
                return None  # deleted between the list and the read
            return self._line_from_row(_with_activity(full, row))
        return None

    def get_line(self, panel_line_id: str) -> PanelLine:
        self.require("get_line")
        return self._line_from_row(self._get_row(_line_id(panel_line_id)))

    def line_activity(self, panel_line_id: str) -> PanelLine:
        self.require("line_activity")
        line_id = _line_id(panel_line_id)
        row = self._get_row(line_id)
        # active_connections and last_active exist only in get_lines rows, not in get_line.
        for listed in self._search_lines(str(row.get("username") or "")):
            if str(listed.get("id")) == line_id:
                row = _with_activity(row, listed)
                break
        return self._line_from_row(row)

    def extend(self, panel_line_id: str, expires_at: datetime | None) -> PanelLine:
        self.require("extend")
        seconds = unix_seconds(expires_at)

        def change(fields: dict[str, str]) -> None:
            fields.pop("exp_date", None)
            fields.pop("no_expire", None)
            fields.update(_expiry_fields(seconds))

        return self._edit(
            panel_line_id,
            change,
            column="exp_date",
            applied=lambda row: seconds_or_none(row.get("exp_date")) == seconds,
        )

    def change_password(self, panel_line_id: str, password: str) -> PanelLine:
        self.require("change_password")
        _check_new_credential("password", password)
        return self._edit(
            panel_line_id,
            lambda fields: fields.update(password=password),
            column="password",
            applied=lambda row: str(row.get("password")) == password,
            new_secret=password,
        )

    def set_connections(self, panel_line_id: str, max_connections: int) -> PanelLine:
        self.require("set_connections")
        if max_connections < 0:
            raise ValueError("max_connections cannot be negative (0 means unlimited on XUI)")
        return self._edit(
            panel_line_id,
            lambda fields: fields.update(max_connections=str(max_connections)),
            column="max_connections",
            applied=lambda row: int_or(row.get("max_connections"), -1) == max_connections,
        )

    def end_trial(
        self, panel_line_id: str, *, expires_at: datetime | None, max_connections: int
    ) -> PanelLine:
        """One edit_line that writes the whole line back without `is_trial` (a presence flag:
        leaving it out is what clears it), with the paid expiry and connections."""
        self.require("end_trial")
        if max_connections < 0:
            raise ValueError("max_connections cannot be negative (0 means unlimited on XUI)")
        seconds = unix_seconds(expires_at)

        def change(fields: dict[str, str]) -> None:
            fields.pop("is_trial", None)
            fields.pop("exp_date", None)
            fields.pop("no_expire", None)
            fields.update(_expiry_fields(seconds))
            fields["max_connections"] = str(max_connections)

        return self._edit(
            panel_line_id,
            change,
            column="is_trial",
            applied=lambda row: (
                int_or(row.get("is_trial"), 1) == 0
                and seconds_or_none(row.get("exp_date")) == seconds
                and int_or(row.get("max_connections"), -1) == max_connections
            ),
        )

    def change_plan(
        self,
        panel_line_id: str,
        *,
        max_connections: int,
        mapping: Mapping[str, Any],
        new_expiry: datetime | None = None,
    ) -> PanelLine:
        """One edit_line writing the whole line back with the new plan's connections, bouquets
        and outputs (and a renewal's expiry), every other column as stored: a partial edit
        would reset the rest, credentials included (reference §1.4)."""
        self.require("change_plan")
        if max_connections < 0:
            raise ValueError("max_connections cannot be negative (0 means unlimited on XUI)")
        bouquets = [int(n) for n in mapping.get("bouquets") or ()]
        outputs = _output_ids(tuple(mapping.get("outputs") or ("m3u8", "ts")))
        seconds = unix_seconds(new_expiry) if new_expiry is not None else None

        def change(fields: dict[str, str], lists: dict[str, list[str]]) -> None:
            fields["max_connections"] = str(max_connections)
            fields["bouquets_selected"] = json_ints(bouquets)
            lists["access_output[]"] = [str(n) for n in outputs]
            if new_expiry is not None:
                fields.pop("exp_date", None)
                fields.pop("no_expire", None)
                fields.update(_expiry_fields(seconds))

        def applied(row: dict[str, Any]) -> bool:
            return (
                int_or(row.get("max_connections"), -1) == max_connections
                and sorted(int_list(row.get("bouquet"))) == sorted(bouquets)
                and sorted(int_list(row.get("allowed_outputs"))) == outputs
                and (new_expiry is None or seconds_or_none(row.get("exp_date")) == seconds)
            )

        return self._edit(
            panel_line_id, lambda fields: None, column="plan", applied=applied, change_lists=change
        )

    # disable_line/enable_line run a single `UPDATE lines SET enabled = …` (reference §1.3), so
    # nothing else on the line can be lost, there is no read-then-write window in which another
    # change (a renewal) could be overwritten, and a banned line (admin_enabled) stays banned.
    def suspend(self, panel_line_id: str) -> PanelLine:
        self.require("suspend")
        return self._set_enabled(panel_line_id, enabled=False)

    def resume(self, panel_line_id: str) -> PanelLine:
        self.require("resume")
        return self._set_enabled(panel_line_id, enabled=True)

    def delete(self, panel_line_id: str) -> None:
        self.require("delete")
        line_id = _line_id(panel_line_id)
        try:
            self.client.call("delete_line", [("id", line_id)])
        except PermanentPanelError as exc:
            # The only STATUS_FAILURE path is "no such line" (or a failed DELETE of it).
            if exc.code == "STATUS_FAILURE":
                raise _not_found(line_id) from None
            raise

    # Panel ------------------------------------------------------------------------------------

    def list_bouquets(self) -> list[Bouquet]:
        self.require("list_bouquets")
        result = self.client.call("get_bouquets")
        # filterRows() answers a bare array; tolerate a build that wraps it anyway.
        rows = result.get("data") if isinstance(result, dict) else result
        if not isinstance(rows, list):
            raise TransientPanelError(
                "XUI One answered get_bouquets without a list of bouquets.", code="bad_response"
            )
        bouquets = []
        for row in rows:
            if not isinstance(row, dict):
                continue
            number = int_or(row.get("id"), None)
            if number is None:
                continue
            name = str(row.get("bouquet_name") or row.get("name") or f"Bouquet {number}")
            bouquets.append(Bouquet(id=number, name=name))
        return bouquets

    def health(self) -> HealthReport:
        started = time.monotonic()
        try:
            body = self.client.call("user_info")
        except PanelError as exc:
            return HealthReport(ok=False, detail=str(exc), latency_ms=since(started))
        user = body.get("data") if isinstance(body, dict) else None
        who = user.get("username") if isinstance(user, dict) else None
        detail = f"Admin API answers as {who}" if who else "Admin API answers"
        return HealthReport(ok=True, detail=detail, latency_ms=since(started))

    def list_lines(self, cursor: str | None = None, limit: int = 500) -> LinePage:
        """Every line, `limit` at a time: the app lines of get_lines, then the device lines of
        get_mags (get_lines leaves MAG/E2 lines out), each in primary-key order.

        The cursor is "<table>:<start>:<last id>". Pages are offset-based on the panel, so a line
        deleted before the offset between two calls would shift the rest back and one line would
        be skipped: each page is asked from one row earlier than it needs and must begin at or
        before the last id already seen; if it does not, the offset steps back until it does.
        Rows at or before the last id are dropped, so nothing is listed twice.

        get_lines rows have no bouquets or outputs, so each line is read with get_line too
        (`limit` + 1 requests a page; callers pace the pages).
        """
        self.require("list_lines")
        if limit < 1:
            raise ValueError("limit must be at least 1")
        table, start, last_id = _parse_cursor(cursor)
        while True:
            ask = max(start - 1, 0)
            rows, total = self._table_page(table, ask, limit + (1 if start else 0))
            first = int_or(rows[0].get("id"), 0) if rows else None
            if start and ask > 0 and first is not None and first > last_id:
                start = max(start - limit, 0)  # lines were deleted before our offset
                continue
            break
        fresh = [row for row in rows if int_or(row.get("id"), 0) > last_id]
        lines = tuple(line for row in fresh if (line := self._listed_line(table, row)))
        if fresh:
            last_id = int_or(fresh[-1].get("id"), last_id)
        end = ask + len(rows)
        more = bool(rows) and (end < total if total is not None else len(rows) >= limit)
        if more:
            next_cursor: str | None = f"{table}:{end}:{last_id}"
        elif table == "lines":
            next_cursor = "mags:0:0"
        else:
            next_cursor = None
        return LinePage(lines=lines, next_cursor=next_cursor, total=total)

    def line_count(self) -> int:
        """App lines plus device lines, from the tables' own counts (one row asked of each)."""
        self.require("line_count")
        count = 0
        for table in ("lines", "mags"):
            _, total = self._table_page(table, 0, 1)
            if total is None:
                raise TransientPanelError(
                    f"XUI One answered get_{table} without recordsTotal.", code="bad_response"
                )
            count += total
        return count

    def _table_page(self, table: str, start: int, limit: int) -> tuple[list[dict], int | None]:
        body = self.client.call(f"get_{table}", [("start", str(start)), ("limit", str(limit))])
        rows = body.get("data") if isinstance(body, dict) else None
        if not isinstance(rows, list):
            raise TransientPanelError(
                f"XUI One answered get_{table} without a list of rows.", code="bad_response"
            )
        # recordsTotal is a string from MySQL ("12"), or 0 when the table is empty.
        return [row for row in rows if isinstance(row, dict)], int_or(
            body.get("recordsTotal"), None
        )

    def _listed_line(self, table: str, row: dict[str, Any]) -> PanelLine | None:
        line_id = row.get("user_id") if table == "mags" else row.get("id")
        try:
            full = self._get_row(_line_id(line_id))
        except LineNotFound:
            return None  # deleted between the page and the read
        line = _to_panel_line(_with_activity(full, row) if table == "lines" else full)
        mac = str(row.get("mac") or "")
        if table == "mags" and mac:
            try:
                mac = normalized_mac(mac, code="STATUS_INVALID_MAC")
            except PermanentPanelError:
                pass  # keep what the panel stored; the comparison shows it as it is
            return replace(line, mac=mac)
        return line

    # Internals --------------------------------------------------------------------------------

    def _get_row(self, line_id: str) -> dict[str, Any]:
        try:
            body = self.client.call("get_line", [("id", line_id)])
        except PermanentPanelError as exc:
            if exc.code == "STATUS_FAILURE":
                raise _not_found(line_id) from None
            raise
        row = body.get("data")
        if not _is_row(row):
            raise TransientPanelError(
                f"XUI One answered get_line {line_id} without the line's row.", code="bad_response"
            )
        return row

    def _search_lines(self, term: str) -> Iterator[dict[str, Any]]:
        start = 0
        seen: set[str] = set()
        for _ in range(MAX_PAGES):
            body = self.client.call(
                "get_lines",
                [("search[value]", term), ("start", str(start)), ("limit", str(PAGE_SIZE))],
            )
            rows = body.get("data") if isinstance(body, dict) else None
            if not isinstance(rows, list) or not rows:
                return
            ids = {str(row.get("id")) for row in rows if isinstance(row, dict)}
            if ids and ids <= seen:
                return  # the panel ignored `start` and sent the same page again
            seen |= ids
            yield from (row for row in rows if isinstance(row, dict))
            start += len(rows)
            total = int_or(body.get("recordsTotal"), None)
            if len(rows) < PAGE_SIZE or (total is not None and start >= total):
                return

    def _edit(
        self,
        panel_line_id: str,
        change: Callable[[dict[str, str]], None],
        *,
        column: str,
        applied: Callable[[dict[str, Any]], bool],
        new_secret: str = "",
        change_lists: Callable[[dict[str, str], dict[str, list[str]]], None] | None = None,
    ) -> PanelLine:
        line_id = _line_id(panel_line_id)
        stored = self._get_row(line_id)
        fields, lists = self._edit_form(stored)
        change(fields)
        if change_lists is not None:
            change_lists(fields, lists)
        data = [("id", line_id), *fields.items()]
        data += [(name, value) for name, values in lists.items() for value in values]

        secrets = [str(stored.get("password") or ""), new_secret]
        body = self.client.call("edit_line", data, secrets=secrets)
        after = body.get("data")
        if not _is_row(after):
            after = self._get_row(line_id)

        # A panel that regenerates credentials on edit is the costliest failure: check them too.
        guarded = ["username"] if column == "password" else ["username", "password"]
        lost = [name for name in guarded if str(after.get(name)) != str(stored.get(name))]
        if not applied(after) or lost:
            what = (
                f"{column} did not change" if not applied(after) else f"{', '.join(lost)} changed"
            )
            raise PermanentPanelError(
                f"XUI One accepted edit_line for line {line_id} but {what}; check the line on the "
                "panel and make the change by hand.",
                code="edit_not_applied",
            )
        return self._line_from_row(after)

    def _set_enabled(self, panel_line_id: str, *, enabled: bool) -> PanelLine:
        line_id = _line_id(panel_line_id)
        try:
            self.client.call("enable_line" if enabled else "disable_line", [("id", line_id)])
        except PermanentPanelError as exc:
            if exc.code == "STATUS_FAILURE":
                raise _not_found(line_id) from None
            raise
        # These actions answer without the row, so read it back to confirm and to return it.
        row = self._get_row(line_id)
        if int_or(row.get("enabled"), -1) != int(enabled):
            raise PermanentPanelError(
                f"XUI One accepted {'enable' if enabled else 'disable'}_line for line {line_id} "
                "but the line did not change; check it on the panel.",
                code="edit_not_applied",
            )
        return self._line_from_row(row)


# Building requests ----------------------------------------------------------------------------


def _edit_payload(row: dict[str, Any]) -> tuple[dict[str, str], dict[str, list[str]]]:
    """The full edit_line form that writes `row` back unchanged."""
    for name in ("username", "password"):
        value = str(row.get(name) or "")
        if not value or value != _cleaned_by_panel(value):
            # Re-sending it would let the panel generate or alter the credential.
            raise PermanentPanelError(
                f"Line {row.get('id')} has a {name} XUI One would alter on any edit; "
                "change it on the panel to letters and digits first.",
                code="unsafe_stored_credentials",
            )
    fields: dict[str, str] = {
        "username": str(row["username"]),
        "password": str(row["password"]),
        "max_connections": str(int_or(row.get("max_connections"), 1)),
        "enabled": str(int_or(row.get("enabled"), 1)),
        "admin_enabled": str(int_or(row.get("admin_enabled"), 1)),
    }
    fields.update(_expiry_fields(seconds_or_none(row.get("exp_date"))))
    fields["bouquets_selected"] = json_ints(int_list(row.get("bouquet")))
    for name in KEPT_COLUMNS:
        kept = row.get(name)
        if kept is not None:
            fields[name] = str(kept)
    for flag in PRESENCE_FLAGS:
        if int_or(row.get(flag), 0) == 1:
            fields[flag] = "1"
    # A device's hidden line must stay one: is_mag/is_e2 are plain columns (not processLine
    # flags), so re-send them as stored.
    for column in ("is_mag", "is_e2"):
        if int_or(row.get(column), 0) == 1:
            fields[column] = "1"
    lists = {
        "access_output[]": [str(n) for n in int_list(row.get("allowed_outputs"))],
        "allowed_ips[]": str_list(row.get("allowed_ips")),
        "allowed_ua[]": str_list(row.get("allowed_ua")),
    }
    return fields, lists


def _expiry_fields(seconds: int | None) -> list[tuple[str, str]]:
    if seconds is None:
        return [("no_expire", "1")]
    return [("exp_date", f"@{seconds}")]


def _spec_bouquets(spec: LineSpec) -> tuple[int, ...]:
    return tuple(spec.mapping["bouquets"]) if "bouquets" in spec.mapping else spec.bouquets


def _spec_outputs(spec: LineSpec) -> tuple[str, ...]:
    return tuple(spec.mapping["outputs"]) if spec.mapping.get("outputs") else spec.outputs


def _output_ids(outputs: tuple[str, ...]) -> list[int]:
    unknown = [name for name in outputs if name not in OUTPUT_IDS]
    if unknown:
        raise ValueError(f"unknown outputs {unknown}; XUI knows {sorted(OUTPUT_IDS)}")
    if not outputs:
        raise ValueError("a line needs at least one output, or XUI refuses every live stream")
    return sorted({OUTPUT_IDS[name] for name in outputs})


def _check_new_credential(name: str, value: str) -> None:
    if not SAFE_CREDENTIAL.match(value or ""):
        raise PermanentPanelError(
            f"The {name} may only use letters, digits and . _ @ - on XUI One (the panel alters "
            "other characters, and they break playback URLs).",
            code=f"invalid_{name}",
        )


def _cleaned_by_panel(value: str) -> str:
    cleaned = value.strip().replace("\\", "").replace("../", "")
    return re.sub(r"<(script|!--)", "&lt;\\1", cleaned, flags=re.IGNORECASE)


def _parse_cursor(cursor: str | None) -> tuple[str, int, int]:
    if not cursor:
        return "lines", 0, 0
    table, _, rest = cursor.partition(":")
    start, _, last_id = rest.partition(":")
    if table not in ("lines", "mags") or not start.isdigit() or not last_id.isdigit():
        raise ValueError(f"not an XUI One list cursor: {cursor!r}")
    return table, int(start), int(last_id)


def _line_id(panel_line_id: Any) -> str:
    line_id = str(panel_line_id if panel_line_id is not None else "").strip()
    if not line_id.isdigit():
        raise _not_found(line_id)
    return line_id


def _not_found(line_id: str) -> LineNotFound:
    return LineNotFound(f"XUI One has no line with id {line_id!r}.", code="line_not_found")


# Reading rows ---------------------------------------------------------------------------------


def _is_row(value: Any) -> TypeGuard[dict[str, Any]]:
    return isinstance(value, dict) and value.get("id") is not None and "username" in value


def _with_activity(row: dict[str, Any], listed: dict[str, Any]) -> dict[str, Any]:
    merged = dict(row)
    for name in ("active_connections", "last_active"):
        if name in listed:
            merged[name] = listed[name]
    return merged


def _to_panel_line(row: dict[str, Any]) -> PanelLine:
    last_active = seconds_or_none(row.get("last_active"))
    return PanelLine(
        panel_line_id=str(row.get("id")),
        username=str(row.get("username") or ""),
        password=str(row.get("password") or ""),
        max_connections=int_or(row.get("max_connections"), 1),
        expires_at=utc_datetime(seconds_or_none(row.get("exp_date"))),
        bouquets=tuple(int_list(row.get("bouquet"))),
        outputs=tuple(
            OUTPUT_NAMES[n] for n in int_list(row.get("allowed_outputs")) if n in OUTPUT_NAMES
        ),
        # A banned line (admin_enabled=0) cannot play either.
        enabled=int_or(row.get("enabled"), 1) == 1 and int_or(row.get("admin_enabled"), 1) == 1,
        notes=str(row.get("admin_notes") or ""),
        is_trial=int_or(row.get("is_trial"), 0) == 1,
        active_connections=max(int_or(row.get("active_connections"), 0), 0),
        last_active_at=utc_datetime(last_active),
    )
