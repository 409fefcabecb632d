"""The bound of calls in flight to one panel, held across every process that calls it.

`Panel.max_concurrency` is what the panel takes from all workers (and web processes) together:
XUI One rate-limits at ~20 requests/s, and N worker processes with a per-process semaphore each
would send N times that. A call holds one of the panel's numbered slots 0..max_concurrency-1:

- PostgreSQL: a session-level advisory lock `pg_try_advisory_lock(panel id, slot)`, on a
  connection this process keeps for its slots alone (autocommit). Not Django's connection of the
  calling thread: that one may be inside a transaction (a web request, a test), where an aborted
  transaction refuses the unlock and the lock would leak for the connection's life, and it may be
  closed under the call (`close_old_connections`, a failed health check), which would silently
  give the slot to someone else. A process that dies closes its session and PostgreSQL releases
  every lock it held; advisory locks belong to one database, so other databases never contend.
- SQLite (one machine by nature): `flock(LOCK_EX | LOCK_NB)` on a file per slot in a private
  `<database>.slots/` folder (never on the database file: closing any descriptor of it drops
  this process's POSIX locks there, see `lib/sqlite/base.py`); the kernel releases it when the
  process dies.

In front of that, an in-process semaphore per panel keeps a process's own threads from spinning
on slots its other threads hold. A call waits for a slot, sleeping briefly with backoff, until
its deadline; then it fails with `PanelBusy`, a transient error that is retried like any other
but never counted against the panel's health (the panel did nothing wrong).
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import random
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol

from django.db import connection

from boxoffice.panels.adapters.base import TransientPanelError

logger = logging.getLogger(__name__)

# Advisory lock keys are int4 pairs; a panel id past 2^31 wraps (two panels that far apart
# sharing a key only make each other wait).
_INT4 = 0x7FFFFFFF
_PAUSE_FIRST, _PAUSE_MOST = 0.005, 0.05


class PanelBusy(TransientPanelError):
    """Every call slot of the panel stayed taken until the call's deadline. Transient (retried
    with backoff), and not the panel's fault: it never opens the circuit."""

    def __init__(self, message: str):
        super().__init__(message, code="panel_busy")


class _Backend(Protocol):
    def take(self, panel_id: int, slot: int) -> Any | None:
        """Take the slot if no other process holds it: a token for `give`, or None."""

    def give(self, panel_id: int, slot: int, token: Any) -> None: ...

    def close(self) -> None: ...


class _NoBackend:
    """One process is the whole world (an in-memory database, another vendor)."""

    def take(self, panel_id: int, slot: int) -> Any | None:
        return True

    def give(self, panel_id: int, slot: int, token: Any) -> None:
        pass

    def close(self) -> None:
        pass


class PostgresSlots:
    """Slots as session-level advisory locks on one autocommit connection of this process.

    A session holds an advisory lock re-entrantly, so the caller (`PanelSlots`) never asks for a
    slot this process already holds. If the connection drops, PostgreSQL has released its locks:
    their tokens (the connection's generation) are then stale and `give` skips them."""

    def __init__(self, params: dict):
        self._params = {k: v for k, v in params.items() if k not in ("cursor_factory", "context")}
        self._conn: Any = None
        self._generation = 0
        self._lock = threading.Lock()

    def _connection(self) -> Any:
        if self._conn is None or self._conn.closed:
            import psycopg  # noqa: PLC0415 - only on PostgreSQL

            # Never a hang under the slot locks: a dead peer (a NAT that dropped the idle
            # session) is noticed by keepalives, and no statement waits more than 5 s.
            options = " ".join(
                filter(None, [self._params.get("options"), "-c statement_timeout=5000"])
            )
            params = {**self._params, "options": options}
            params.setdefault("connect_timeout", 5)
            params.update(
                keepalives=1, keepalives_idle=30, keepalives_interval=10, keepalives_count=3
            )
            self._conn = psycopg.connect(**params, autocommit=True)
            self._generation += 1
        return self._conn

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            logger.warning("panel call slots: lost the database session holding them")
            with contextlib.suppress(Exception):
                conn.close()

    def take(self, panel_id: int, slot: int) -> Any | None:
        with self._lock:
            try:
                row = (
                    self._connection()
                    .execute("SELECT pg_try_advisory_lock(%s, %s)", (panel_id & _INT4, slot))
                    .fetchone()
                )
            except Exception:
                self._drop()
                raise
            return self._generation if row and row[0] else None

    def give(self, panel_id: int, slot: int, token: Any) -> None:
        with self._lock:
            if self._conn is None or token != self._generation:
                return  # that session is gone, and its locks with it
            try:
                self._conn.execute("SELECT pg_advisory_unlock(%s, %s)", (panel_id & _INT4, slot))
            except Exception:
                self._drop()  # closing the session releases whatever it still held

    def close(self) -> None:
        with self._lock:
            conn, self._conn = self._conn, None
            if conn is not None:
                conn.close()


