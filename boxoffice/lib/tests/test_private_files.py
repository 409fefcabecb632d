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
