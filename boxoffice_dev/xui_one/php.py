"""Just enough PHP (and MySQL) semantics to reproduce what XUI.one does with a request.

XUI is PHP: form keys like ``access_output[]`` become arrays, every value is cleaned
(``stripslashes``, ``trim``), ``isset``/``empty``/``intval`` decide what a field means, and
``new DateTime($value)`` decides which expiry strings are accepted. The emulator must get those
details right because they are exactly where a client goes wrong against the real panel.

PHP arrays are represented as ``dict`` (insertion ordered, int or str keys); strings stay ``str``.
Stdlib only: this package must run without Django.
"""

from __future__ import annotations

import calendar
import html
import json
import math
import re
import secrets
import urllib.parse
from datetime import UTC, datetime, timedelta
from typing import Any

PhpValue = Any  # str | dict[int | str, PhpValue] | None (ints after intval)


class PhpFatalError(Exception):
    """A PHP 8 TypeError/Error: the real panel dies and nginx answers HTTP 500 with an empty body."""


# --- request parsing (php_register_variable + XUI's parseIncomingRecursively) -------------

_INT_KEY = re.compile(r"^(0|-?[1-9][0-9]*)$")


def _norm_key(key: str) -> int | str:
    # PHP turns canonical decimal string keys into integer keys.
    if _INT_KEY.match(key) and abs(int(key)) < 2**63:
        return int(key)
    return key


def _next_index(array: dict) -> int:
    ints = [k for k in array if isinstance(k, int)]
    return max(ints) + 1 if ints and max(ints) >= 0 else 0


def _split_php_key(raw: str) -> tuple[str, list[str]] | None:
    key = raw.lstrip(" ")
    bracket = key.find("[")
    if bracket <= 0 or "]" not in key[bracket:]:
        base = key
        subkeys: list[str] = []
    else:
        base = key[:bracket]
        subkeys = re.findall(r"\[([^\]]*)\]", key[bracket:])
    # PHP replaces "." and " " (and an unmatched "[") in the base name with "_".
    base = base.replace(".", "_").replace(" ", "_").replace("[", "_")
    if not base:
        return None
    return base, subkeys


def parse_php_query(query: str) -> dict:
    """Parse ``a=1&b[]=2&c[x]=3`` the way PHP fills ``$_GET``/``$_POST``."""
    result: dict = {}
    for raw_key, value in urllib.parse.parse_qsl(query, keep_blank_values=True):
        split = _split_php_key(raw_key)
        if split is None:
            continue
        base, subkeys = split
        if not subkeys:
            result[base] = value
            continue
        node = result.get(base)
        if not isinstance(node, dict):
            node = {}
            result[base] = node
        for position, sub in enumerate(subkeys):
            last = position == len(subkeys) - 1
            key: int | str = _next_index(node) if sub == "" else _norm_key(sub)
            if last:
                node[key] = value
            else:
                child = node.get(key)
                if not isinstance(child, dict):
                    child = {}
                    node[key] = child
                node = child
    return result


def merge_request(get: dict, post: dict) -> dict:
    """``$_REQUEST`` with request_order "GP": POST wins, top level only."""
    merged = dict(get)
    merged.update(post)
    return merged


def stripslashes(value: str) -> str:
    out = []
    chars = iter(value)
    for char in chars:
        if char == "\\":
            nxt = next(chars, None)
            if nxt is None:
                break
            out.append("\0" if nxt == "0" else nxt)
        else:
            out.append(char)
    return "".join(out)


_PHP_TRIM = " \t\n\r\0\x0b"


def clean_value(value: str) -> str:
    """XUI ``CoreUtilities::parseCleanValue`` (what every request value goes through)."""
    if value == "":
        return ""
    value = stripslashes(value).replace("&#032;", " ")
    value = value.replace("\r\n", "\n").replace("\n\r", "\n").replace("\r", "\n")
    value = value.replace("<!--", "&#60;&#33;--").replace("-->", "--&#62;")
    value = re.sub("<script", "&#60;script", value, flags=re.IGNORECASE)
    value = re.sub(r"&amp;#([0-9]+);", r"&#\1;", value)
    value = re.sub(r"&#(\d+?)([^\d;])", r"&#\1;\2", value)
    return value.strip(_PHP_TRIM)


def clean_key(key: int | str) -> int | str:
    if not isinstance(key, str) or key == "":
        return key
    key = html.escape(urllib.parse.unquote_plus(key), quote=True).replace("&#x27;", "&#039;")
    key = key.replace("..", "")
    return re.sub(r"__(.+?)__", "", key)


def clean_request(data: dict, depth: int = 0) -> dict:
    """XUI ``parseIncomingRecursively``: scalars get key and value cleaned, arrays recurse."""
    cleaned: dict = {}
    if depth >= 20:
        return cleaned
    for key, value in data.items():
        if isinstance(value, dict):
            cleaned[key] = clean_request(value, depth + 1)
        else:
            cleaned[clean_key(key)] = clean_value(value)
    return cleaned


# --- PHP value semantics ----------------------------------------------------------------

_LEADING_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")