class FileSlots:
    """Slots as `flock`s on `<directory>/panel-<id>-<slot>`, one open file per held slot.

    Each take opens the file anew: flocks of two open files conflict even within one process,
    and the descriptor is close-on-exec, so a child process never inherits a slot."""

    def __init__(self, directory: Path):
        self.directory = directory
        self._made = False

    def take(self, panel_id: int, slot: int) -> Any | None:
        if not self._made:
            self.directory.mkdir(mode=0o700, exist_ok=True)
            self._made = True
        path = self.directory / f"panel-{panel_id}-{slot}"
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None
        except BaseException:
            os.close(fd)
            raise
        return fd

    def give(self, panel_id: int, slot: int, token: Any) -> None:
        os.close(token)  # closing the only descriptor of that open file drops its flock

    def close(self) -> None:
        pass


class _PanelState:
    def __init__(self, limit: int, previous: _PanelState | None = None):
        self.limit = limit
        self.threads = threading.BoundedSemaphore(limit)
        # Kept across a change of the limit: the slot numbers this process's calls hold.
        self.lock = previous.lock if previous else threading.Lock()
        self.held: set[int] = previous.held if previous else set()


class PanelSlots:
    """This process's view of every panel's slots over one backend (one per process; tests make
    two to play two processes)."""

    def __init__(self, backend: _Backend):
        self.backend = backend
        self._panels: dict[int, _PanelState] = {}
        self._lock = threading.Lock()

    def _state(self, panel_id: int, limit: int) -> _PanelState:
        with self._lock:
            state = self._panels.get(panel_id)
            if state is None or state.limit != limit:
                # The operator changed max_concurrency: calls in flight finish on the old state.
                state = self._panels[panel_id] = _PanelState(limit, state)
            return state

    @contextlib.contextmanager
    def hold(self, *, panel_id: int, limit: int, timeout: float, name: str = "") -> Iterator[int]:
        """Hold one of the panel's `limit` slots for the body (yields its number); PanelBusy if
        none came free within `timeout` seconds."""
        limit = max(limit, 1)
        deadline = time.monotonic() + max(timeout, 0.0)
        state = self._state(panel_id, limit)
        if not state.threads.acquire(timeout=max(timeout, 0.0)):
            raise self._busy(name or str(panel_id), limit, timeout)
        try:
            slot, token = self._take(state, panel_id, deadline, name or str(panel_id), timeout)
            try:
                yield slot
            finally:
                with state.lock:
                    try:
                        self.backend.give(panel_id, slot, token)
                    finally:
                        state.held.discard(slot)
        finally:
            state.threads.release()

    def _take(
        self, state: _PanelState, panel_id: int, deadline: float, name: str, timeout: float
    ) -> tuple[int, Any]:
        pause = _PAUSE_FIRST
        while True:
            with state.lock:
                for slot in range(state.limit):
                    if slot in state.held:
                        continue
                    try:
                        token = self.backend.take(panel_id, slot)
                    except Exception as exc:
                        raise PanelBusy(
                            f"panel {name}: could not take a call slot ({type(exc).__name__}: "
                            f"{exc})"
                        ) from exc
                    if token is not None:
                        state.held.add(slot)
                        return slot, token
            left = deadline - time.monotonic()
            if left <= 0:
                raise self._busy(name, state.limit, timeout)
            # Other processes hold them all: look again soon, less often the longer it lasts.
            time.sleep(min(left, pause * random.uniform(0.5, 1.5)))  # noqa: S311 - jitter
            pause = min(pause * 2, _PAUSE_MOST)

    @staticmethod
    def _busy(name: str, limit: int, timeout: float) -> PanelBusy:
        return PanelBusy(
            f"panel {name} busy: its {limit} call slot(s) stayed in use by other calls for "
            f"{timeout:.1f}s"
        )


def _backend_for_database() -> _Backend:
    if connection.vendor == "postgresql":
        return PostgresSlots(connection.get_connection_params())
    if connection.vendor == "sqlite" and not connection.is_in_memory_db():
        name = str(connection.settings_dict["NAME"])
        if not name.startswith("file:"):
            return FileSlots(Path(f"{name}.slots"))
    return _NoBackend()


_process: PanelSlots | None = None
_process_lock = threading.Lock()
# A forked child must neither use nor close its parent's slot session (closing it would end the
# parent's session and free the parent's slots): it is kept alive, unused, here.
_inherited: list[PanelSlots] = []


def panel_slots() -> PanelSlots:
    """This process's slots (made on first use, for the database in use)."""
    global _process
    with _process_lock:
        if _process is None:
            _process = PanelSlots(_backend_for_database())
        return _process


def panel_slots_close() -> None:
    """Close this process's slot session (held slots are released); the next call opens anew."""
    global _process
    with _process_lock:
        slots, _process = _process, None
    if slots is not None:
        slots.backend.close()


def _after_fork_in_child() -> None:
    global _process, _process_lock
    if _process is not None:
        _inherited.append(_process)
    _process, _process_lock = None, threading.Lock()


os.register_at_fork(after_in_child=_after_fork_in_child)
