"""A OneStream (1-Stream) `/ext/` API for development and tests.

**Not a replay of recordings: no answers of a real OneStream panel have been recorded.** It
follows the reference (`onestream.md`: endpoints, fields, token headers, `rid`, credits), and
where the reference is silent it makes a choice, marked [INFER], that the adapter must not
depend on beyond what the reference says:

* both tokens checked on every request; a wrong one is HTTP 401 `{"error": "Unauthenticated."}`
  [INFER the status and text];
* errors are non-2xx with `{"error": …, "rid": …}`: 422 for a refused create or renewal
  (unknown package, username or MAC taken, not enough credits), 404 for an unknown line [INFER
  the codes and texts];
* `rid`: a create or renewal repeated with a rid already seen answers what the first one did,
  creating and charging nothing;
* a renewal adds the package's duration to the later of now and the current expiry [INFER];
* `GET /ext/lines?username=` matches exactly [INFER]; `lines/index` pages by `page`/`per_page`.
"""

from __future__ import annotations

import json
import secrets
import urllib.parse
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from boxoffice_dev.panel_http import PanelEmulator

DEFAULT_PACKAGES = (
    {
        "id": 1,
        "name": "1 month",
        "description": "All channels, 30 days",
        "price_credits": 1,
        "duration_hours": 720,
        "max_connections": 1,
        "package_type": "official",
        "bouquets": [1, 2],
    },
    {
        "id": 2,
        "name": "3 months",
        "description": "All channels, 90 days",
        "price_credits": 3,
        "duration_hours": 2160,
        "max_connections": 2,
        "package_type": "official",
        "bouquets": [1, 2, 3],
    },
    {
        "id": 3,
        "name": "24 h trial",
        "description": "Trial",
        "price_credits": 0,
        "duration_hours": 24,
        "max_connections": 1,
        "package_type": "trial",
        "bouquets": [1],
    },
)
DEFAULT_BOUQUETS = (
    {"id": 1, "name": "Sports"},
    {"id": 2, "name": "Movies"},
    {"id": 3, "name": "Kids"},
)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


