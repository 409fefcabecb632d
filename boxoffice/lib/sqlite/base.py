from __future__ import annotations

import os
from pathlib import Path

from django.db.backends.sqlite3 import base

PRIVATE = 0o600
# The database file and SQLite's companions of it; in WAL mode those hold recent pages.
SUFFIXES = ("", "-wal", "-shm", "-journal")


def sqlite_files_make_private(database: Path) -> None:
    """Create `database` 0600 if it does not exist; tighten it and its companions if they are
    ours and readable by others (made before this backend, or under another umask).

    The file is opened only when it does not exist yet: closing any descriptor of a file drops
    every POSIX lock this process holds on it (fcntl semantics), so an open and close while
    another thread's connection holds SQLite's locks lets a second process write under it and
    corrupts the database ("database disk image is malformed")."""
    if not database.exists():
        fd = os.open(database, os.O_CREAT | os.O_WRONLY, PRIVATE)
        os.close(fd)
    for suffix in SUFFIXES:
        path = Path(f"{database}{suffix}")
        try:
            stat = path.stat()
        except FileNotFoundError:
            continue
        if stat.st_mode & 0o777 != PRIVATE and stat.st_uid == os.getuid():
            path.chmod(PRIVATE)


class DatabaseWrapper(base.DatabaseWrapper):
    def get_new_connection(self, conn_params):
        name = str(conn_params["database"])
        if not self.is_in_memory_db() and not name.startswith("file:"):
            sqlite_files_make_private(Path(name))
        return super().get_new_connection(conn_params)
