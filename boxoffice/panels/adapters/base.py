"""The contract every panel adapter keeps.

Adapters take and return the small typed values below, never models or raw vendor JSON, and raise
`PanelError` whose `transient` flag tells the operation layer whether to retry (network trouble,
rate limits, HTML error pages) or stop for an operator (the panel refused the request).
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from datetime import datetime
from typing import ClassVar

# Stream outputs a line may use. XUI maps them to access_output ids 1/2/3.
OUTPUTS = ("m3u8", "ts", "rtmp")

OPERATIONS = frozenset(
    {
        "create_line",
        "find_line",
        "get_line",
        "extend",
        "change_password",
        "set_connections",
        "suspend",
        "resume",
        "delete",
        "create_device",
        "list_bouquets",
        "line_activity",
        "health",
    }
)


class PanelError(Exception):
    """Something went wrong talking to a panel.

    transient=True: retrying later may succeed (timeout, refused connection, 5xx, HTML instead of
    JSON, empty body). transient=False: the panel understood and refused; a retry would fail again.
    `code` is a short machine-readable reason (e.g. "STATUS_EXISTS_USERNAME", "timeout").
    `raw` keeps (a prefix of) the panel's answer for the operator; it never holds secrets we sent.
    """

    transient: bool = True

    def __init__(
        self, message: str, *, code: str = "", raw: str = "", transient: bool | None = None
    ):
        super().__init__(message)
        self.message = message
        self.code = code
        self.raw = raw[:2000]
        if transient is not None:
            self.transient = transient

    def __str__(self) -> str:
        return f"{self.message} [{self.code}]" if self.code else self.message


class TransientPanelError(PanelError):
    transient = True


class PermanentPanelError(PanelError):
    transient = False


class UsernameTaken(PermanentPanelError):
    """The panel already has a line with this username."""


class DeviceTaken(PermanentPanelError):
    """The panel already has a device with this MAC address."""


class LineNotFound(PermanentPanelError):
    """The panel has no line with this id."""


class UnsupportedOperation(PermanentPanelError):
    """This kind of panel cannot do the requested operation."""


@dataclass(frozen=True)
class PanelConfig:
    """Everything an adapter needs to reach one panel; decrypted secrets, no model."""

    api_url: str  # scheme://host:port of the admin API
    api_key: str
    access_code: str = ""
    timeout: float = 10.0
    verify_tls: bool = True
    username: str = ""  # for panels that log in with a user (Ministra basic auth)
    password: str = ""
    options: dict = field(default_factory=dict)


@dataclass(frozen=True)
class LineSpec:
    """A line as Boxoffice wants it on the panel."""

    username: str
    password: str
    max_connections: int
    expires_at: datetime | None  # None = never expires
    bouquets: tuple[int, ...] = ()
    outputs: tuple[str, ...] = ("m3u8", "ts")
    notes: str = ""  # admin notes; carries our order reference so a retry can recognise the line
    is_trial: bool = False
    mac: str = ""  # MAG/Formuler devices


@dataclass(frozen=True)
class PanelLine:
    """A line as the panel reports it."""

    panel_line_id: str
    username: str
    password: str
    max_connections: int
    expires_at: datetime | None
    bouquets: tuple[int, ...] = ()
    outputs: tuple[str, ...] = ()
    enabled: bool = True
    notes: str = ""
    is_trial: bool = False
    active_connections: int = 0
    last_active_at: datetime | None = None


@dataclass(frozen=True)
class Bouquet:
    id: int
    name: str


@dataclass(frozen=True)
class HealthReport:
    ok: bool
    detail: str = ""
    latency_ms: float = 0.0


class PanelAdapter(abc.ABC):
    """Base class of every panel kind. Subclasses declare `kind`, `label` and `supports`."""

    kind: ClassVar[str]
    label: ClassVar[str]
    supports: ClassVar[frozenset[str]] = OPERATIONS

    def __init__(self, config: PanelConfig):
        self.config = config

    def require(self, operation: str) -> None:
        if operation not in self.supports:
            raise UnsupportedOperation(
                f"{self.label} panels cannot {operation.replace('_', ' ')}", code="unsupported"
            )

    @abc.abstractmethod
    def create_line(self, spec: LineSpec) -> PanelLine: ...

    @abc.abstractmethod
    def find_line(self, username: str) -> PanelLine | None:
        """Exact, case-sensitive username match, or None."""

    @abc.abstractmethod
    def get_line(self, panel_line_id: str) -> PanelLine: ...

    @abc.abstractmethod
    def extend(self, panel_line_id: str, expires_at: datetime | None) -> PanelLine:
        """Set a new expiry; every other field of the line stays as it is."""

    @abc.abstractmethod
    def change_password(self, panel_line_id: str, password: str) -> PanelLine: ...

    @abc.abstractmethod
    def set_connections(self, panel_line_id: str, max_connections: int) -> PanelLine: ...

    @abc.abstractmethod
    def suspend(self, panel_line_id: str) -> PanelLine: ...

    @abc.abstractmethod
    def resume(self, panel_line_id: str) -> PanelLine: ...

    @abc.abstractmethod
    def delete(self, panel_line_id: str) -> None: ...

    @abc.abstractmethod
    def list_bouquets(self) -> list[Bouquet]: ...

    @abc.abstractmethod
    def health(self) -> HealthReport: ...

    def create_device(self, spec: LineSpec) -> PanelLine:
        """Register a MAG/Formuler box (`spec.mac`) and return the line it plays on. Raises
        `DeviceTaken` if the panel already has this MAC. Kinds that can override this."""
        raise UnsupportedOperation(f"{self.label} panels cannot create devices", code="unsupported")

    def find_device(self, mac: str) -> PanelLine | None:
        """The line of the device with this MAC (any separator, any case), or None."""
        raise UnsupportedOperation(f"{self.label} panels cannot create devices", code="unsupported")

    def line_activity(self, panel_line_id: str) -> PanelLine:
        """The line with its activity fields (active connections, last active)."""
        return self.get_line(panel_line_id)
