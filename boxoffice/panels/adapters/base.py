"""The contract every panel adapter keeps.

Adapters take and return the small typed values below, never models or raw vendor JSON, and raise
`PanelError` whose `transient` flag tells the operation layer whether to retry (network trouble,
rate limits, HTML error pages) or stop for an operator (the panel refused the request).
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import urlsplit

if TYPE_CHECKING:  # the customer's words may be lazy translations (gettext_lazy)
    from django_stubs_ext import StrOrPromise

OPERATIONS = frozenset(
    {
        "create_line",
        "find_line",
        "get_line",
        "extend",
        "change_password",
        "set_connections",
        "end_trial",
        "change_plan",
        "suspend",
        "resume",
        "delete",
        "create_device",
        "list_bouquets",
        "line_activity",
        "health",
    }
)
# What some kinds can do besides the core: a kind lists the ones it implements in its
# `Capabilities(operations=...)`; callers ask `capabilities.can(name)` before calling.
#   credit_balance: a reseller account's credits (routing skips a panel without credits)
#   list_packages:  the packages/tariffs a plan can map onto (sync, `apply` checks)
#   list_lines:     every line on the panel, a page at a time (reconciliation, import)
#   line_count:     how many lines the panel holds now (capacity routing)
OPTIONAL_OPERATIONS = frozenset({"credit_balance", "list_packages", "list_lines", "line_count"})
ALL_OPERATIONS = OPERATIONS | OPTIONAL_OPERATIONS


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


class InsufficientCredits(PermanentPanelError):
    """A reseller panel refused a sale: the account's credits do not cover the package. Nothing
    was created or renewed; topping up the credits and retrying the operation succeeds."""


class LineNotFound(PermanentPanelError):
    """The panel has no line with this id."""


class UnsupportedOperation(PermanentPanelError):
    """This kind of panel cannot do the requested operation."""


# --- What a kind declares ----------------------------------------------------------------------

FIELD_KINDS = ("str", "url", "int", "bool", "choice", "int_list", "choice_list")


class FieldError(ValueError):
    """A declared field's value is wrong; `field` names it, the message says why."""

    def __init__(self, field_name: str, message: str):
        super().__init__(message)
        self.field = field_name
        self.message = message


@dataclass(frozen=True)
class ConfigField:
    """One setting a panel kind needs (a panel's connection settings, or a plan's mapping).

    The admin form, the TOML keys of `boxoffice apply` and validation all come from these.
    `secret=True` values are stored encrypted, never shown back, and stay out of exports.
    `kind`: str, url, int, bool, choice (one of `choices`), int_list (whole numbers),
    choice_list (a subset of `choices`).
    """

    name: str
    label: str
    kind: str = "str"
    required: bool = False
    secret: bool = False
    help: str = ""
    default: Any = None
    choices: tuple[tuple[str, str], ...] = ()
    invalid: str = ""  # the message for a wrong value, if the generic one says too little

    def __post_init__(self) -> None:
        if self.kind not in FIELD_KINDS:
            raise ValueError(f"field {self.name}: kind {self.kind!r} is not one of {FIELD_KINDS}")

    @property
    def choice_values(self) -> tuple[str, ...]:
        return tuple(value for value, _ in self.choices)

    def initial(self) -> Any:
        if self.default is not None:
            return list(self.default) if isinstance(self.default, list | tuple) else self.default
        return {"int_list": [], "choice_list": [], "bool": False}.get(self.kind, "")

    def clean(self, value: Any) -> Any:
        """The value in its stored form, or FieldError saying what is wrong with it."""
        if value is None or value == "":
            if self.required and self.kind not in ("bool", "int_list", "choice_list"):
                raise FieldError(self.name, f"{self.name} is required")
            return self.initial()
        kind = self.kind
        if kind in ("str", "url"):
            if not isinstance(value, str):
                raise FieldError(self.name, f"{self.name} must be text")
            value = value.strip()
            if kind == "url":
                parts = urlsplit(value)
                if parts.scheme not in ("http", "https") or not parts.netloc:
                    raise FieldError(self.name, f"{self.name}: Enter a valid URL.")
            return value
        if kind == "int":
            if isinstance(value, bool) or not isinstance(value, int):
                raise FieldError(self.name, f"{self.name} must be a whole number")
            return value
        if kind == "bool":
            if not isinstance(value, bool):
                raise FieldError(self.name, f"{self.name} must be true or false")
            return value
        if kind == "choice":
            if value not in self.choice_values:
                raise FieldError(
                    self.name, f"{self.name} must be one of {', '.join(self.choice_values)}"
                )
            return value
        if kind == "int_list":
            # bool is an int subclass in Python; `true` is not a whole number here.
            if not isinstance(value, list | tuple) or not all(
                isinstance(v, int) and not isinstance(v, bool) for v in value
            ):
                raise FieldError(
                    self.name, self.invalid or f"{self.name} must be a list of whole numbers"
                )
            return list(value)
        # choice_list
        if not isinstance(value, list | tuple) or any(v not in self.choice_values for v in value):
            raise FieldError(
                self.name, f"{self.name} must be a list of {', '.join(self.choice_values)}"
            )
        return list(value)


