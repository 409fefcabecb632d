"""Xtream Codes 2.x / Xtream UI (R22x) panels through `api.php` (reference §2, §7).

What shapes this adapter:

* A line is named by its username **and** password: `user/info` and `user/edit` take both, and
  there is no lookup by username alone. So our `panel_line_id` is the username, and the adapter
  asks Boxoffice for its own password of it (`PanelConfig.line_passwords`, the Line's encrypted
  password) or remembers the ones it sent. A line Boxoffice holds no password for cannot be
  found - it is not ours.
* Duplicates are refused only for the same username **and** password pair: `user/create` with a
  taken username and another password inserts a second line. So `create_line` first looks the
  username up (`find_line`) and reports it taken; only then does it create.
* Line fields travel as `user_data[<column>]`; `exp_date` is a unix integer (empty = unlimited
  on create; an edit cannot set it back to unlimited: a form value is never SQL NULL);
  `bouquet` is a JSON string (`[1,2]`; the array form stores string ids).
* There is **no delete**: capabilities leave it out, and the operation layer disables and
  expires a line instead (provisioning/capabilities.py).
* No bouquet list and no line list in this API: those capabilities are left out too.
* MAG devices: `stb/create` (`user_data[mac]`) answers `{"result":true}` without an id and gives
  the hidden line random credentials; the device is then read by MAC (`stb/info`), and its
  line is changed by MAC (`stb/edit`). A device's `panel_line_id` is `mac:<MAC>`.
* Auth refusals (`IP FORBIDDEN`, `KEY WRONG`) are permanent errors naming the setting to fix.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

import httpx

from boxoffice.panels.adapters.base import OPERATIONS as CORE_OPERATIONS
from boxoffice.panels.adapters.base import (
    Bouquet,
    Capabilities,
    ConfigField,
    DeviceTaken,
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
from boxoffice.panels.adapters.values import (
    int_list,
    int_or,
    json_ints,
    normalized_mac,
    seconds_or_none,
    since,
    unix_seconds,
    utc_datetime,
)
from boxoffice.panels.adapters.xtream_ui.access import xtream_line_access
from boxoffice.panels.adapters.xtream_ui.client import XtreamUiClient

DEVICE_PREFIX = "mac:"
NOT_EXISTS = "NOT EXISTS"
# Letters, digits and . _ @ -: other characters break playback URLs (/live/U/P/1.ts).
SAFE_CREDENTIAL = re.compile(r"^[A-Za-z0-9._@-]+$")

# The core less what api.php cannot do: it has no delete, bouquet list or connection list.
OPERATIONS = CORE_OPERATIONS - {"delete", "list_bouquets", "line_activity"}


class XtreamUiAdapter(PanelAdapter):
    kind = "xtream_ui"
    label = "Xtream UI / Xtream Codes 2.x"
    keep_between_calls = True  # a key or basic auth per request, no session
    capabilities = Capabilities(operations=OPERATIONS, devices=True)
    config_fields = (
        ConfigField(
            "api_pass",
            "API password",
            secret=True,
            help="Settings → API password on the panel (empty if it has none). Stored "
            "encrypted. The panel also checks the caller's IP: add this server's IP under "
            "Settings → API IPs.",
        ),
        ConfigField(
            "member_id",
            "Owner (member id)",
            kind="int",
            help="The reseller/admin id that owns the lines created here (empty: none)",
        ),
        ConfigField(
            "api_path",
            "API path",
            default="/api.php",
            help="Where api.php lives on the broadcast port (some builds: /admin/api.php)",
        ),
    )
    plan_fields = (
        ConfigField(
            "bouquets",
            "Bouquets",
            kind="int_list",
            help="Bouquet ids on this panel (sent as a JSON string, as the panel wants)",
            invalid="bouquets must be a list of bouquet ids (whole numbers)",
        ),
    )

    @classmethod
    def access(cls, config: PanelConfig, facts: LineFacts) -> LineAccess:
        return xtream_line_access(config, facts)

    def __init__(self, config: PanelConfig, *, transport: httpx.BaseTransport | None = None):
        super().__init__(config)
        self.client = XtreamUiClient(config, transport=transport)
        # Passwords this adapter sent, by username: a create that timed out is found again
        # before the line (and its password) are recorded anywhere else.
        self._known: dict[str, str] = {}

    def close(self) -> None:
        self.client.close()

    # Lines ------------------------------------------------------------------------------------

    def create_line(self, spec: LineSpec) -> PanelLine:
        self.require("create_line")
        _check_credential("username", spec.username)
        _check_credential("password", spec.password)
        if spec.max_connections < 0:
            raise ValueError("max_connections cannot be negative")
        # The panel refuses only the same username+password pair: look the username up first.
        if self.find_line(spec.username) is not None:
            raise UsernameTaken(
                f"Xtream UI already has a line named {spec.username!r}.", code="EXISTS"
            )
        data = [
            ("user_data[username]", spec.username),
            ("user_data[password]", spec.password),
            *self._line_fields(spec),
        ]
        self._known[spec.username] = spec.password
        body = self.client.call("user", "create", data, secrets=[spec.password])
        if body.get("result") is not True:
            error = str(body.get("error") or "")
            if error == "EXISTS":
                raise UsernameTaken(
                    f"Xtream UI already has the line {spec.username!r} (same password).",
                    code="EXISTS",
                )
            raise _refused("user/create", error)
        if str(body.get("username")) != spec.username or str(body.get("password")) != (
            spec.password
        ):
            raise PermanentPanelError(
                f"Xtream UI created line {body.get('created_id')} with other credentials than "
                "requested; fix the line on the panel.",
                code="credentials_altered",
            )
        row = self._info(spec.username, spec.password)
        if row is None:
            raise TransientPanelError(
                f"Xtream UI reported line {spec.username!r} created but cannot find it; retry "
                "(the username check makes the retry safe).",
                code="bad_response",
            )
        return _to_panel_line(row)

    def find_line(self, username: str) -> PanelLine | None:
        self.require("find_line")
        password = self._password(username) if username else None
        if password is None:
            return None  # not a line Boxoffice made: the API cannot look it up
        row = self._info(username, password)
        return _to_panel_line(row) if row is not None else None

    def get_line(self, panel_line_id: str) -> PanelLine:
        self.require("get_line")
        mac = _device_mac(panel_line_id)
        if mac:
            return _to_panel_line(self._device_row(mac))
        username, password = self._credentials(panel_line_id)
        row = self._info(username, password)
        if row is None:
            raise _not_found(panel_line_id)
        return _to_panel_line(row)

    def extend(self, panel_line_id: str, expires_at: datetime | None) -> PanelLine:
        self.require("extend")
        seconds = unix_seconds(expires_at)
        self._refuse_unlimited(panel_line_id, seconds)
        return self._edit(
            panel_line_id,
            {"exp_date": str(seconds)},
            applied=lambda row: seconds_or_none(row.get("exp_date")) == seconds,
            what="exp_date",
        )

    def change_password(self, panel_line_id: str, password: str) -> PanelLine:
        self.require("change_password")
        _check_credential("password", password)
        if _device_mac(panel_line_id):
            raise PermanentPanelError(
                "A MAG device signs in by MAC; its line has no password to change.",
                code="unsupported",
            )
        username = panel_line_id
        try:
            old = self._credentials(panel_line_id)[1]
        except LineNotFound:
            old = None
        if old is not None and old != password:
            body = self.client.call(
                "user",
                "edit",
                [
                    ("username", username),
                    ("password", old),
                    ("user_data[password]", password),
                ],
                secrets=[old, password],
            )
            if body.get("result") is not True and str(body.get("error")) != NOT_EXISTS:
                raise _refused("user/edit", str(body.get("error") or ""))
        # The password is the line's key: read it back under the new one. A retry after a
        # change that was applied but timed out lands here too (the old pair is gone).
        row = self._info(username, password)
        if row is None:
            raise _not_found(panel_line_id)
        self._known[username] = password
        return _to_panel_line(row)

    def set_connections(self, panel_line_id: str, max_connections: int) -> PanelLine:
        self.require("set_connections")
        if max_connections < 0:
            raise ValueError("max_connections cannot be negative")
        return self._edit(
            panel_line_id,
            {"max_connections": str(max_connections)},
            applied=lambda row: int_or(row.get("max_connections"), -1) == max_connections,
            what="max_connections",
        )

    def end_trial(
        self, panel_line_id: str, *, expires_at: datetime | None, max_connections: int
    ) -> PanelLine:
        """One edit: `is_trial` 0 (a real value here, unlike XUI's presence flags), the paid
        expiry and connections; the same username and password."""
        self.require("end_trial")
        seconds = unix_seconds(expires_at)
        self._refuse_unlimited(panel_line_id, seconds)
        return self._edit(
            panel_line_id,
            {
                "is_trial": "0",
                "exp_date": str(seconds),
                "max_connections": str(max_connections),
            },
            applied=lambda row: (
                int_or(row.get("is_trial"), 1) == 0
                and seconds_or_none(row.get("exp_date")) == seconds
                and int_or(row.get("max_connections"), -1) == max_connections
            ),
            what="is_trial",
        )

    def change_plan(
        self,
        panel_line_id: str,
        *,
        max_connections: int,
        mapping: Mapping[str, Any],
        new_expiry: datetime | None = None,
    ) -> PanelLine:
        self.require("change_plan")
        bouquets = [int(n) for n in mapping.get("bouquets") or ()]
        fields = {"max_connections": str(max_connections), "bouquet": json_ints(bouquets)}
        seconds = unix_seconds(new_expiry) if new_expiry is not None else None
        if seconds is not None:
            fields["exp_date"] = str(seconds)
        return self._edit(
            panel_line_id,
            fields,
            applied=lambda row: (
                int_or(row.get("max_connections"), -1) == max_connections
                and sorted(int_list(row.get("bouquet"))) == sorted(bouquets)
                and (seconds is None or seconds_or_none(row.get("exp_date")) == seconds)
            ),
            what="plan",
        )

    def suspend(self, panel_line_id: str) -> PanelLine:
        self.require("suspend")
        return self._edit(
            panel_line_id,
            {"enabled": "0"},
            applied=lambda row: int_or(row.get("enabled"), 1) == 0,
            what="enabled",
        )

    def resume(self, panel_line_id: str) -> PanelLine:
        self.require("resume")
        return self._edit(
            panel_line_id,
            {"enabled": "1"},
            applied=lambda row: int_or(row.get("enabled"), 0) == 1,
            what="enabled",
        )

    def delete(self, panel_line_id: str) -> None:
        # Not in the capabilities: api.php has no delete (reference §2.1). The operation layer
        # disables and expires the line instead; this only guards a direct call.
        self.require("delete")

    # Devices ----------------------------------------------------------------------------------

    def create_device(self, spec: LineSpec) -> PanelLine:
        self.require("create_device")
        mac = normalized_mac(spec.mac, code="STATUS_INVALID_MAC")
        # The panel stores base64(strtoupper(mac)) and looks it up as sent: always upper case.
        data = [("user_data[mac]", mac), *self._line_fields(spec)]
        body = self.client.call("stb", "create", data)
        if body.get("result") is not True:
            error = str(body.get("error") or "")
            if error == "EXISTS":
                raise DeviceTaken(f"Xtream UI already has a device with MAC {mac}.", code=error)
            raise _refused("stb/create", error)
        # No id, and random credentials for the hidden line: read the device back by its MAC.
        try:
            return _to_panel_line(self._device_row(mac))
        except LineNotFound:
            raise TransientPanelError(
                f"Xtream UI reported device {mac} created but cannot find it; retry (the MAC "
                "makes the retry safe).",
                code="bad_response",
            ) from None

    def find_device(self, mac: str) -> PanelLine | None:
        self.require("create_device")
        try:
            return _to_panel_line(self._device_row(normalized_mac(mac, code="STATUS_INVALID_MAC")))
        except LineNotFound:
            return None

    # Panel ------------------------------------------------------------------------------------

    def list_bouquets(self) -> list[Bouquet]:
        self.require("list_bouquets")  # api.php has no bouquet list
        return []

    def health(self) -> HealthReport:
        started = time.monotonic()
        try:
            servers = self.client.call("server", "list")
        except PanelError as exc:
            return HealthReport(ok=False, detail=str(exc), latency_ms=since(started))
        if not isinstance(servers, list):
            detail = "Xtream UI answered server/list without a list of servers"
            return HealthReport(ok=False, detail=detail, latency_ms=since(started))
        detail = f"api.php answers ({len(servers)} server{'s' if len(servers) != 1 else ''})"
        return HealthReport(ok=True, detail=detail, latency_ms=since(started))

    # Internals --------------------------------------------------------------------------------

    def _password(self, username: str) -> str | None:
        known = self._known.get(username)
        if known:
            return known
        lookup = self.config.line_passwords
        return lookup(username) if lookup is not None else None

    def _credentials(self, panel_line_id: str) -> tuple[str, str]:
        username = str(panel_line_id or "")
        password = self._password(username) if username else None
        if password is None:
            raise LineNotFound(
                f"Boxoffice has no line {username!r} on this Xtream UI panel (the API finds a "
                "line only by its username and password).",
                code="line_not_found",
            )
        return username, password

    def _line_fields(self, spec: LineSpec) -> list[tuple[str, str]]:
        seconds = unix_seconds(spec.expires_at)
        bouquets = spec.mapping["bouquets"] if "bouquets" in spec.mapping else spec.bouquets
        data = [
            ("user_data[max_connections]", str(spec.max_connections)),
            # Empty = NULL = never expires (create only).
            ("user_data[exp_date]", "" if seconds is None else str(seconds)),
            ("user_data[bouquet]", json_ints(bouquets)),
            ("user_data[is_trial]", "1" if spec.is_trial else "0"),
            ("user_data[admin_notes]", spec.notes),
        ]
        member_id = self.config.settings.get("member_id")
        if member_id not in (None, ""):
            data.append(("user_data[member_id]", str(member_id)))
        return data

    def _info(self, username: str, password: str) -> dict[str, Any] | None:
        body = self.client.call(
            "user", "info", [("username", username), ("password", password)], secrets=[password]
        )
        if body.get("result") is not True:
            if str(body.get("error")) == NOT_EXISTS:
                return None
            raise _refused("user/info", str(body.get("error") or ""))
        row = body.get("user_info")
        if not isinstance(row, dict) or "username" not in row:
            raise TransientPanelError(
                "Xtream UI answered user/info without the line.", code="bad_response"
            )
        # MySQL compares case-insensitively; our usernames are exact.
        if str(row.get("username")) != username or str(row.get("password")) != password:
            return None
        return row

    def _device_row(self, mac: str) -> dict[str, Any]:
        body = self.client.call("stb", "info", [("mac", mac)])
        if body.get("result") is not True:
            if str(body.get("error")) == NOT_EXISTS:
                raise _not_found(DEVICE_PREFIX + mac)
            raise _refused("stb/info", str(body.get("error") or ""))
        user = body.get("user_info")
        device = body.get("mag_device")
        if not isinstance(user, dict) or "username" not in user:
            raise TransientPanelError(
                f"Xtream UI answered stb/info for {mac} without the device's line.",
                code="bad_response",
            )
        mac_seen = device.get("mac") if isinstance(device, dict) else mac
        return {**user, "mac": str(mac_seen or mac).upper(), "_device": True}

    def _refuse_unlimited(self, panel_line_id: str, seconds: int | None) -> None:
        if seconds is not None:
            return
        self.get_line(panel_line_id)  # an unknown line is LineNotFound, as for any edit
        raise PermanentPanelError(
            "Xtream UI's api.php cannot make an existing line unlimited (exp_date cannot be "
            "set back to empty by an edit); set a date, or clear it on the panel.",
            code="unlimited_unsupported",
        )

    def _edit(
        self,
        panel_line_id: str,
        fields: dict[str, str],
        *,
        applied: Callable[[dict[str, Any]], bool],
        what: str,
    ) -> PanelLine:
        """`user/edit` (or `stb/edit`) of exactly these columns: a plain UPDATE, so nothing else
        on the line changes; then read back to confirm (it answers true even if nothing did)."""
        user_data = [(f"user_data[{name}]", value) for name, value in fields.items()]
        mac = _device_mac(panel_line_id)
        if mac:
            body = self.client.call("stb", "edit", [("mac", mac), *user_data])
            if body.get("result") is not True and body.get("error"):
                raise _refused("stb/edit", str(body.get("error")))
            # {"result":false} without an error: no row changed (already so, or no device).
            row = self._device_row(mac)
        else:
            username, password = self._credentials(panel_line_id)
            body = self.client.call(
                "user",
                "edit",
                [("username", username), ("password", password), *user_data],
                secrets=[password],
            )
            if body.get("result") is not True:
                error = str(body.get("error") or "")
                if error == NOT_EXISTS:
                    raise _not_found(panel_line_id)
                raise _refused("user/edit", error)
            found = self._info(username, password)
            if found is None:
                raise _not_found(panel_line_id)
            row = found
        if not applied(row):
            raise PermanentPanelError(
                f"Xtream UI accepted the edit of line {panel_line_id!r} but {what} did not "
                "change; check the line on the panel.",
                code="edit_not_applied",
            )
        return _to_panel_line(row)


def _check_credential(name: str, value: str) -> None:
    if not SAFE_CREDENTIAL.match(value or ""):
        raise PermanentPanelError(
            f"The {name} may only use letters, digits and . _ @ - on Xtream UI (other "
            "characters break playback URLs).",
            code=f"invalid_{name}",
        )


def _device_mac(panel_line_id: str) -> str:
    text = str(panel_line_id or "")
    return text[len(DEVICE_PREFIX) :].upper() if text.startswith(DEVICE_PREFIX) else ""


def _not_found(panel_line_id: str) -> LineNotFound:
    return LineNotFound(f"Xtream UI has no line {panel_line_id!r}.", code="line_not_found")


def _refused(what: str, error: str) -> PermanentPanelError:
    if error == "PARAMETER ERROR":
        message = (
            f"Xtream UI refused {what} with PARAMETER ERROR (its SQL failed: a column this "
            "panel does not have?)."
        )
    elif error:
        message = f"Xtream UI refused {what}: {error}."
    else:
        message = f"Xtream UI refused {what} (no row was changed)."
    return PermanentPanelError(message, code=error.replace(" ", "_") or "refused")


def _to_panel_line(row: dict[str, Any]) -> PanelLine:
    is_device = bool(row.get("_device"))
    mac = str(row.get("mac") or "") if is_device else ""
    return PanelLine(
        panel_line_id=DEVICE_PREFIX + mac if is_device else str(row.get("username") or ""),
        username=str(row.get("username") or ""),
        password=str(row.get("password") or ""),
        max_connections=int_or(row.get("max_connections"), 1),
        expires_at=utc_datetime(seconds_or_none(row.get("exp_date"))),
        bouquets=tuple(int_list(row.get("bouquet"))),
        enabled=int_or(row.get("enabled"), 1) == 1 and int_or(row.get("admin_enabled"), 1) == 1,
        notes=str(row.get("admin_notes") or ""),
        is_trial=int_or(row.get("is_trial"), 0) == 1,
        mac=mac,
    )
