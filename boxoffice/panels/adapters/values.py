"""Reading and writing the loose values panels exchange: PHP-ish numbers ("5", 5.0, "", null),
JSON-or-comma lists, Unix seconds, MAC addresses. Shared by the kinds so each reads a panel's
row the same way; nothing here knows a particular panel."""

from __future__ import annotations

import json
import math
import re
import time
from datetime import UTC, datetime
from typing import Any

from boxoffice.panels.adapters.base import PermanentPanelError

MAC = re.compile(r"^[0-9A-F]{2}([:-]?)[0-9A-F]{2}(\1[0-9A-F]{2}){4}$")


def unix_seconds(moment: datetime | None) -> int | None:
    if moment is None:
        return None
    if moment.tzinfo is None:
        raise ValueError("expires_at must be timezone-aware (XUI gets absolute UTC seconds)")
    return math.floor(moment.timestamp())


def json_ints(numbers: Any) -> str:
    return json.dumps([int(n) for n in numbers], separators=(",", ":"))


def normalized_mac(value: str, *, code: str = "invalid_mac") -> str:
    """00:1A:79:12:34:56, the form panels store and boxes report; `code` is the refusal's."""
    text = (value or "").strip().upper()
    if not MAC.match(text):
        raise PermanentPanelError(
            f"{value!r} is not a MAC address (like 00:1A:79:12:34:56).", code=code
        )
    digits = re.sub(r"[^0-9A-F]", "", text)
    return ":".join(digits[i : i + 2] for i in range(0, 12, 2))


def int_or(value: Any, default: Any) -> Any:
    """`value` as an int when it reads as a (finite) number, else `default`."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float) and math.isfinite(value):
        return int(value)
    if isinstance(value, str):
        text = value.strip()
        try:
            return int(text)
        except ValueError:
            try:
                number = float(text)
            except ValueError:
                return default
            return int(number) if math.isfinite(number) else default
    return default


def seconds_or_none(value: Any) -> int | None:
    # null means "never expires"; "" and "0" are what hand-edited or imported rows hold, and the
    # panel's own tables show them as unlimited too.
    seconds = int_or(value, None)
    return seconds if seconds is not None and seconds > 0 else None


def utc_datetime(seconds: int | None) -> datetime | None:
    if seconds is None:
        return None
    try:
        return datetime.fromtimestamp(seconds, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return None


def json_list(value: Any) -> list[Any]:
    if isinstance(value, list):
        return value
    if isinstance(value, str) and value.strip():
        try:
            decoded = json.loads(value)
        except ValueError:
            return [part for part in value.strip("[]").split(",") if part.strip()]
        if isinstance(decoded, list):
            return decoded
    return []


def int_list(value: Any) -> list[int]:
    numbers = (int_or(item, None) for item in json_list(value))
    return [n for n in numbers if n is not None]


def str_list(value: Any) -> list[str]:
    return [str(item) for item in json_list(value) if item is not None and str(item) != ""]


def since(started: float) -> float:
    """Milliseconds since `started` (a time.monotonic()), for health answers."""
    return round((time.monotonic() - started) * 1000, 1)
