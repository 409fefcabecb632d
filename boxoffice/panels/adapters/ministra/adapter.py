"""Ministra / Stalker Middleware panels through the REST API v1, for MAC accounts (MAG and
Formuler boxes) and login accounts.

What shapes this adapter (reference panels.md §5, recorded probes in tests/recorded/):

* A line is an account. The API finds accounts by MAC or by `account_number` only (a login is
  "Account not found", S7), so every account we create gets `account_number` = its login, and
  that is the line's `panel_line_id`. `users/<login>` (S7b) takes a login: `find_line` uses it.
* `tariff_plan` is the tariff plan's external id (S1): the plan's `tariff_plan` mapping.
* `end_date` is a MySQL DATETIME (`YYYY-MM-DD HH:MM:SS`, the portal's local time). A malformed
  one is answered OK while the database then holds no expiry at all (S19), so the value is
  built and checked here before it is sent; `0000-00-00 00:00:00` is "no expiry".
* The account answer has no `end_date` (S9, S11; only portals with internal billing on report
  it) and never the password (it is stored hashed). What a read cannot show, the adapter says:
  `PanelLine.expires_at_known` is False and the expiry is the one we sent (or None on a read);
  the password is the one we sent (or "" on a read). Everything a read can show is read back
  after every write and compared: login, tariff, MAC, status.
* `status` is 1 = active, 0 = off (S12, S20); suspend and resume set it and read it back.
* Ministra has no connection limit, no trial flag and no bouquets: an account plays on its box
  (max_connections reads 1), a trial is a short `end_date`, and channels come with the tariff.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import httpx

from boxoffice.panels.adapters.base import (
    Bouquet,
    Capabilities,
    ConfigField,
    HealthReport,
    LineAccess,
    LineFacts,
    LineNotFound,
    LineSpec,
    Package,
    PanelConfig,
    PanelError,
    PanelLine,
    PermanentPanelError,
    TransientPanelError,
)
from boxoffice.panels.adapters.mac_accounts import MacAccountAdapter
from boxoffice.panels.adapters.ministra.access import DEFAULT_PORTAL_PATH, ministra_line_access
from boxoffice.panels.adapters.ministra.client import MinistraClient
from boxoffice.panels.adapters.values import normalized_mac

NO_EXPIRY = "0000-00-00 00:00:00"
END_DATE = re.compile(
    r"^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01]) ([01]\d|2[0-3]):[0-5]\d:[0-5]\d$"
)
# A login doubles as the account number in URL paths: no `/`, `,` (identifier lists) or `:`
# (a 12+ character id with a colon is read as a MAC).
SAFE_LOGIN = re.compile(r"^[A-Za-z0-9._@-]{1,50}$")

OPERATIONS = frozenset(
    {
        "create_line",
        "find_line",
        "get_line",
        "extend",
        "change_password",
        "end_trial",
        "change_plan",
        "suspend",
        "resume",
        "delete",
        "create_device",
        "line_activity",
        "health",
        "list_packages",
    }
)


class MinistraAdapter(MacAccountAdapter):
    kind = "ministra"
    label = "Ministra / Stalker"
    keep_between_calls = True  # a key or basic auth per request, no session
    # No set_connections (no such limit), no list_bouquets (channels come with the tariff).
    capabilities = Capabilities(operations=OPERATIONS, devices=True)
    config_fields = (
        ConfigField(
            "api_login",
            "API login",
            help="The portal's api_auth_login (server/custom.ini); empty if the API has no auth",
        ),
        ConfigField(
            "api_password",
            "API password",
            secret=True,
            help="The portal's api_auth_password. Stored encrypted. Leave empty to keep it.",
        ),
        ConfigField(
            "api_path",
            "API path",
            default="/stalker_portal/api/",
            help="Path of the REST API v1 under the API URL",
        ),
        ConfigField(
            "portal_path",
            "Portal path",
            default=DEFAULT_PORTAL_PATH,
            help="Path of the portal boxes load, under the public URL",
        ),
        ConfigField(
            "timezone",
            "Portal timezone",
            default="UTC",
            help="The portal's PHP timezone: end_date is its local time (e.g. Europe/Berlin)",
        ),
    )
    plan_fields = (
        ConfigField(
            "tariff_plan",
            "Tariff plan",
            required=True,
            help="The tariff plan's external id on the portal (as listed by tariffs), e.g. basic",
        ),
    )

    @classmethod
    def access(cls, config: PanelConfig, facts: LineFacts) -> LineAccess:
        return ministra_line_access(config, facts)

    def __init__(self, config: PanelConfig, *, transport: httpx.BaseTransport | None = None):
        super().__init__(config)
        self.client = MinistraClient(config, transport=transport)

    def close(self) -> None:
        self.client.close()

    # Creating ---------------------------------------------------------------------------------
    # (create_line and create_device come from MacAccountAdapter, which calls _create.)

    def _create(self, spec: LineSpec, *, mac: str) -> PanelLine:
        _check_login(spec.username)
        if not spec.password:
            raise PermanentPanelError("A Ministra account needs a password.", code="no_password")
        tariff = _tariff_of(spec.mapping)
        data = {
            "login": spec.username,
            "password": spec.password,
            "account_number": spec.username,
            "tariff_plan": tariff,
            "status": "1",
            "comment": spec.notes,
        }
        if mac:
            data["stb_mac"] = mac
        if spec.expires_at is not None:
            data["end_date"] = self._end_date(spec.expires_at)
        self.client.call("POST", "accounts", data=data, secrets=[spec.password])
        account = self._account(spec.username)
        problems = [
            name
            for name, wanted, stored in (
                ("login", spec.username, account.get("login")),
                ("tariff_plan", tariff, account.get("tariff_plan")),
                ("stb_mac", mac, account.get("stb_mac") or ""),
                ("status", 1, _int(account.get("status"))),
            )
            if wanted != stored
        ]
        if problems:
            raise PermanentPanelError(
                f"Ministra created account {spec.username} but stored a different "
                f"{', '.join(problems)} than sent; check it on the portal.",
                code="create_not_applied",
            )
        return self._line(account, sent_expiry=spec.expires_at, password=spec.password)

    # Reading ----------------------------------------------------------------------------------

    def find_line(self, username: str) -> PanelLine | None:
        self.require("find_line")
        if not username or not SAFE_LOGIN.match(username):
            return None
        try:
            found = self.client.call("GET", "users", username)
        except PermanentPanelError as exc:
            if "not found" in exc.message.lower():
                return None
            raise
        # Logins compare as the portal's database does (case-insensitively): ours is exact.
        if not isinstance(found, dict) or found.get("login") != username:
            return None
        return self._line(found)

    def find_device(self, mac: str) -> PanelLine | None:
        self.require("create_device")
        wanted = normalized_mac(mac)
        try:
            found = self.client.call("GET", "accounts", wanted)
        except LineNotFound:
            return None
        for account in found if isinstance(found, list) else []:
            if isinstance(account, dict) and str(account.get("stb_mac") or "").upper() == wanted:
                return self._line(account)
        return None

    def get_line(self, panel_line_id: str) -> PanelLine:
        self.require("get_line")
        return self._line(self._account(panel_line_id))

    # Changing ---------------------------------------------------------------------------------

    def extend(self, panel_line_id: str, expires_at: datetime | None) -> PanelLine:
        self.require("extend")
        return self._put(
            panel_line_id, {"end_date": self._end_date(expires_at)}, sent_expiry=expires_at
        )

    def end_trial(
        self, panel_line_id: str, *, expires_at: datetime | None, max_connections: int
    ) -> PanelLine:
        """A Ministra trial is a short end_date (there is no trial flag nor connection limit):
        ending it sets the paid expiry."""
        self.require("end_trial")
        return self._put(
            panel_line_id, {"end_date": self._end_date(expires_at)}, sent_expiry=expires_at
        )

    def change_password(self, panel_line_id: str, password: str) -> PanelLine:
        self.require("change_password")
        if not password:
            raise PermanentPanelError("A Ministra account needs a password.", code="no_password")
        return self._put(panel_line_id, {"password": password}, password=password)

    def change_plan(
        self,
        panel_line_id: str,
        *,
        max_connections: int,
        mapping: Mapping[str, Any],
        new_expiry: datetime | None = None,
    ) -> PanelLine:
        """The account's tariff (and a renewal's end_date) in one PUT; Ministra has no
        connection limit, so `max_connections` has nothing to change."""
        self.require("change_plan")
        tariff = _tariff_of(mapping)
        data = {"tariff_plan": tariff}
        if new_expiry is not None:
            data["end_date"] = self._end_date(new_expiry)
        return self._put(
            panel_line_id,
            data,
            sent_expiry=new_expiry,
            check=("tariff_plan", lambda a: a.get("tariff_plan") == tariff),
        )

    def set_connections(self, panel_line_id: str, max_connections: int) -> PanelLine:
        self.require("set_connections")  # no such limit on Ministra: refused, never faked
        raise AssertionError("unreachable")  # pragma: no cover

    def suspend(self, panel_line_id: str) -> PanelLine:
        self.require("suspend")
        return self._set_status(panel_line_id, 0)

    def resume(self, panel_line_id: str) -> PanelLine:
        self.require("resume")
        return self._set_status(panel_line_id, 1)

    def delete(self, panel_line_id: str) -> None:
        self.require("delete")
        self.client.call("DELETE", "accounts", _account_number(panel_line_id))

    # Panel ------------------------------------------------------------------------------------

    def list_bouquets(self) -> list[Bouquet]:
        self.require("list_bouquets")  # channels come with the tariff: see list_packages
        return []

    def list_packages(self) -> list[Package]:
        self.require("list_packages")
        tariffs = self.client.call("GET", "tariffs")
        if not isinstance(tariffs, list):
            raise TransientPanelError(
                "Ministra answered tariffs without a list of tariff plans.", code="bad_response"
            )
        packages = []
        for tariff in tariffs:
            if not isinstance(tariff, dict) or not tariff.get("external_id"):
                continue  # a plan without an external id cannot be named by the API
            packages.append(
                Package(
                    id=str(tariff["external_id"]),
                    name=str(tariff.get("name") or tariff["external_id"]),
                )
            )
        return packages

    def health(self) -> HealthReport:
        started = time.monotonic()
        try:
            tariffs = self.client.call("GET", "tariffs")
        except PanelError as exc:
            return HealthReport(ok=False, detail=str(exc), latency_ms=_since(started))
        count = len(tariffs) if isinstance(tariffs, list) else 0
        return HealthReport(
            ok=True, detail=f"REST API answers ({count} tariff plans)", latency_ms=_since(started)
        )

    # Internals --------------------------------------------------------------------------------

    def _account(self, panel_line_id: str) -> dict[str, Any]:
        number = _account_number(panel_line_id)
        found = self.client.call("GET", "accounts", number)
        accounts = [
            a
            for a in (found if isinstance(found, list) else [])
            if isinstance(a, dict) and str(a.get("account_number")) == number
        ]
        if not accounts:
            raise _not_found(number)
        if len(accounts) > 1:
            # account_number is not unique on the portal: someone gave another account ours.
            raise PermanentPanelError(
                f"Ministra has {len(accounts)} accounts with account number {number}; give the "
                "others another account number on the portal.",
                code="ambiguous_account_number",
            )
        return accounts[0]

    def _put(
        self,
        panel_line_id: str,
        data: dict[str, str],
        *,
        sent_expiry: datetime | None = None,
        password: str = "",
        check: tuple[str, Any] | None = None,
    ) -> PanelLine:
        number = _account_number(panel_line_id)
        self.client.call("PUT", "accounts", number, data=data, secrets=[password])
        account = self._account(number)
        if check is not None and not check[1](account):
            raise PermanentPanelError(
                f"Ministra accepted the change of account {number} but its {check[0]} did not "
                "change; check the account on the portal.",
                code="edit_not_applied",
            )
        return self._line(
            account, sent_expiry=sent_expiry, password=password, sent="end_date" in data
        )

    def _set_status(self, panel_line_id: str, status: int) -> PanelLine:
        number = _account_number(panel_line_id)
        return self._put(
            number,
            {"status": str(status)},
            check=("status", lambda a: _int(a.get("status")) == status),
        )

    def _zone(self) -> ZoneInfo:
        name = self.config.settings.get("timezone") or "UTC"
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            raise PermanentPanelError(
                f"The Ministra panel's timezone {name!r} is not a timezone name "
                "(like Europe/Berlin); fix it in the panel settings.",
                code="misconfigured",
            ) from None

    def _end_date(self, moment: datetime | None) -> str:
        """The portal's `end_date` for `moment`, checked: the portal answers OK to anything
        and stores no expiry for a malformed value (S19)."""
        if moment is None:
            return NO_EXPIRY
        if moment.tzinfo is None:
            raise ValueError("expires_at must be timezone-aware (the portal gets its local time)")
        text = moment.astimezone(self._zone()).strftime("%Y-%m-%d %H:%M:%S")
        if not END_DATE.match(text) or not 1970 <= int(text[:4]) <= 9999:
            raise PermanentPanelError(
                f"Expiry {moment.isoformat()} gives the portal a date it cannot store "
                f"({text!r}); nothing was sent.",
                code="invalid_end_date",
            )
        return text

    def _read_end_date(self, value: Any) -> datetime | None:
        text = str(value or "")
        if text in ("", NO_EXPIRY) or text.startswith("0000-00-00"):
            return None
        try:
            local = datetime.strptime(text, "%Y-%m-%d %H:%M:%S")  # noqa: DTZ007 (zone next)
        except ValueError:
            return None
        return local.replace(tzinfo=self._zone()).astimezone(UTC)

    def _line(
        self,
        account: dict[str, Any],
        *,
        sent_expiry: datetime | None = None,
        password: str = "",
        sent: bool = True,
    ) -> PanelLine:
        """A line from an account answer. The answer has no password and, unless the portal
        runs its internal billing, no end_date: then the expiry we sent stands in, marked as
        not known (`sent`: this call sent one)."""
        if "end_date" in account:
            expires_at, known = self._read_end_date(account.get("end_date")), True
        else:
            expires_at, known = (sent_expiry if sent else None), False
        return PanelLine(
            panel_line_id=str(account.get("account_number") or ""),
            username=str(account.get("login") or ""),
            password=password,
            max_connections=1,
            expires_at=expires_at,
            expires_at_known=known,
            enabled=_int(account.get("status")) == 1,
            notes=str(account.get("comment") or ""),
            active_connections=1 if str(account.get("online")) == "1" else 0,
            last_active_at=self._read_end_date(account.get("last_active")),
            mac=str(account.get("stb_mac") or "").upper(),
            package_id=str(account.get("tariff_plan") or ""),
        )


def _tariff_of(mapping: Mapping[str, Any]) -> str:
    tariff = str(mapping.get("tariff_plan") or "").strip()
    if not tariff:
        raise PermanentPanelError(
            "The plan has no Ministra tariff plan (its mapping's tariff_plan); set it to the "
            "tariff's external id.",
            code="no_tariff_plan",
        )
    return tariff


def _check_login(login: str) -> None:
    if not SAFE_LOGIN.match(login or ""):
        raise PermanentPanelError(
            "A Ministra login may only use letters, digits and . _ @ - (it is also the account "
            "number in API paths).",
            code="invalid_username",
        )


def _account_number(panel_line_id: Any) -> str:
    number = str(panel_line_id if panel_line_id is not None else "").strip()
    if not SAFE_LOGIN.match(number):
        raise _not_found(number)
    return number


def _not_found(number: str) -> LineNotFound:
    return LineNotFound(f"Ministra has no account number {number!r}.", code="account_not_found")


def _int(value: Any) -> int | None:
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return None


def _since(started: float) -> float:
    return round((time.monotonic() - started) * 1000, 1)