def fields_clean(
    fields: tuple[ConfigField, ...], values: Mapping[str, Any], *, what: str = "settings"
) -> dict[str, Any]:
    """Exactly the declared fields, cleaned; unknown names and bad values raise FieldError
    (the first problem; callers that list every problem call `ConfigField.clean` per field)."""
    names = {f.name for f in fields}
    unknown = sorted(set(values) - names)
    if unknown:
        raise FieldError(
            unknown[0],
            f"unknown {what} {', '.join(unknown)} (allowed: {', '.join(sorted(names)) or 'none'})",
        )
    return {f.name: f.clean(values.get(f.name)) for f in fields}


@dataclass(frozen=True)
class Capabilities:
    """What a kind can do, read by the operation layer before it calls.

    `operations`: the adapter methods it implements (see OPERATIONS); an operation the kind
    lacks is adapted by the caller (e.g. no delete: disable and expire) instead of failing.
    `devices`: it can provision MAG/Formuler boxes by MAC.
    """

    operations: frozenset[str] = OPERATIONS
    devices: bool = False

    def can(self, operation: str) -> bool:
        return operation in self.operations

    @property
    def can_delete(self) -> bool:
        return self.can("delete")


@dataclass(frozen=True)
class PanelConfig:
    """Everything an adapter needs to reach one panel; decrypted secrets, no model.

    `settings` holds exactly the kind's declared `config_fields` (secrets decrypted), validated
    by `PanelAdapter.config_for`; the common columns every kind has are plain attributes.
    """

    api_url: str  # scheme://host:port of the admin API
    public_url: str = ""  # what customers' players reach (scheme://host:port)
    timeout: float = 10.0
    verify_tls: bool = True
    # Out of repr: it holds the kind's decrypted secrets, and a traceback must not show them.
    settings: Mapping[str, Any] = field(default_factory=dict, repr=False)
    options: Mapping[str, Any] = field(default_factory=dict)  # tuning knobs for tests/tools
    # For kinds whose API names a line by username *and* password (Xtream UI): Boxoffice's own
    # password for one of its usernames on this panel, or None. Set by `Panel.adapter_config`.
    line_passwords: Callable[[str], str | None] | None = field(
        default=None, repr=False, compare=False
    )

    def __getattr__(self, name: str) -> Any:
        # A kind's own fields read like attributes (config.access_code); unknown ones still fail.
        settings = self.__dict__.get("settings") or {}
        if name in settings:
            return settings[name]
        raise AttributeError(name)


@dataclass(frozen=True)
class LineFacts:
    """What `access()` needs to know about one line; built by the caller, never a model."""

    username: str
    password: str = field(repr=False)
    mac: str = ""  # a MAG/Formuler box's MAC, "" for apps
    device: str = ""  # "mag" for boxes


@dataclass(frozen=True)
class AccessItem:
    """One thing a customer types into a player (a URL, a port, a portal address)."""

    key: str  # stable name (templates may ask for one: access.server_url)
    label: StrOrPromise
    value: str
    secret: bool = False  # holds the password: show with care


@dataclass(frozen=True)
class AccessSection:
    """A group of access items with a title and a sentence saying what it is for."""

    title: StrOrPromise
    items: tuple[AccessItem, ...]
    intro: StrOrPromise = ""