class OneStreamEmulator(PanelEmulator):
    name = "onestream"

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        api_key: str = "test-api-key",
        auth_user: str = "test-user-token",
        credits: Decimal | int = 10,
        log_requests: bool = False,
    ) -> None:
        super().__init__(host, port, log_requests=log_requests)
        self.api_key = api_key
        self.auth_user = auth_user
        self.initial_credits = Decimal(credits)
        self.credits = self.initial_credits
        self.packages = [dict(p) for p in DEFAULT_PACKAGES]
        self.bouquets = [dict(b) for b in DEFAULT_BOUQUETS]
        self._lines: dict[str, dict[str, Any]] = {}
        self._rids: dict[tuple[str, str], dict[str, Any]] = {}

    # Inspection ----------------------------------------------------------------------------

    def lines(self) -> list[dict[str, Any]]:
        with self.lock:
            return [dict(line, bouquets=list(line["bouquets"])) for line in self._lines.values()]

    def state(self) -> Any:
        return {"credits": str(self.credits), "lines": self.lines()}

    def set_credits(self, credits: Decimal | int) -> None:
        with self.lock:
            self.credits = Decimal(credits)

    def reset_state(self) -> None:
        self._lines.clear()
        self._rids.clear()
        self.credits = self.initial_credits

    # HTTP ----------------------------------------------------------------------------------

    def is_api_path(self, path: str) -> bool:
        return path.startswith("/ext/")

    def api(self, method, path, query, body, headers, client):
        lowered = {k.lower(): v for k, v in headers.items()}
        if lowered.get("x-api-key") != self.api_key or lowered.get("x-auth-user") != self.auth_user:
            return _json(401, {"error": "Unauthenticated."})
        params = dict(urllib.parse.parse_qsl(query, keep_blank_values=True))
        try:
            data = json.loads(body) if body else {}
        except ValueError:
            return _json(400, {"error": "Malformed JSON."})
        if not isinstance(data, dict):
            return _json(400, {"error": "Malformed JSON."})
        parts = path[len("/ext/") :].strip("/").split("/")
        if method == "GET" and parts == ["profile"]:
            return _json(200, {"name": "reseller1", "credits": float(self.credits)})
        if method == "GET" and parts == ["packages"]:
            return _json(200, self.packages)
        if method == "GET" and parts == ["bouquets"]:
            return _json(200, self.bouquets)
        if method == "GET" and parts == ["lines"]:
            wanted = params.get("username")
            rows = [
                line for line in self._lines.values() if not wanted or line["username"] == wanted
            ]
            return _json(200, rows)
        if method == "GET" and parts == ["lines", "index"]:
            return self._index(params)
        if method == "GET" and parts == ["line", "find"]:
            for line in self._lines.values():
                if (line["username"], line["password"]) == (
                    params.get("username"),
                    params.get("password"),
                ):
                    return _json(200, {"line_id": line["line_id"]})
            return _json(404, {"error": "Line not found."})
        if method == "POST" and parts == ["line", "create"]:
            return self._once("create", data, lambda: self._create(data))
        if method == "POST" and len(parts) == 3 and parts[0] == "line":
            line = self._lines.get(parts[1])
            if line is None:
                return _json(404, {"error": "Line not found.", "rid": data.get("rid")})
            action = parts[2]
            if action == "renew":
                return self._once("renew", data, lambda: self._renew(line, data))
            if action in ("disable", "enable"):
                line["is_enabled"] = action == "enable"
                return _json(200, {"line_id": line["line_id"]})
            if action == "terminate":
                del self._lines[line["line_id"]]
                return _json(200, {"line_id": line["line_id"]})
        return _json(404, {"error": "Not found."})

    # Actions -------------------------------------------------------------------------------

    def _once(self, action: str, data: dict, act) -> tuple[int, str, str, dict[str, str]]:
        rid = data.get("rid")
        key = (action, str(rid))
        if rid and key in self._rids:
            return _json(200, self._rids[key])
        status, payload = act()
        if status == 200 and rid:
            self._rids[key] = payload
        return _json(status, payload)

    def _package(self, number: Any) -> dict[str, Any] | None:
        return next((p for p in self.packages if p["id"] == number), None)

    def _charge(self, package: dict[str, Any]) -> Decimal | None:
        price = Decimal(package["price_credits"])
        if self.credits < price:
            return None
        self.credits -= price
        return price

    def _create(self, data: dict) -> tuple[int, dict[str, Any]]:
        rid = data.get("rid")
        package = self._package(data.get("package"))
        if package is None:
            return 422, {"error": "The selected package is invalid.", "rid": rid}
        username = data.get("username") or secrets.token_hex(5)
        if any(line["username"] == username for line in self._lines.values()):
            return 422, {"error": "The username has already been taken.", "rid": rid}
        mac = (data.get("mac_addr") or "").upper() or None
        if mac and any(line["mac_addr"] == mac for line in self._lines.values()):
            return 422, {"error": "The mac addr has already been taken.", "rid": rid}
        price = self._charge(package)
        if price is None:
            return 422, {"error": "Not enough credits.", "rid": rid}
        line_id = str(uuid.uuid4())
        expire_at = datetime.now(UTC) + timedelta(hours=package["duration_hours"])
        self._lines[line_id] = {
            "line_id": line_id,
            "username": username,
            "password": data.get("password") or secrets.token_hex(6),
            "mac_addr": mac,
            "owner": "reseller1",
            "type": "device" if mac else "regular",
            "expire_at": _iso(expire_at),
            "is_enabled": True,
            "is_restreamer": False,
            "is_trial": package["package_type"] == "trial",
            "package_id": package["id"],
            "bouquets": list(package["bouquets"]),
            "max_connections": data.get("max_connections") or package["max_connections"],
            "reseller_notes": data.get("reseller_notes") or "",
        }
        return 200, {
            "line_id": line_id,
            "expire_at": _iso(expire_at),
            "transaction_amount": -float(price),
            "rid": rid,
        }

    def _renew(self, line: dict[str, Any], data: dict) -> tuple[int, dict[str, Any]]:
        rid = data.get("rid")
        package = self._package(data.get("package") or line["package_id"])
        if package is None:
            return 422, {"error": "The selected package is invalid.", "rid": rid}
        price = self._charge(package)
        if price is None:
            return 422, {"error": "Not enough credits.", "rid": rid}
        now = datetime.now(UTC)
        current = (
            datetime.fromisoformat(line["expire_at"].replace("Z", "+00:00"))
            if line["expire_at"]
            else now
        )
        expire_at = max(now, current) + timedelta(hours=package["duration_hours"])
        line["expire_at"] = _iso(expire_at)
        line["package_id"] = package["id"]
        return 200, {
            "line_id": line["line_id"],
            "expire_at": _iso(expire_at),
            "transaction_amount": -float(price),
            "rid": rid,
        }

    def _index(self, params: dict) -> tuple[int, str, str, dict[str, str]]:
        try:
            page = max(1, int(params.get("page") or 1))
            per_page = max(1, min(500, int(params.get("per_page") or 15)))
        except ValueError:
            return _json(422, {"error": "The page must be an integer."})
        wanted = params.get("username")
        rows = [line for line in self._lines.values() if not wanted or line["username"] == wanted]
        items = rows[(page - 1) * per_page : page * per_page]
        last = max(1, -(-len(rows) // per_page))
        pagination = {
            "total": len(rows),
            "per_page": per_page,
            "current_page": page,
            "last_page": last,
        }
        return _json(200, {"status": True, "data": {"pagination": pagination, "items": items}})


def _json(status: int, payload: Any) -> tuple[int, str, str, dict[str, str]]:
    return status, json.dumps(payload), "application/json", {}
