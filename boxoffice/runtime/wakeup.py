"""Waking the worker when a task is queued, so new work starts within milliseconds while an idle
worker sleeps (a slow poll remains the fallback: a lost wake-up only costs that poll).

- PostgreSQL: `NOTIFY boxoffice_tasks` in the transaction that queues the task (delivered when it
  commits); each worker LISTENs on a connection of its own.
- SQLite (one machine by nature): each worker binds a Unix datagram socket in `<database>.wake/`;
  whoever queues a task sends one byte to every socket there after commit. No worker running:
  nothing listens, the send fails quietly and the durable row waits for the next worker.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from pathlib import Path

from django.db import DatabaseError, connection, transaction

logger = logging.getLogger("boxoffice.worker")

CHANNEL = "boxoffice_tasks"


class Wakeup:
    """What the task threads of a process wait on. `set` wakes one waiting thread (not all of
    them to race for the same row); a set while no thread waits is kept for the next `wait`,
    so a wake-up is never lost between a look at the queue and the next sleep."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._pending = False

    def set(self) -> None:
        with self._cond:
            self._pending = True
            self._cond.notify()

    def wait(self, timeout: float) -> bool:
        """Sleep until set or `timeout`; consume the wake-up. True if woken."""
        with self._cond:
            if not self._pending:
                self._cond.wait(timeout)
            woken, self._pending = self._pending, False
            return woken


# Set by the listener and by enqueues in this very process.
local_wakeup = Wakeup()


def _wake_dir() -> Path:
    return Path(f"{connection.settings_dict['NAME']}.wake")


def wakeup_send(**_signal) -> None:
    """Connected to django-tasks' `task_enqueued`: tell the workers there is work."""
    local_wakeup.set()
    if connection.vendor == "postgresql":
        try:
            with connection.cursor() as cursor:
                cursor.execute(f"NOTIFY {CHANNEL}")
        except DatabaseError:  # the task row is written; the slow poll finds it
            logger.warning("could not notify the workers of a new task")
        return
    transaction.on_commit(_datagrams_send)


def _datagrams_send() -> None:
    directory = _wake_dir()
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        return
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.setblocking(False)
        for name in names:
            try:
                sock.sendto(b"!", str(directory / name))
            except (ConnectionRefusedError, FileNotFoundError):
                # A worker that died without removing its socket.
                try:
                    (directory / name).unlink()
                except OSError:
                    pass
            except OSError:
                pass  # its buffer is full: it is awake already


def wakeup_listen(stop: threading.Event) -> threading.Thread:
    """Start this worker's listener thread; it sets `local_wakeup` on every wake-up."""
    target = _listen_postgres if connection.vendor == "postgresql" else _listen_socket
    params = connection.get_connection_params() if connection.vendor == "postgresql" else None
    directory = None if params is not None else _wake_dir()
    thread = threading.Thread(
        target=target, args=(stop, params or directory), name="wakeup", daemon=True
    )
    thread.start()
    return thread


def _listen_socket(stop: threading.Event, directory: Path) -> None:
    directory.mkdir(mode=0o700, exist_ok=True)
    path = directory / f"{os.getpid()}-{threading.get_ident()}.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(path))
        sock.settimeout(0.5)
        try:
            while not stop.is_set():
                try:
                    sock.recv(64)
                except TimeoutError:
                    continue
                local_wakeup.set()
        finally:
            path.unlink(missing_ok=True)


def _listen_postgres(stop: threading.Event, params: dict) -> None:
    import psycopg  # noqa: PLC0415 - only on PostgreSQL

    params = {k: v for k, v in params.items() if k not in ("cursor_factory", "context")}
    while not stop.is_set():
        try:
            with psycopg.connect(**params, autocommit=True) as conn:
                conn.execute(f"LISTEN {CHANNEL}")
                local_wakeup.set()  # anything queued while we were not listening
                while not stop.is_set():
                    for _ in conn.notifies(timeout=0.5, stop_after=1):
                        local_wakeup.set()
        except Exception:  # a dropped connection: the slow poll covers the gap
            logger.warning("wake-up listener lost its connection; reconnecting", exc_info=True)
            stop.wait(1.0)