@dataclass(frozen=True)
class LineAccess:
    """How a customer reaches a line, as the panel's kind says: sections of items, and set-up
    steps. Templates may iterate `sections`/`items`, or name an item: `access.server_url`."""

    sections: tuple[AccessSection, ...]
    steps: tuple[StrOrPromise, ...] = ()  # how to set up a player, one sentence each
    hint: StrOrPromise = ""  # the one-sentence version, for short pages and mails
    extras: tuple[AccessItem, ...] = ()  # named items pages may pick, not listed in mails
    # The customer types the line's username and password somewhere (an app, a portal's login
    # page). False for a box that signs in by its MAC alone: pages and mails then leave the
    # login rows out, since there is nothing to type.
    asks_login: bool = True

    @property
    def items(self) -> tuple[AccessItem, ...]:
        return (*(item for section in self.sections for item in section.items), *self.extras)

    @property
    def details(self) -> tuple[AccessItem, ...]:
        """The sections' items except the line's own username and password, for pages that
        show the login already."""
        login = {"username", "password"}
        return tuple(
            item for section in self.sections for item in section.items if item.key not in login
        )

    @property
    def with_password(self) -> tuple[AccessItem, ...]:
        """The details that carry the password (they change when it does)."""
        return tuple(item for item in self.details if item.secret)

    def get(self, key: str, default: str = "") -> str:
        for item in self.items:
            if item.key == key:
                return item.value
        return default

    def __getitem__(self, key: str) -> str:
        # Django templates try a dictionary lookup first: {{ access.m3u_url }}.
        for item in self.items:
            if item.key == key:
                return item.value
        raise KeyError(key)

    def __getattr__(self, name: str) -> str:
        # Named items read like attributes in Python too (access.server_url).
        if name.startswith("_") or "sections" not in self.__dict__:
            raise AttributeError(name)
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


@dataclass(frozen=True)
class LineSpec:
    """A line as Boxoffice wants it on the panel."""

    username: str
    password: str = field(repr=False)  # never in a traceback
    max_connections: int
    expires_at: datetime | None  # None = never expires
    # XUI One's plan fields as attributes, kept for its adapter and contract tests; the
    # operation layer passes `mapping` only, which wins over these when it has the field.
    bouquets: tuple[int, ...] = ()
    outputs: tuple[str, ...] = ("m3u8", "ts")
    notes: str = ""  # admin notes; carries our order reference so a retry can recognise the line
    is_trial: bool = False
    mac: str = ""  # MAG/Formuler devices
    # The plan's mapping onto this panel: exactly the kind's `plan_fields`.
    mapping: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class PanelLine:
    """A line as the panel reports it."""

    panel_line_id: str
    username: str
    password: str = field(repr=False)  # never in a traceback
    max_connections: int
    expires_at: datetime | None
    bouquets: tuple[int, ...] = ()
    outputs: tuple[str, ...] = ()
    enabled: bool = True
    notes: str = ""
    is_trial: bool = False
    active_connections: int = 0
    last_active_at: datetime | None = None
    mac: str = ""  # a device line's MAC (normalised AA:BB:CC:DD:EE:FF), "" for apps
    package_id: str = ""  # package-based kinds: the package the line was sold or renewed with
    # False where the panel does not report a line's expiry (Ministra without internal billing):
    # `expires_at` is then the expiry we sent (creates, renewals) or None (reads), not a fact.
    expires_at_known: bool = True


@dataclass(frozen=True)
class LinePage:
    """One page of `list_lines`: pass `next_cursor` back for the next; None = no more."""

    lines: tuple[PanelLine, ...]
    next_cursor: str | None = None
    total: int | None = None  # the panel's own count where it reports one


@dataclass(frozen=True)
class Package:
    """A package (reseller panels) or tariff (Ministra) a plan can map onto."""

    id: str
    name: str
    credits: Decimal | None = None  # what one sale costs a reseller, where the panel says
    duration_days: int | None = None
    max_connections: int | None = None
    is_trial: bool = False


