"""OneStream (1-Stream) panels through the `/ext/` API, as a reseller: package-based lines.

Coded to `onestream.md`; **no answers of a real OneStream panel are recorded** (see client.py),
so every answer is checked for the fields this adapter needs and anything else is a
`bad_response`, never a guess. What shapes it:

* A plan maps to a panel package (`package`); the package carries the duration and what one
  sale costs in credits. Create and renew charge the `X-Auth-User` user's credits.
* `rid` guards against doing an action twice: every create sends one made from the line's
  username and our order reference, every renewal one made from the line and the expiry it is
  for, so a retry after a timeout is recognised by the panel and charged once.
* Lines answer with the panel's own `expire_at`; whether a renewal counts from the current
  expiry or from now is undocumented, so the returned expiry is what the line gets (it may
  differ from the one asked for: that is the package's duration speaking).
* Username and password are ours, always sent (the create answer may not echo them).
* A device (MAG) line is a line with `mac_addr`.
* No password, connection or plan edits: they need the admin-type `update-advanced`
  permission a reseller token does not have; the operation layer sends those to review.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import httpx
from django.utils.translation import gettext_lazy as _

from boxoffice.panels.adapters.base import (
    AccessItem,
    AccessSection,
    Bouquet,
    Capabilities,
    ConfigField,
    CreditBalance,
    HealthReport,
    LineAccess,
    LineFacts,
    LineNotFound,
    LinePage,
    LineSpec,
    Package,
    PanelConfig,
    PanelError,
    PanelLine,
    PermanentPanelError,
    TransientPanelError,
)
from boxoffice.panels.adapters.mac_accounts import MacAccountAdapter
from boxoffice.panels.adapters.onestream.client import OneStreamClient
from boxoffice.panels.adapters.values import normalized_mac

OPERATIONS = frozenset(
    {
        "create_line",
        "find_line",
        "get_line",
        "extend",
        "suspend",
        "resume",
        "delete",
        "create_device",
        "list_bouquets",
        "line_activity",
        "health",
        "credit_balance",
        "list_packages",
        "list_lines",
    }
)
PAGE_SIZE = 100
MAX_PAGES = 2000
SAFE_CREDENTIAL = re.compile(r"^[A-Za-z0-9._@-]{1,64}$")
_LINE_ID = re.compile(r"^[A-Za-z0-9-]{1,64}$")


class OneStreamAdapter(MacAccountAdapter):
    kind = "onestream"
    label = "OneStream"
    keep_between_calls = True  # a key or basic auth per request, no session
    capabilities = Capabilities(operations=OPERATIONS, devices=True)
    config_fields = (
        ConfigField(
            "api_key",
            "API key (X-Api-Key)",
            secret=True,
            help="The admin's API access token; this server's IP must be on its whitelist. "
            "Stored encrypted. Leave empty to keep it.",
        ),
        ConfigField(
            "auth_user",
            "User token (X-Auth-User)",
            secret=True,
            help="The reseller user's token: lines and credit charges are that user's. Needs "
            "showUserProfile, indexPackages, createLinesWithPackage, destroyLines, "
            "statusLineToggle, indexLines. Stored encrypted.",
        ),
        ConfigField(
            "low_credits",
            "Low-credit warning",
            kind="int",
            default=0,
            help="Warn when the user's credits fall below this (0: never)",
        ),
        ConfigField(
            "portal_path",
            "MAG portal path",
            default="/c/",
            help="Path of the portal MAG boxes load, under the public URL",
        ),
    )
    plan_fields = (
        ConfigField(
            "package",
            "Package",
            kind="int",
            required=True,
            help="The OneStream package id a sale of this plan uses (see the packages list)",
        ),
    )

    @classmethod
    def access(cls, config: PanelConfig, facts: LineFacts) -> LineAccess:
        base = config.public_url.rstrip("/")
        sections = []
        if facts.mac:
            portal = base + "/" + (config.settings.get("portal_path") or "/c/").strip("/") + "/"
            sections.append(
                AccessSection(
                    title=_("MAG / Formuler box"),
                    intro=_(
                        "Your box signs in with its MAC address; enter this portal address "
                        "on the box."
                    ),
                    items=(
                        AccessItem("mag_portal_url", _("Portal URL"), portal),
                        AccessItem("mac_address", _("MAC address"), facts.mac),
                    ),
                )
            )
        sections.append(
            AccessSection(
                title=_("Xtream Codes API (IPTV apps)"),
                items=(
                    AccessItem("server_url", _("Server URL"), base),
                    AccessItem("username", _("Username"), facts.username),
                    AccessItem("password", _("Password"), facts.password, secret=True),
                ),
            )
        )
        return LineAccess(
            sections=tuple(sections),
            hint=_("In an Xtream-codes app enter the username, password and server URL.")
            if not facts.mac
            else _("On your box, enter the portal URL; the box signs in with its MAC address."),
        )

    def __init__(self, config: PanelConfig, *, transport: httpx.BaseTransport | None = None):
        super().__init__(config)
        self.client = OneStreamClient(config, transport=transport)

    def close(self) -> None:
        self.client.close()

    # Creating ---------------------------------------------------------------------------------
    # (create_line and create_device come from MacAccountAdapter, which calls _create.)

    def _create(self, spec: LineSpec, *, mac: str) -> PanelLine:
        for name, value in (("username", spec.username), ("password", spec.password)):
            if not SAFE_CREDENTIAL.match(value or ""):
                raise PermanentPanelError(
                    f"The {name} may only use letters, digits and . _ @ - on OneStream.",
                    code=f"invalid_{name}",
                )
        package = _package_of(spec.mapping)
        body: dict[str, Any] = {
            "package": package,
            "username": spec.username,
            "password": spec.password,
            "reseller_notes": spec.notes,
            "max_connections": spec.max_connections,
            "rid": rid_for("create", spec.username, spec.notes),
        }
        if mac:
            body["mac_addr"] = mac
        answer = self.client.call("POST", "line/create", body=body, secrets=[spec.password])
        line_id = _answer_line_id(answer, "line/create")
        line = self._read_back(line_id, spec.username)
        if line.username != spec.username or line.password != spec.password:
            raise PermanentPanelError(
                f"OneStream created line {line_id} with other credentials than sent; fix the "
                "line on the panel.",
                code="credentials_altered",
            )
        return line

    # Reading ----------------------------------------------------------------------------------

    def find_line(self, username: str) -> PanelLine | None:
        self.require("find_line")
        if not username:
            return None
        rows = self.client.call("GET", "lines", params={"username": username})
        for row in _rows(rows):
            if row.get("username") == username:  # the filter may be loose: ours is exact
                return _to_line(row)
        return None

    def find_device(self, mac: str) -> PanelLine | None:
        self.require("create_device")
        wanted = normalized_mac(mac)
        return next((line for line in self._all_lines() if line.mac == wanted), None)

    def get_line(self, panel_line_id: str) -> PanelLine:
        """There is no read of one line by id: the line list is scanned (costly on a big
        panel; `find_line` by username is one call)."""
        self.require("get_line")
        wanted = _line_id(panel_line_id)
        for line in self._all_lines():
            if line.panel_line_id == wanted:
                return line
        raise _not_found(wanted)

    def list_lines(self, cursor: str | None = None, limit: int = PAGE_SIZE) -> LinePage:
        self.require("list_lines")
        page = int(cursor or 1)
        per_page = max(1, min(limit, 500))
        answer = self.client.call("GET", "lines/index", params={"page": page, "per_page": per_page})
        data = answer.get("data") if isinstance(answer, dict) else None
        items = data.get("items") if isinstance(data, dict) else None
        if not isinstance(data, dict) or not isinstance(items, list):
            raise TransientPanelError(
                "OneStream answered lines/index without data.items.", code="bad_response"
            )
        found = data.get("pagination")
        pagination: dict[str, Any] = found if isinstance(found, dict) else {}
        total = _int(pagination.get("total"))
        last = _int(pagination.get("last_page"))
        more = page < last if last is not None else len(items) >= per_page
        return LinePage(
            lines=tuple(_to_line(row) for row in items if isinstance(row, dict)),
            next_cursor=str(page + 1) if more and items else None,
            total=total,
        )

    # Changing ---------------------------------------------------------------------------------

    def extend(self, panel_line_id: str, expires_at: datetime | None) -> PanelLine:
        """A renewal by the line's package (charged). The panel decides the new expiry from the
        package's duration: the returned line carries it. The rid names the line and the expiry
        this renewal is for, so a retried renewal is charged once."""
        self.require("extend")
        line_id = _line_id(panel_line_id)
        if expires_at is None:
            self.get_line(line_id)  # an unknown line is LineNotFound first
            raise PermanentPanelError(
                "OneStream renews by package only; a line cannot be made unlimited through "
                "the reseller API.",
                code="unsupported_expiry",
            )
        rid = rid_for("renew", line_id, expires_at.astimezone(UTC).isoformat())
        answer = self.client.call(
            "POST", f"line/{line_id}/renew", body={"rid": rid}, line_path=True
        )
        _answer_line_id(answer, "renew")
        line = self.get_line(line_id)
        returned = _datetime(answer.get("expire_at"))
        if returned is not None and line.expires_at != returned:
            raise TransientPanelError(
                f"OneStream renewed line {line_id} to {returned.isoformat()} but lists it with "
                "another expiry; read again later.",
                code="bad_response",
            )
        return line

    def suspend(self, panel_line_id: str) -> PanelLine:
        self.require("suspend")
        return self._toggle(panel_line_id, enabled=False)

    def resume(self, panel_line_id: str) -> PanelLine:
        self.require("resume")
        return self._toggle(panel_line_id, enabled=True)

    def delete(self, panel_line_id: str) -> None:
        self.require("delete")
        line_id = _line_id(panel_line_id)
        self.client.call("POST", f"line/{line_id}/terminate", body={}, line_path=True)

    def change_password(self, panel_line_id: str, password: str) -> PanelLine:
        self.require("change_password")  # needs update-advanced (admin-type permission)
        raise AssertionError("unreachable")  # pragma: no cover

    def set_connections(self, panel_line_id: str, max_connections: int) -> PanelLine:
        self.require("set_connections")  # needs update-advanced (admin-type permission)
        raise AssertionError("unreachable")  # pragma: no cover

    # Panel ------------------------------------------------------------------------------------

    def credit_balance(self) -> CreditBalance:
        self.require("credit_balance")
        profile = self.client.call("GET", "profile")
        credits = _decimal(profile.get("credits") if isinstance(profile, dict) else None)
        if credits is None:
            raise TransientPanelError(
                "OneStream answered profile without a credit balance.", code="bad_response"
            )
        floor = int(self.config.settings.get("low_credits") or 0)
        detail = ""
        if floor and credits < floor:
            detail = f"{credits} credits left, below the warning level of {floor}"
        if credits <= 0:
            detail = "no credits left: new lines and renewals on this panel will fail"
        return CreditBalance(credits=credits, detail=detail)

    def list_packages(self) -> list[Package]:
        self.require("list_packages")
        packages = []
        for row in _rows(self.client.call("GET", "packages")):
            number = _int(row.get("id"))
            if number is None:
                continue
            hours = _int(row.get("duration_hours"))
            packages.append(
                Package(
                    id=str(number),
                    name=str(row.get("name") or f"Package {number}"),
                    credits=_decimal(row.get("price_credits")),
                    duration_days=hours // 24 if hours is not None else None,
                    max_connections=_int(row.get("max_connections")),
                    is_trial=str(row.get("package_type") or "").lower() == "trial",
                )
            )
        return packages

    def list_bouquets(self) -> list[Bouquet]:
        self.require("list_bouquets")
        bouquets = []
        for row in _rows(self.client.call("GET", "bouquets")):
            number = _int(row.get("id"))
            if number is not None:
                bouquets.append(Bouquet(id=number, name=str(row.get("name") or number)))
        return bouquets

    def health(self) -> HealthReport:
        started = time.monotonic()
        try:
            profile = self.client.call("GET", "profile")
        except PanelError as exc:
            return HealthReport(ok=False, detail=str(exc), latency_ms=_since(started))
        who = profile.get("name") if isinstance(profile, dict) else None
        detail = f"/ext/ API answers as {who}" if who else "/ext/ API answers"
        return HealthReport(ok=True, detail=detail, latency_ms=_since(started))

    # Internals --------------------------------------------------------------------------------

    def _all_lines(self) -> Iterator[PanelLine]:
        cursor: str | None = None
        for _page in range(MAX_PAGES):
            page = self.list_lines(cursor, PAGE_SIZE)
            yield from page.lines
            if page.next_cursor is None:
                return
            cursor = page.next_cursor

    def _read_back(self, line_id: str, username: str) -> PanelLine:
        found = self.find_line(username)
        if found is not None and found.panel_line_id == line_id:
            return found
        return self.get_line(line_id)

    def _toggle(self, panel_line_id: str, *, enabled: bool) -> PanelLine:
        line_id = _line_id(panel_line_id)
        action = "enable" if enabled else "disable"
        self.client.call("POST", f"line/{line_id}/{action}", body={}, line_path=True)
        line = self.get_line(line_id)
        if line.enabled is not enabled:
            raise PermanentPanelError(
                f"OneStream accepted {action} of line {line_id} but the line did not change; "
                "check it on the panel.",
                code="edit_not_applied",
            )
        return line


def rid_for(*parts: str) -> str:
    """A stable 32-hex-character request id for one business event (onestream.md: keep it
    short but collision-free)."""
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:32]


def _package_of(mapping: Any) -> int:
    package = mapping.get("package") if hasattr(mapping, "get") else None
    if isinstance(package, bool) or not isinstance(package, int) or package <= 0:
        raise PermanentPanelError(
            "The plan has no OneStream package (its mapping's package); set it to a package id.",
            code="no_package",
        )
    return package


def _answer_line_id(answer: Any, what: str) -> str:
    line_id = answer.get("line_id") if isinstance(answer, dict) else None
    if not line_id:
        raise TransientPanelError(
            f"OneStream answered {what} without a line_id; the line may exist: retry (the rid "
            "makes the retry safe).",
            code="bad_response",
        )
    return str(line_id)


def _line_id(panel_line_id: Any) -> str:
    text = str(panel_line_id if panel_line_id is not None else "").strip()
    if not _LINE_ID.match(text):
        raise _not_found(text)
    return text


def _not_found(line_id: str) -> LineNotFound:
    return LineNotFound(f"OneStream has no line {line_id!r}.", code="line_not_found")


def _rows(value: Any) -> list[dict[str, Any]]:
    if isinstance(value, dict) and isinstance(value.get("data"), list):
        value = value["data"]
    if not isinstance(value, list):
        raise TransientPanelError("OneStream answered without a list.", code="bad_response")
    return [row for row in value if isinstance(row, dict)]


def _to_line(row: dict[str, Any]) -> PanelLine:
    mac = str(row.get("mac_addr") or "").upper().replace("-", ":")
    return PanelLine(
        panel_line_id=str(row.get("line_id") or ""),
        username=str(row.get("username") or ""),
        password=str(row.get("password") or ""),
        max_connections=_int(row.get("max_connections")) or 1,
        expires_at=_datetime(row.get("expire_at")),  # null: unlimited
        bouquets=tuple(n for n in (_int(b) for b in row.get("bouquets") or []) if n is not None),
        enabled=row.get("is_enabled") in (True, 1, "1", "true"),
        notes=str(row.get("reseller_notes") or ""),
        is_trial=row.get("is_trial") in (True, 1, "1", "true"),
        mac=mac,
        package_id=str(row.get("package_id") or ""),
    )


def _datetime(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC)


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return None


def _decimal(value: Any) -> Decimal | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        return Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None


def _since(started: float) -> float:
    return round((time.monotonic() - started) * 1000, 1)
