"""The local secrets and the SQLite database are readable by their owner only."""

from __future__ import annotations

import os
import stat

import pytest
from django.db.utils import ConnectionHandler

from boxoffice.lib.tests.settings_under import settings_under


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture
def umask_022():
    previous = os.umask(0o022)  # the usual default, under which files come out 0644
    yield
    os.umask(previous)


def test_it_creates_the_var_directory_for_its_owner_only(monkeypatch, tmp_path, umask_022):
    var = tmp_path / "fresh" / "var"

    namespace = settings_under(monkeypatch, var)

    assert namespace["VAR_DIR"] == var
    assert _mode(var) == 0o700
    assert _mode(var / "secret_key") == 0o600


@pytest.fixture
def open_sqlite(django_db_blocker):
    """A connection of our SQLite backend to a database of its own, written to once."""
    opened = []

    def open_(path):
        handler = ConnectionHandler(
            {
                "default": {
                    "ENGINE": "boxoffice.lib.sqlite",
                    "NAME": str(path),
                    "OPTIONS": {"init_command": "PRAGMA journal_mode=WAL;"},
                }
            }
        )
        connection = handler["default"]
        with django_db_blocker.unblock():
            with connection.cursor() as cursor:
                cursor.execute("CREATE TABLE IF NOT EXISTS t (x integer)")
                cursor.execute("INSERT INTO t VALUES (1)")
        opened.append((connection, django_db_blocker))
        return connection

    yield open_
    for connection, blocker in opened:
        with blocker.unblock():
            connection.close()


def test_it_creates_the_sqlite_database_and_its_wal_for_their_owner_only(
    tmp_path, umask_022, open_sqlite
):
    database = tmp_path / "boxoffice.sqlite3"

    open_sqlite(database)

    assert _mode(database) == 0o600
    assert _mode(f"{database}-wal") == 0o600  # settings put SQLite in WAL mode
    assert _mode(f"{database}-shm") == 0o600


def test_it_makes_an_existing_world_readable_database_private(tmp_path, umask_022, open_sqlite):
    database = tmp_path / "old.sqlite3"
    database.touch(mode=0o644)
    database.chmod(0o644)

    open_sqlite(database)

    assert _mode(database) == 0o600


def test_it_uses_the_private_backend_for_the_embedded_database(monkeypatch, tmp_path):
    namespace = settings_under(monkeypatch, tmp_path)

    assert namespace["DATABASES"]["default"]["ENGINE"] == "boxoffice.lib.sqlite"


@pytest.mark.multiprocess
def test_it_keeps_the_lock_of_another_connection_when_it_opens_one(
    tmp_path, open_sqlite, django_db_blocker
):
    """Opening a connection must not close a descriptor of the database file: that drops the
    POSIX locks every other connection of the process holds on it, and another process closing
    its last connection then believes it is the last one anywhere: it checkpoints and deletes
    the write-ahead log under connections still using it (a corrupt database)."""
    import sqlite3  # noqa: PLC0415 - this test only
    import subprocess  # noqa: PLC0415
    import sys  # noqa: PLC0415

    path = tmp_path / "locked.sqlite3"
    open_sqlite(path).close()
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("PRAGMA journal_mode=WAL")
    holder.execute("INSERT INTO t VALUES (2)")  # the log has content; this process holds it open
    wal = tmp_path / "locked.sqlite3-wal"
    assert wal.exists()

    # A second connection of our backend, as another thread of the process would open.
    second = ConnectionHandler({"default": {"ENGINE": "boxoffice.lib.sqlite", "NAME": str(path)}})
    with django_db_blocker.unblock():
        second["default"].ensure_connection()
    subprocess.run(
        [
            sys.executable,
            "-c",
            "import sqlite3,sys; sqlite3.connect(sys.argv[1]).execute("
            "'SELECT count(*) FROM t').fetchall()",
            str(path),
        ],
        check=True,
        timeout=30,
    )

    still_there = wal.exists()
    holder.close()
    with django_db_blocker.unblock():
        second["default"].close()
    assert still_there
