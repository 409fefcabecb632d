"""The emulated XUI.one panel's schema: the `lines` columns and their defaults, the admin and
reseller accounts, the packages, and the small value helpers the API actions share."""

from __future__ import annotations

import re
from typing import Any

from . import php

# `lines` columns with their effective defaults (what verifyPostTable fills in on create).
LINE_COLUMNS: dict[str, Any] = {
    "id": None,
    "member_id": None,
    "username": "",
    "password": "",
    "last_ip": None,
    "exp_date": None,
    "admin_enabled": 1,
    "enabled": 1,
    "admin_notes": None,
    "reseller_notes": None,
    "bouquet": "",
    "allowed_outputs": "",
    "max_connections": 1,
    "is_restreamer": 0,
    "is_trial": 0,
    "is_mag": 0,
    "is_e2": 0,
    "is_stalker": 0,
    "is_isplock": 0,
    "allowed_ips": None,
    "allowed_ua": None,
    "created_at": None,
    "pair_id": None,
    "force_server_id": 0,
    "as_number": None,
    "isp_desc": None,
    "forced_country": None,
    "bypass_ua": 0,
    "play_token": None,
    "last_expiration_video": None,
    "package_id": None,
    "access_token": None,
    "contact": None,
    "last_activity": None,
    "last_activity_array": None,
    "updated": None,
}
INT_COLUMNS = frozenset(
    {
        "id",
        "member_id",
        "exp_date",
        "admin_enabled",
        "enabled",
        "max_connections",
        "is_restreamer",
        "is_trial",
        "is_mag",
        "is_e2",
        "is_stalker",
        "is_isplock",
        "created_at",
        "pair_id",
        "force_server_id",
        "bypass_ua",
        "last_expiration_video",
        "package_id",
        "last_activity",
        "updated",
    }
)
# Not `lines` columns in the real schema (table.php computes them), kept on every row here so
# tests and the adapter's activity check have them.
COMPUTED_FIELDS: dict[str, Any] = {"last_active": None, "active_connections": "0"}

# Columns table.php selects for get_lines, then the per-line info it merges in.
TABLE_COLUMNS = (
    "id",
    "member_id",
    "last_activity",
    "last_activity_array",
    "username",
    "password",
    "exp_date",
    "admin_enabled",
    "is_restreamer",
    "enabled",
    "admin_notes",
    "reseller_notes",
    "max_connections",
    "is_trial",
    "active_connections",
)
# In the recorded get_lines rows these come back as the number 0 when unset (and as strings
# otherwise: "is_restreamer":"1"), and an empty table's counts are the number 0.
TABLE_ZERO_AS_NUMBER = ("is_restreamer", "is_trial", "active_connections")
PRESENCE_FLAGS = ("is_stalker", "is_restreamer", "is_trial", "is_isplock", "bypass_ua")

DEFAULT_BOUQUETS = [
    {"id": 1, "bouquet_name": "Entertainment"},
    {"id": 2, "bouquet_name": "Sports"},
    {"id": 3, "bouquet_name": "Movies"},
    {"id": 4, "bouquet_name": "Kids"},
    {"id": 5, "bouquet_name": "News"},
]

ADMIN_ID = 1
ADMIN_USERNAME = "admin"

# The reseller of the Reseller API (access code type 4), as in the recorded probes.
RESELLER_ID = 2
RESELLER_USERNAME = "reseller1"
RESELLER_GROUP = 2
RESELLER_CREDITS = 100

# Packages as the recorded `packages` answer shows them (R0), plus a longer one for two lines.
DEFAULT_PACKAGES = [
    {
        "id": "1",
        "package_name": "1 Month",
        "is_addon": 0,
        "is_trial": "1",
        "is_official": "1",
        "trial_credits": 0,
        "official_credits": 10,
        "trial_duration": "24",
        "trial_duration_in": "hours",
        "official_duration": "1",
        "official_duration_in": "months",
        "groups": "[2]",
        "bouquets": "[1,2]",
        "addon_packages": "[]",
        "is_line": "1",
        "is_mag": "1",
        "is_e2": 0,
        "is_restreamer": 0,
        "is_isplock": 0,
        "output_formats": "[1,2]",
        "max_connections": "1",
        "force_server_id": 0,
        "forced_country": None,
        "lock_device": "1",
        "check_compatible": "1",
    },
    {
        "id": "2",
        "package_name": "3 Months, 2 screens",
        "is_addon": 0,
        "is_trial": 0,
        "is_official": "1",
        "trial_credits": 0,
        "official_credits": 25,
        "trial_duration": "0",
        "trial_duration_in": "hours",
        "official_duration": "3",
        "official_duration_in": "months",
        "groups": "[2]",
        "bouquets": "[1,2,3]",
        "addon_packages": "[]",
        "is_line": "1",
        "is_mag": "1",
        "is_e2": 0,
        "is_restreamer": 0,
        "is_isplock": 0,
        "output_formats": "[1,2]",
        "max_connections": "2",
        "force_server_id": 0,
        "forced_country": None,
        "lock_device": "1",
        "check_compatible": "1",
    },
]
# ResellerAPI::processData('line', …): the only request keys a reseller's line edit reads.
RESELLER_LINE_KEYS = (
    "edit",
    "trial",
    "bouquets_selected",
    "pair_id",
    "username",
    "password",
    "member_id",
    "package",
    "contact",
    "reseller_notes",
    "allowed_ips",
    "allowed_ua",
    "bypass_ua",
    "is_isplock",
    "isp_clear",
)
RESELLER_MIN_LENGTH = 8  # the Resellers group's minimum_username_length / _password_length


def _failure(status: str = "STATUS_FAILURE", data: Any = None, error: str | None = None) -> dict:
    body: dict[str, Any] = {"status": status}
    if error is not None:
        body["error"] = error
    if data is not None:
        body["data"] = data
    return body


def _db_value(column: str, value: Any) -> str | None:
    """prepareArray + MySQL: 'null' strings become NULL, INT columns keep their leading number."""
    if isinstance(value, dict | list):
        value = php.json_encode(value, escape_slashes=False)
    if value is None or (isinstance(value, str) and value.lower() == "null"):
        return None
    if column in INT_COLUMNS:
        return str(php.mysql_int(value))
    return str(value)


_MAC_FORMS = (
    re.compile(r"^[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){5}$"),
    re.compile(r"^[0-9A-Fa-f]{2}(-[0-9A-Fa-f]{2}){5}$"),
    re.compile(r"^[0-9A-Fa-f]{4}(\.[0-9A-Fa-f]{4}){2}$"),
)


def _valid_mac(value: str) -> bool:
    """PHP FILTER_VALIDATE_MAC: 00:1A:79:…, 00-1A-79-… or 001A.79xx.xxxx."""
    return any(form.match(value) for form in _MAC_FORMS)


def filter_row(row: dict | None, show: list[str] | None, hide: list[str] | None) -> Any:
    """APIWrapper::filterRow for a bare row (show wins over hide)."""
    if not (show or hide):
        return row
    if not row:
        return []
    if show:
        return {k: v for k, v in row.items() if k in show}
    return {k: v for k, v in row.items() if k not in (hide or [])}