@dataclass(frozen=True)
class CreditBalance:
    """A reseller account's credits as the panel reports them."""

    credits: Decimal
    detail: str = ""  # the panel's own warning text, if it gave one


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
    """Base class of every panel kind.

    A kind declares, besides its `kind` and `label`:
    * `config_fields`: its own connection settings (the admin form, TOML keys, validation;
      `secret` ones stored encrypted). The common columns (api_url, public_url, timeout,
      verify_tls, ...) are every kind's and are not repeated here.
    * `plan_fields`: how a plan maps onto one of its panels (bouquets and outputs, a package).
    * `capabilities`: what it can do; the operation layer adapts to what it cannot.
    * `access(config, facts)`: how a customer reaches a line on it.
    """

    kind: ClassVar[str]
    label: ClassVar[str]
    supports: ClassVar[frozenset[str]] = OPERATIONS
    config_fields: ClassVar[tuple[ConfigField, ...]] = ()
    plan_fields: ClassVar[tuple[ConfigField, ...]] = ()
    capabilities: ClassVar[Capabilities] = Capabilities()
    # An adapter that holds nothing but its config and HTTP client between calls may be kept
    # (per thread, while its panel's settings stay the same: `Panel.adapter`), so its client's
    # connections to the panel stay open; one that holds a session (a login) says False.
    keep_between_calls: ClassVar[bool] = False

    def __init__(self, config: PanelConfig):
        self.config = config

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # One source of truth: `supports` (read by `require`) follows the declared capabilities.
        if "capabilities" in cls.__dict__ and "supports" not in cls.__dict__:
            cls.supports = cls.capabilities.operations

    @classmethod
    def config_for(
        cls,
        *,
        api_url: str,
        public_url: str = "",
        timeout: float = 10.0,
        verify_tls: bool = True,
        settings: Mapping[str, Any] | None = None,
        line_passwords: Callable[[str], str | None] | None = None,
    ) -> PanelConfig:
        """A config holding exactly this kind's declared fields, validated (FieldError)."""
        return PanelConfig(
            api_url=api_url,
            public_url=public_url,
            timeout=timeout,
            verify_tls=verify_tls,
            settings=fields_clean(cls.config_fields, settings or {}),
            line_passwords=line_passwords,
        )

    @classmethod
    def mapping_clean(cls, values: Mapping[str, Any]) -> dict[str, Any]:
        """A plan mapping with exactly this kind's `plan_fields`, validated (FieldError)."""
        return fields_clean(cls.plan_fields, values, what="mapping keys")

    @classmethod
    @abc.abstractmethod
    def access(cls, config: PanelConfig, facts: LineFacts) -> LineAccess:
        """What a customer needs to reach the line: URLs, ports, portal addresses."""

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

    def credit_balance(self) -> CreditBalance:
        """The account's credits (reseller kinds). Kinds that can override this."""
        raise UnsupportedOperation(f"{self.label} panels have no credits", code="unsupported")

    def list_packages(self) -> list[Package]:
        """Packages or tariffs a plan can map onto. Kinds that can override this."""
        raise UnsupportedOperation(f"{self.label} panels have no packages", code="unsupported")

    def list_lines(self, cursor: str | None = None, limit: int = 500) -> LinePage:
        """Every line on the panel, `limit` at a time, in a stable order. Kinds that can
        override this."""
        raise UnsupportedOperation(f"{self.label} panels cannot list lines", code="unsupported")

    def line_count(self) -> int:
        """How many lines the panel holds now. Kinds that can override this."""
        raise UnsupportedOperation(f"{self.label} panels cannot count lines", code="unsupported")

    def line_activity(self, panel_line_id: str) -> PanelLine:
        """The line with its activity fields (active connections, last active)."""
        return self.get_line(panel_line_id)

    def end_trial(
        self, panel_line_id: str, *, expires_at: datetime | None, max_connections: int
    ) -> PanelLine:
        """Make a trial line a paid one: the trial flag off, the paid expiry and connections,
        the same username and password. Kinds that can override this."""
        raise UnsupportedOperation(f"{self.label} panels cannot end a trial", code="unsupported")

    def change_plan(
        self,
        panel_line_id: str,
        *,
        max_connections: int,
        mapping: Mapping[str, Any],
        new_expiry: datetime | None = None,
    ) -> PanelLine:
        """Move a line to another plan in one change: its connections and the plan's mapping
        (the kind's `plan_fields`: bouquets and outputs, a package), and with `new_expiry` its
        expiry too (a renewal that changes the plan); without it the expiry stays as stored.
        The same username and password. Kinds that can override this."""
        raise UnsupportedOperation(f"{self.label} panels cannot change plans", code="unsupported")
