"""XUI One through its Reseller API (an access code of type 4): lines sold from packages, paid
for in credits. Same URL, key and envelope as the Admin API (reference §1.6), so it reuses the
XUI One client, access details and row reading; what differs is how lines are made and renewed:

* `create_line` takes `package` (the plan's mapping) and `trial`; expiry, connections, bouquets
  and outputs come from the package, and the package's credits are deducted.
* Renewal is `edit_line package=…`: the panel adds the package's duration to the current expiry
  (from now if the line has expired) and deducts the credits again. A renewal whose answer was
  lost must not be bought twice, so the line is read back before every purchase.
* A reseller's `edit_line` keeps username and password when left out, but resets `contact`,
  `reseller_notes`, IP/UA restrictions and the ISP lock unless they are re-sent.
* A refusal for lack of credits is `STATUS_INSUFFICIENT_CREDITS` (`InsufficientCredits`).
"""

from __future__ import annotations

import math
import time
from dataclasses import replace
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any, ClassVar

from boxoffice.panels.adapters.base import (
    Capabilities,
    ConfigField,
    CreditBalance,
    HealthReport,
    LineSpec,
    Package,
    PanelError,
    PanelLine,
    PermanentPanelError,
    TransientPanelError,
)
from boxoffice.panels.adapters.values import int_or, seconds_or_none, since, str_list, unix_seconds
from boxoffice.panels.adapters.xui_one.access import URL_STYLES
from boxoffice.panels.adapters.xui_one.adapter import (
    XuiOneAdapter,
    _check_new_credential,
    _is_row,
    _line_id,
    _to_panel_line,
)

# Packages state their length as a number and a unit; PHP's strtotime adds calendar months.
UNIT_SECONDS = {
    "hours": 3600,
    "days": 86400,
    "weeks": 7 * 86400,
    "months": 30 * 86400,
    "years": 365 * 86400,
}
# One extend buys at most this many package periods (an operator's "extend to" a far date);
# beyond it the extend is refused before any credit is spent.
MAX_RENEWALS = 24
DEFAULT_LOW_CREDIT_SALES = 5

RESELLER_OPERATIONS = frozenset(
    {
        "create_line",
        "find_line",
        "get_line",
        "extend",
        "change_password",
        "suspend",
        "resume",
        "delete",
        "line_activity",
        "health",
        "credit_balance",
        "list_packages",
    }
)


def package_seconds(row: dict[str, Any], *, trial: bool = False) -> int | None:
    """How long one purchase of the package lasts (months counted as 30 days)."""
    prefix = "trial" if trial else "official"
    amount = int_or(row.get(f"{prefix}_duration"), None)
    unit = str(row.get(f"{prefix}_duration_in") or "").strip().lower()
    unit = unit if unit.endswith("s") else unit + "s"
    if amount is None or amount <= 0 or unit not in UNIT_SECONDS:
        return None
    return amount * UNIT_SECONDS[unit]


def _credits(value: Any) -> Decimal | None:
    try:
        number = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        return None
    return number if number.is_finite() else None