def intval(value: PhpValue) -> int:
    if value is None:
        return 0
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return 0 if math.isnan(value) or math.isinf(value) else int(value)
    if isinstance(value, dict | list):
        return 1 if value else 0
    match = _LEADING_NUMBER.match(str(value).lstrip(" \t\n\r\x0b\x0c"))
    if not match:
        return 0
    text = match.group(0)
    try:
        if "." in text or "e" in text.lower():
            number = float(text)
            return 0 if math.isinf(number) else int(number)
        return int(text)
    except ValueError:
        return 0


def is_numeric(value: PhpValue) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int | float):
        return True
    if not isinstance(value, str):
        return False
    return bool(
        re.fullmatch(
            r"[ \t\n\r\x0b\x0c]*[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?[ \t\n\r\x0b\x0c]*", value
        )
    )


def empty(value: PhpValue) -> bool:
    return value is None or value in ("", "0", 0, 0.0, False) or value == {} or value == []


def truthy(value: PhpValue) -> bool:
    return not empty(value)


def strlen(value: PhpValue) -> int:
    if value is None:
        return 0  # PHP 8.1: deprecation notice, treated as ""
    if isinstance(value, dict | list):
        raise PhpFatalError("strlen(): Argument #1 ($string) must be of type string, array given")
    return len(str(value).encode("utf-8"))


def loose_equals(value: PhpValue, number: int) -> bool:
    """PHP 8 ``$value == $number`` for an int right-hand side (array_search without strict)."""
    if isinstance(value, bool):
        return value == bool(number)
    if value is None:
        return number == 0
    if isinstance(value, int | float):
        return value == number
    if isinstance(value, str):
        if is_numeric(value):
            return float(value) == number
        return value == str(number)
    return False


def json_decode(value: PhpValue) -> PhpValue:
    """``json_decode($value, true)``: None on invalid JSON; TypeError for an array argument."""
    if isinstance(value, dict | list):
        raise PhpFatalError(
            "json_decode(): Argument #1 ($json) must be of type string, array given"
        )
    if value is None or value == "":
        return None

    def _reject(constant: str) -> None:
        raise ValueError(constant)

    try:
        return json.loads(str(value), parse_constant=_reject)
    except (ValueError, RecursionError):
        return None


def array_values(value: PhpValue) -> list:
    if isinstance(value, list):
        return list(value)
    if isinstance(value, dict):
        return list(value.values())
    kind = "null" if value is None else type(value).__name__
    raise PhpFatalError(f"array_values(): Argument #1 ($array) must be of type array, {kind} given")


def sort_array_by_array(values: list, order: list[int]) -> list:
    """XUI ``sortArrayByArray``, including its ``$ordered + $rest`` union that can drop ids."""
    remaining = dict(enumerate(values))
    ordered: list = []
    for wanted in order:
        found = next((k for k, v in remaining.items() if loose_equals(v, wanted)), None)
        if found is not None:
            ordered.append(wanted)
            del remaining[found]
    result = dict(enumerate(ordered))
    for key, value in remaining.items():
        result.setdefault(key, value)
    return list(result.values())


def to_json_ready(value: PhpValue) -> Any:
    """PHP arrays with keys 0..n-1 (in order) encode as JSON lists, others as objects."""
    if isinstance(value, dict):
        if list(value.keys()) == list(range(len(value))):
            return [to_json_ready(v) for v in value.values()]
        return {str(k): to_json_ready(v) for k, v in value.items()}
    if isinstance(value, list):
        return [to_json_ready(v) for v in value]
    return value


def json_encode(value: Any, *, escape_slashes: bool = True) -> str:
    """PHP ``json_encode`` default flags: ``\\/`` and ``\\uXXXX`` escapes, no spaces."""
    text = json.dumps(to_json_ready(value), separators=(",", ":"), ensure_ascii=True)
    return text.replace("/", "\\/") if escape_slashes else text


def generate_string(length: int = 10) -> str:
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789qwertyuiopasdfghjklzxcvbnm"
    return "".join(secrets.choice(alphabet) for _ in range(length))


# --- MySQL bits -------------------------------------------------------------------------


def mysql_int(value: PhpValue) -> int | None:
    """What an INT column stores for a bound string (non-strict sql_mode: leading number)."""
    if value is None:
        return None
    if isinstance(value, bool | int):
        return int(value)
    match = re.match(r"[+-]?\d+", str(value).lstrip())
    return int(match.group(0)) if match else 0


def mysql_like(pattern: str, text: str | None) -> bool:
    """``text LIKE pattern`` with a case-insensitive collation; % and _ are wildcards."""
    if text is None:
        return False
    regex = []
    chars = iter(pattern)
    for char in chars:
        if char == "\\":
            nxt = next(chars, "\\")
            regex.append(re.escape(nxt))
        elif char == "%":
            regex.append(".*")
        elif char == "_":
            regex.append(".")
        else:
            regex.append(re.escape(char))
    return re.fullmatch("".join(regex), text, flags=re.IGNORECASE | re.DOTALL) is not None


