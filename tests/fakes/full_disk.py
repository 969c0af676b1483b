"""A full disk for the local backend, without filling one: SQLite connections whose writing
statements fail with SQLITE_FULL ("database or disk is full") while `FullDisk.full` is set,
as they do when DATA_DIR's volume runs out. Reads keep working, as on a real full disk.

    disk = FullDisk()
    monkeypatch.setattr(core.backends.sqlite.db, "StudioConnection", disk.connection_class)
    ...open the local backend...; disk.full = True
"""

from __future__ import annotations

import sqlite3
from typing import Any

from core.backends.sqlite.db import StudioConnection

_WRITES = ("INSERT", "UPDATE", "DELETE", "REPLACE")


def disk_full_error() -> sqlite3.OperationalError:
    """The error SQLite raises when a write finds no room."""
    error = sqlite3.OperationalError("database or disk is full")
    error.sqlite_errorcode = sqlite3.SQLITE_FULL  # type: ignore[attr-defined]
    error.sqlite_errorname = "SQLITE_FULL"  # type: ignore[attr-defined]
    return error


class FullDisk:
    """The switch, and the connection class that obeys it (below StudioConnection, in the
    place of SQLite itself, so the app's own handling of the error is what is tested)."""

    def __init__(self) -> None:
        self.full = False
        self.refused = 0  # writes refused so far
        disk = self

        class _SqliteOnThisDisk(sqlite3.Connection):
            def execute(self, sql: str, parameters: Any = (), /) -> sqlite3.Cursor:
                if disk.full and sql.lstrip().upper().startswith(_WRITES):
                    disk.refused += 1
                    raise disk_full_error()
                return super().execute(sql, parameters)

        class Connection(StudioConnection, _SqliteOnThisDisk):
            pass

        self.connection_class = Connection