class XuiOneResellerAdapter(XuiOneAdapter):
    kind = "xui_one_reseller"
    label = "XUI One (reseller)"
    # No bouquets list, MAG devices, connection changes or plan changes through this API:
    # connections and bouquets come with the package, and changing the package is a purchase.
    capabilities = Capabilities(operations=RESELLER_OPERATIONS, devices=False)
    config_fields: ClassVar[tuple[ConfigField, ...]] = (
        ConfigField("access_code", "Access code", help="XUI One Reseller API access code (type 4)"),
        ConfigField(
            "api_key",
            "API key",
            secret=True,
            help="The reseller's API key. Stored encrypted. Leave empty to keep the current key.",
        ),
        ConfigField("m3u_style", "M3U style", kind="choice", choices=URL_STYLES, default="get_php"),
        ConfigField("epg_style", "EPG style", kind="choice", choices=URL_STYLES, default="get_php"),
        ConfigField(
            "low_credit_sales",
            "Low-credit alert (sales)",
            kind="int",
            default=DEFAULT_LOW_CREDIT_SALES,
            help="Alert the operator when the credits cover fewer than this many sales of the "
            "most expensive mapped package",
        ),
    )
    plan_fields: ClassVar[tuple[ConfigField, ...]] = (
        ConfigField(
            "package",
            "Package",
            kind="int",
            required=True,
            help="The reseller package id on this panel: its credits, duration, connections "
            "and bouquets come from the panel",
            invalid="package must be a package id (a whole number)",
        ),
    )

    # Lines ------------------------------------------------------------------------------------

    def create_line(self, spec: LineSpec) -> PanelLine:
        """One purchase of the plan's package (`spec.mapping["package"]`). The expiry and
        connections are the package's: `spec.expires_at`/`max_connections` are not sent."""
        self.require("create_line")
        _check_new_credential("username", spec.username)
        _check_new_credential("password", spec.password)
        package = spec.mapping.get("package")
        if package in (None, ""):
            raise PermanentPanelError(
                "The plan has no package on this reseller panel; map it to one of the panel's "
                "packages.",
                code="no_package",
            )
        data = [
            ("username", spec.username),
            ("password", spec.password),
            ("package", str(package)),
            # Resellers cannot write admin_notes: the order reference goes in reseller_notes.
            ("reseller_notes", spec.notes),
        ]
        if spec.is_trial:
            data.append(("trial", "1"))
        return self._send_create(spec, data)

    def extend(self, panel_line_id: str, expires_at: datetime | None) -> PanelLine:
        """Renew by the line's package until the line runs to `expires_at` (within half a
        package period, since the panel counts calendar months): usually one purchase.

        Exactly once per period: before each purchase the line is read, and a line that already
        runs that far (an earlier attempt whose answer was lost) is not renewed again."""
        self.require("extend")
        line_id = _line_id(panel_line_id)
        row = self._get_row(line_id)
        if expires_at is None:
            raise PermanentPanelError(
                "A reseller line cannot be made to never expire; it is renewed by package.",
                code="unsupported_expiry",
            )
        target = unix_seconds(expires_at) or 0
        package_id = str(row.get("package_id") or "").strip()
        period = self._package_period(package_id, line_id)
        half = period // 2
        for bought in range(MAX_RENEWALS + 1):
            current = seconds_or_none(row.get("exp_date"))
            if current is None or current >= target - half:
                if current is not None and bought == 0 and current > target + half:
                    raise PermanentPanelError(
                        f"Line {line_id} runs until later than asked; the reseller API cannot "
                        "shorten a line.",
                        code="cannot_shorten",
                    )
                return self._line_from_row(row)
            if bought == 0:
                base = max(current, math.floor(time.time()))
                needed = math.ceil((target - half - base) / period)
                if needed > MAX_RENEWALS:
                    raise PermanentPanelError(
                        f"Extending line {line_id} that far takes {needed} purchases of package "
                        f"{package_id}; at most {MAX_RENEWALS} are made at once.",
                        code="too_many_renewals",
                    )
            row = self._renew_once(line_id, row, package_id)
        raise PermanentPanelError(  # pragma: no cover - bounded by the check above
            f"Line {line_id} was renewed {MAX_RENEWALS} times and is still short.",
            code="too_many_renewals",
        )

    # Credits and packages ---------------------------------------------------------------------

    def credit_balance(self) -> CreditBalance:
        self.require("credit_balance")
        user = self._user_info()
        credits = _credits(user.get("credits"))
        if credits is None:
            raise TransientPanelError(
                "XUI One answered user_info without a credit balance.", code="bad_response"
            )
        return CreditBalance(credits=credits)

    def list_packages(self) -> list[Package]:
        self.require("list_packages")
        return [self._package_of(row) for row in self._package_rows()]

    def health(self) -> HealthReport:
        started = time.monotonic()
        try:
            user = self._user_info()
        except PanelError as exc:
            return HealthReport(ok=False, detail=str(exc), latency_ms=since(started))
        who = user.get("username") or "the reseller"
        return HealthReport(
            ok=True,
            detail=f"Reseller API answers as {who} ({user.get('credits', '?')} credits)",
            latency_ms=since(started),
        )

    # Internals --------------------------------------------------------------------------------

    def _user_info(self) -> dict[str, Any]:
        body = self.client.call("user_info")
        user = body.get("data") if isinstance(body, dict) else None
        if not isinstance(user, dict):
            raise TransientPanelError(
                "XUI One answered user_info without the account.", code="bad_response"
            )
        return user

    def _package_rows(self) -> list[dict[str, Any]]:
        body = self.client.call("packages")
        rows = body.get("data") if isinstance(body, dict) else body
        if not isinstance(rows, list):
            raise TransientPanelError(
                "XUI One answered packages without a list of packages.", code="bad_response"
            )
        return [row for row in rows if isinstance(row, dict) and row.get("id") is not None]

    @staticmethod
    def _package_of(row: dict[str, Any]) -> Package:
        seconds = package_seconds(row)
        return Package(
            id=str(row.get("id")),
            name=str(row.get("package_name") or f"Package {row.get('id')}"),
            credits=_credits(row.get("official_credits")),
            duration_days=math.ceil(seconds / 86400) if seconds else None,
            max_connections=int_or(row.get("max_connections"), None),
            is_trial=int_or(row.get("is_trial"), 0) == 1,
        )

    def _package_period(self, package_id: str, line_id: str) -> int:
        if not package_id or package_id == "0":
            raise PermanentPanelError(
                f"Line {line_id} has no package on the panel, so the reseller API cannot renew "
                "it; renew it on the panel.",
                code="no_package",
            )
        for row in self._package_rows():
            if str(row.get("id")) == package_id:
                seconds = package_seconds(row)
                if seconds:
                    return seconds
        raise PermanentPanelError(
            f"Package {package_id} of line {line_id} is not offered to this reseller any more; "
            "renew the line on the panel or map the plan to another package.",
            code="STATUS_INVALID_PACKAGE",
        )

    def _renew_once(self, line_id: str, stored: dict[str, Any], package_id: str) -> dict:
        fields, lists = self._edit_form(stored)
        data = [("id", line_id), ("package", package_id), *fields.items()]
        data += [(name, value) for name, values in lists.items() for value in values]
        body = self.client.call("edit_line", data, secrets=[str(stored.get("password") or "")])
        after = body.get("data")
        if not _is_row(after):
            after = self._get_row(line_id)
        before_exp = seconds_or_none(stored.get("exp_date")) or 0
        after_exp = seconds_or_none(after.get("exp_date")) or 0
        lost = [n for n in ("username", "password") if str(after.get(n)) != str(stored.get(n))]
        if after_exp <= before_exp or lost:
            what = f"{', '.join(lost)} changed" if lost else "the expiry did not move"
            raise PermanentPanelError(
                f"XUI One accepted the renewal of line {line_id} but {what}; check the line and "
                "the credits on the panel before retrying.",
                code="edit_not_applied",
            )
        return after

    def _edit_form(self, row: dict[str, Any]) -> tuple[dict[str, str], dict[str, list[str]]]:
        """What a reseller edit_line resets unless re-sent (username and password are kept
        when left out, so they are not sent)."""
        fields: dict[str, str] = {"isp_clear": "1"}  # "" would wipe the ISP lock's data
        for name in ("member_id", "contact", "reseller_notes"):
            if row.get(name) is not None:
                fields[name] = str(row[name])
        for flag in ("bypass_ua", "is_isplock"):
            if int_or(row.get(flag), 0) == 1:
                fields[flag] = "1"
        lists = {
            "allowed_ips[]": str_list(row.get("allowed_ips")),
            "allowed_ua[]": str_list(row.get("allowed_ua")),
        }
        return fields, lists

    def _line_from_row(self, row: dict[str, Any]) -> PanelLine:
        line = _to_panel_line(row)
        return replace(
            line,
            notes=str(row.get("reseller_notes") or ""),
            package_id=str(row.get("package_id") or ""),
        )