def from_unixtime(seconds: int | str | None) -> str | None:
    if seconds is None:
        return None
    return datetime.fromtimestamp(int(seconds), UTC).strftime("%Y-%m-%d %H:%M:%S")


# --- PHP DateTime (the subset a billing client plausibly sends) --------------------------

_ABSOLUTE = re.compile(
    r"(?P<y>\d{4})[-/](?P<mo>\d{1,2})[-/](?P<d>\d{1,2})"
    r"(?:[t ]+(?P<h>\d{1,2}):(?P<mi>\d{2})(?::(?P<s>\d{2})(?:\.\d+)?)?)?"
    r"(?:\s*(?P<tz>z|utc|gmt|[+-]\d{2}:?\d{2}))?"
)
_KEYWORD = re.compile(r"(?P<kw>now|today|midnight|tomorrow|yesterday)\b")
_RELATIVE = re.compile(
    r"(?:(?P<n>[+-]?\s*\d+)|(?P<word>next|last|previous))\s*"
    r"(?P<unit>secs?|seconds?|mins?|minutes?|hours?|days?|weeks?|fortnights?|months?|years?)\b"
)
_UNIT_SECONDS = {"sec": 1, "second": 1, "min": 60, "minute": 60, "hour": 3600}
_UNIT_DAYS = {"day": 1, "week": 7, "fortnight": 14}


def _unit_name(unit: str) -> str:
    return unit[:-1] if unit.endswith("s") and unit not in ("secs",) else unit.rstrip("s")


def parse_php_datetime(text: str, now: datetime | None = None) -> int:
    """Unix seconds for ``new DateTime($text)`` in UTC, or ValueError where PHP would throw.

    Accepted: ``@<unix>``; ``YYYY-MM-DD[ HH:MM[:SS]]`` (also ``/`` and ``T``, optional zone);
    ``now``/``today``/``midnight``/``tomorrow``/``yesterday``; relative items such as
    ``+1 month`` (optionally after a date). A bare number such as ``1735689600`` is rejected
    exactly like PHP does. Day overflow (``2025-02-31``) rolls over like PHP.
    """
    now = now or datetime.now(UTC)
    value = text.strip().lower()
    stamp = re.fullmatch(r"@(-?\d+)(?:\.\d+)?", value)
    if stamp:
        return int(stamp.group(1))
    if not value:
        raise ValueError("empty date")

    year, month, day = now.year, now.month, now.day
    hour, minute, second = now.hour, now.minute, now.second
    offset = 0
    rest = value
    consumed_any = False

    absolute = _ABSOLUTE.match(rest)
    if absolute:
        year, month, day = int(absolute["y"]), int(absolute["mo"]), int(absolute["d"])
        if not (1 <= month <= 12 and 0 <= day <= 31):
            raise ValueError(f"invalid date {text!r}")
        hour = int(absolute["h"] or 0)
        minute = int(absolute["mi"] or 0)
        second = int(absolute["s"] or 0)
        if hour > 24 or minute > 59 or second > 60:
            raise ValueError(f"invalid time {text!r}")
        zone = absolute["tz"]
        if zone and zone not in ("z", "utc", "gmt"):
            sign = -1 if zone[0] == "-" else 1
            digits = zone[1:].replace(":", "")
            offset = sign * (int(digits[:2]) * 3600 + int(digits[2:]) * 60)
        rest = rest[absolute.end() :]
        consumed_any = True
    else:
        keyword = _KEYWORD.match(rest)
        if keyword:
            kw = keyword["kw"]
            if kw != "now":
                hour = minute = second = 0
                shift = {"tomorrow": 1, "yesterday": -1}.get(kw, 0)
                base = datetime(year, month, day, tzinfo=UTC) + timedelta(days=shift)
                year, month, day = base.year, base.month, base.day
            rest = rest[keyword.end() :]
            consumed_any = True

    add_months = add_days = add_seconds = 0
    rest = rest.strip()
    while rest:
        item = _RELATIVE.match(rest)
        if not item:
            raise ValueError(f"unparseable date {text!r}")
        if item["n"] is not None:
            amount = int(item["n"].replace(" ", ""))
        else:
            amount = 1 if item["word"] == "next" else -1
        unit = _unit_name(item["unit"])
        if unit == "month":
            add_months += amount
        elif unit == "year":
            add_months += 12 * amount
        elif unit in _UNIT_DAYS:
            add_days += amount * _UNIT_DAYS[unit]
        else:
            add_seconds += amount * _UNIT_SECONDS[unit]
        rest = rest[item.end() :].strip()
        consumed_any = True
    if not consumed_any:
        raise ValueError(f"unparseable date {text!r}")

    month_index = (year * 12 + (month - 1)) + add_months
    year, month = divmod(month_index, 12)
    month += 1
    if not 1 <= year <= 9999:
        raise ValueError(f"date out of range {text!r}")
    moment = datetime(year, month, 1, tzinfo=UTC) + timedelta(
        days=day - 1 + add_days, hours=hour, minutes=minute, seconds=second + add_seconds
    )
    return calendar.timegm(moment.utctimetuple()) - offset
