"""A tiny in-memory panel kind, for tests only: proof that a kind is one folder + one registry
line. It logs in with a username and a (secret) password, sells packages, cannot delete, and
gives customers a single portal address."""

from __future__ import annotations

import itertools
import threading
from datetime import datetime

from boxoffice.panels.adapters.base import (
    OPERATIONS,
    AccessItem,
    AccessSection,
    Bouquet,
    Capabilities,
    ConfigField,
    HealthReport,
    LineAccess,
    LineFacts,
    LineNotFound,
    LineSpec,
    PanelAdapter,
    PanelConfig,
    PanelLine,
    PermanentPanelError,
    TransientPanelError,
    UsernameTaken,
)

PACKAGES = (("basic", "Basic"), ("sports", "Sports"), ("everything", "Everything"))


class FakeStore:
    """One fake panel's lines, with a fault switch like the emulators have."""

    def __init__(self) -> None:
        self.lines: dict[str, dict] = {}
        self.ids = itertools.count(1)
        self.mode = "ok"
        self.count: int | None = None
        self.lock = threading.Lock()

    def rows(self) -> list[dict]:
        with self.lock:
            return [dict(row) for row in self.lines.values()]

    def set_faults(self, mode: str, latency_ms: int = 0, count: int | None = None) -> None:
        self.mode, self.count = mode, count


STORES: dict[str, FakeStore] = {}


def store_for(api_url: str) -> FakeStore:
    return STORES.setdefault(api_url, FakeStore())


class FakeKindAdapter(PanelAdapter):
    kind = "fake_kind"
    label = "Fake kind"
    capabilities = Capabilities(
        operations=OPERATIONS - {"delete", "create_device", "list_bouquets", "change_plan"}
    )
    config_fields = (
        ConfigField("username", "Reseller username", required=True),
        ConfigField("password", "Reseller password", secret=True, required=True),
    )
    plan_fields = (
        ConfigField("package", "Package", kind="choice", choices=PACKAGES, required=True),
    )

    def __init__(self, config: PanelConfig):
        super().__init__(config)
        self.store = store_for(config.api_url)

    @classmethod
    def access(cls, config: PanelConfig, facts: LineFacts) -> LineAccess:
        portal = f"{config.public_url.rstrip('/')}/watch/{facts.username}"
        return LineAccess(
            sections=(
                AccessSection(
                    title="Fake kind portal",
                    intro="Open this address in any browser and sign in.",
                    items=(AccessItem("portal_url", "Portal", portal),),
                ),
            ),
            steps=("Any browser: open the portal address above and sign in.",),
        )

    # Faults -----------------------------------------------------------------------------------

    def _gate(self, *, acting: bool = False):
        if self.config.password != "fake-secret":
            raise PermanentPanelError("bad reseller login", code="auth")
        mode = self.store.mode
        if mode == "ok":
            return None
        if mode == "act_then_timeout":
            if self.store.count is not None:
                self.store.count -= 1
                if self.store.count <= 0:
                    self.store.mode = "ok"
            return "timeout_after" if acting else None
        raise TransientPanelError(f"fake panel misbehaves: {mode}", code=mode)

    # Lines ------------------------------------------------------------------------------------

    def create_line(self, spec: LineSpec) -> PanelLine:
        after = self._gate(acting=True)
        with self.store.lock:
            if any(r["username"] == spec.username for r in self.store.lines.values()):
                raise UsernameTaken("username taken", code="taken")
            line_id = str(next(self.store.ids))
            self.store.lines[line_id] = {
                "id": line_id,
                "username": spec.username,
                "password": spec.password,
                "max_connections": spec.max_connections,
                "expires_at": spec.expires_at,
                "notes": spec.notes,
                "is_trial": spec.is_trial,
                "enabled": True,
                "package": spec.mapping.get("package", ""),
            }
        if after:
            raise TransientPanelError("timed out", code="timeout")
        return self.get_line(line_id)

    def find_line(self, username: str) -> PanelLine | None:
        self._gate()
        for row in self.store.rows():
            if row["username"] == username:
                return _line(row)
        return None

    def get_line(self, panel_line_id: str) -> PanelLine:
        self._gate()
        row = self.store.lines.get(str(panel_line_id))
        if row is None:
            raise LineNotFound(f"no line {panel_line_id}", code="not_found")
        return _line(row)

    def _edit(self, panel_line_id: str, **changes) -> PanelLine:
        self._gate()
        with self.store.lock:
            row = self.store.lines.get(str(panel_line_id))
            if row is None:
                raise LineNotFound(f"no line {panel_line_id}", code="not_found")
            row.update(changes)
        return self.get_line(panel_line_id)

    def extend(self, panel_line_id: str, expires_at: datetime | None) -> PanelLine:
        return self._edit(panel_line_id, expires_at=expires_at)

    def change_password(self, panel_line_id: str, password: str) -> PanelLine:
        return self._edit(panel_line_id, password=password)

    def set_connections(self, panel_line_id: str, max_connections: int) -> PanelLine:
        return self._edit(panel_line_id, max_connections=max_connections)

    def suspend(self, panel_line_id: str) -> PanelLine:
        return self._edit(panel_line_id, enabled=False)

    def resume(self, panel_line_id: str) -> PanelLine:
        return self._edit(panel_line_id, enabled=True)

    def delete(self, panel_line_id: str) -> None:
        self.require("delete")

    def list_bouquets(self) -> list[Bouquet]:
        self.require("list_bouquets")
        return []

    def health(self) -> HealthReport:
        try:
            self._gate()
        except (TransientPanelError, PermanentPanelError) as exc:
            return HealthReport(ok=False, detail=str(exc))
        return HealthReport(ok=True, detail="fake panel answers")


def _line(row: dict) -> PanelLine:
    return PanelLine(
        panel_line_id=row["id"],
        username=row["username"],
        password=row["password"],
        max_connections=row["max_connections"],
        expires_at=row["expires_at"],
        enabled=row["enabled"],
        notes=row["notes"],
        is_trial=row["is_trial"],
    )
