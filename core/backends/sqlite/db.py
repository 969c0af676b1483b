"""The embedded `local` backend: SQLite (WAL) at `DATA_DIR/studio.db` for jobs and accounts,
files under `DATA_DIR/blobs/` for images. Zero configuration; safe to share between the app's
threads and several processes (the app and headless workers) on one machine.

Connections are per thread (SQLite connections must not be shared mid-transaction); every write
that reads before it writes runs in `BEGIN IMMEDIATE`, so it holds the single writer lock for its
whole check-then-act, across processes too. The schema lives in schema/NNN_name.sql, one file
per version (`PRAGMA user_version`), applied in order on open; each store keeps its own
queries together at the top of its module: jobs.py (submission, listing, review, purge
candidates), queue.py (claim, leases), blobs.py (files, signed URLs), accounts.py (users,
sessions, API tokens), admin.py (sweeps, statistics, purges).
"""

from __future__ import annotations

import errno
import json
import logging
import os
import re
import shutil
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any, overload

from core.domain.errors import StorageFull
from core.domain.models import Job, JobKind, JobStatus, ReviewStatus

log = logging.getLogger(__name__)

DB_FILE = "studio.db"
BUSY_TIMEOUT_MS = 10_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# DATA_DIR counts as full below the smaller of these (so a small volume is not always "full").
LOW_SPACE_BYTES = 64 * 1024 * 1024
LOW_SPACE_FRACTION = 0.02
# A storage error is reported by /api/health until a write succeeds or it is this old.
STORAGE_ERROR_SECONDS = 60.0
_SQLITE_STORAGE_CODES = (sqlite3.SQLITE_FULL, sqlite3.SQLITE_IOERR)
_SQLITE_STORAGE_MESSAGES = ("database or disk is full", "disk i/o error")
_OS_STORAGE_ERRNOS = (errno.ENOSPC, errno.EDQUOT)

# ---- the schema: versioned migrations in schema/NNN_name.sql ----------------------------------

SCHEMA_PACKAGE = "core.backends.sqlite"
SCHEMA_FOLDER = "schema"
_MIGRATION_NAME = re.compile(r"(?P<version>\d{3})_[a-z0-9_]+\.sql")
# SQLite has no `ADD COLUMN IF NOT EXISTS` nor `DROP COLUMN IF EXISTS`; see _apply.
_COLUMN_CHANGE = re.compile(
    r"(?:\s*--[^\n]*\n)*\s*ALTER\s+TABLE\s+(?P<table>\w+)\s+(?P<action>ADD|DROP)\s+"
    r"(?:COLUMN\s+)?(?P<column>\w+)",
    re.IGNORECASE,
)


def load_migrations() -> tuple[str, ...]:
    """The migration scripts of schema/, in order: file NNN upgrades version NNN - 1 to NNN.
    Read as package resources, so they are found in an installed package too."""
    folder = resources.files(SCHEMA_PACKAGE) / SCHEMA_FOLDER
    scripts: dict[int, str] = {}
    for entry in folder.iterdir():
        match = _MIGRATION_NAME.fullmatch(entry.name)
        if match is None:
            continue
        version = int(match["version"])
        if version in scripts:
            raise RuntimeError(f"two schema migrations are numbered {version:03d}")
        scripts[version] = entry.read_text(encoding="utf-8")
    if sorted(scripts) != list(range(1, len(scripts) + 1)):
        raise RuntimeError(
            f"schema migrations must be numbered 001 on without gaps: {sorted(scripts)}"
        )
    return tuple(scripts[version] for version in sorted(scripts))


# Each script upgrades the schema from version i to i + 1. Never edit a shipped one; add a file.
MIGRATIONS: tuple[str, ...] = load_migrations()


def _apply(conn: sqlite3.Connection, script: str) -> None:
    """Run one migration script statement by statement, inside the caller's transaction.
    A column change is checked first: an ADD COLUMN of a column the table already has, or a
    DROP COLUMN of one it lacks, is skipped (migration 3 meets databases that hold some of its
    columns already)."""
    for statement in _statements(script):
        if _column_change_is_done(conn, statement):
            continue
        conn.execute(statement)


def _column_change_is_done(conn: sqlite3.Connection, statement: str) -> bool:
    """True when `statement` adds a column that exists or drops one that does not."""
    change = _COLUMN_CHANGE.match(statement)
    if change is None:
        return False
    present = change["column"] in _columns(conn, change["table"])
    return present == (change["action"].upper() == "ADD")


def _columns(conn: sqlite3.Connection, table: str) -> set[str]:
    """The names of a table's columns, generated ones included."""
    return {row[1] for row in conn.execute(f"PRAGMA table_xinfo({table})")}


# ---- time: stored as integer microseconds since the epoch (UTC), exact and sortable ---------


def now_us() -> int:
    """The current time in microseconds since the epoch."""
    return time.time_ns() // 1000


def to_us(value: datetime) -> int:
    """A datetime as epoch microseconds (naive datetimes are taken as UTC)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    delta = value - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


@overload
def from_us(value: int) -> datetime: ...
@overload
def from_us(value: int | None) -> datetime | None: ...
def from_us(value: int | None) -> datetime | None:
    """Epoch microseconds as an aware UTC datetime (None stays None)."""
    return None if value is None else _EPOCH + timedelta(microseconds=value)


def seconds_us(seconds: float) -> int:
    return round(seconds * 1_000_000)


# ---- job rows ----------------------------------------------------------------------------------

JOB_COLUMNS = (
    "id, user_id, provider, model, kind, prompt, params, input_path, status, attempts, "
    "max_attempts, run_after, lease_owner, lease_expires_at, error_code, error_message, "
    "result_path, thumb_path, result_meta, review_status, review_note, reviewed_by, reviewed_at, "
    "batch_id, idempotency_key, created_at, started_at, finished_at, updated_at, "
    "parent_id, mask_path, reference_paths, starred_at"
)


def job_from_row(row: sqlite3.Row) -> Job:
    """A Job from a row selected with JOB_COLUMNS."""
    return Job(
        id=row["id"],
        user_id=row["user_id"],
        provider=row["provider"],
        model=row["model"],
        kind=JobKind(row["kind"]),
        prompt=row["prompt"],
        params=json.loads(row["params"] or "{}"),
        status=JobStatus(row["status"]),
        attempts=row["attempts"],
        max_attempts=row["max_attempts"],
        created_at=from_us(row["created_at"]),
        updated_at=from_us(row["updated_at"]),
        run_after=from_us(row["run_after"]),
        batch_id=row["batch_id"],
        input_path=row["input_path"],
        lease_owner=row["lease_owner"],
        lease_expires_at=from_us(row["lease_expires_at"]),
        error_code=row["error_code"],
        error_message=row["error_message"],
        result_path=row["result_path"],
        thumb_path=row["thumb_path"],
        result_meta=json.loads(row["result_meta"] or "{}"),
        review_status=ReviewStatus(row["review_status"]),
        review_note=row["review_note"],
        reviewed_by=row["reviewed_by"],
        reviewed_at=from_us(row["reviewed_at"]),
        idempotency_key=row["idempotency_key"],
        started_at=from_us(row["started_at"]),
        finished_at=from_us(row["finished_at"]),
        parent_id=row["parent_id"],
        mask_path=row["mask_path"],
        reference_paths=tuple(json.loads(row["reference_paths"] or "[]")),
        starred=row["starred_at"] is not None,
    )


def sql_marks(values: list[Any]) -> str:
    """`?, ?, ?` for an IN list of `values`."""
    return ", ".join("?" * len(values))


# ---- storage trouble ---------------------------------------------------------------------------


def is_storage_full(exc: BaseException) -> bool:
    """True for a write that failed because DATA_DIR's disk is full or failing: SQLite's
    SQLITE_FULL / SQLITE_IOERR, or ENOSPC / EDQUOT from the file system."""
    if isinstance(exc, sqlite3.Error):
        code = getattr(exc, "sqlite_errorcode", None)
        if code is not None:
            return code & 0xFF in _SQLITE_STORAGE_CODES
        return str(exc).lower().startswith(_SQLITE_STORAGE_MESSAGES)
    return isinstance(exc, OSError) and exc.errno in _OS_STORAGE_ERRNOS


class StorageMonitor:
    """What /api/health says about DATA_DIR: whether little free space is left, and the last
    storage-full error of the database or of the files (each until a write of the same kind
    succeeds: the database may still find room in its log when an image no longer fits, or
    until it is STORAGE_ERROR_SECONDS old)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._failed_at: dict[str, float] = {}  # "database" / "files": monotonic time

    def failed(self, exc: BaseException, area: str = "database") -> StorageFull:
        """Note a write that hit a full disk; the error to raise instead (no path in it).
        Logged once per outage, not once per request."""
        if area not in self._failed_at:
            log.error("storage full: a %s write under DATA_DIR failed: %s", area, _error_name(exc))
        self._failed_at[area] = time.monotonic()
        return StorageFull()

    def succeeded(self, area: str = "database") -> None:
        """A write of this kind went through: it takes writes again."""
        if self._failed_at.pop(area, None) is not None:
            log.info("storage: %s writes work again", area)

    def problem(self) -> str | None:
        """Why DATA_DIR cannot take writes now, in plain words; None when it can."""
        try:
            usage = shutil.disk_usage(self.root)
        except OSError as exc:
            return f"The data directory cannot be read ({_error_name(exc)})."
        if usage.free < min(LOW_SPACE_BYTES, usage.total * LOW_SPACE_FRACTION):
            return f"Storage is full: {usage.free // 1024} KB free in the data directory."
        now = time.monotonic()
        recent = sorted(
            a for a, t in list(self._failed_at.items()) if now - t < STORAGE_ERROR_SECONDS
        )
        if recent:
            return (
                f"Storage is full: a {' and a '.join(recent)} write failed for lack of space "
                "within the last minute."
            )
        return None


def _error_name(exc: BaseException) -> str:
    """The error's kind without paths or values: `OSError ENOSPC`, `OperationalError ...`."""
    if isinstance(exc, OSError) and exc.errno is not None:
        return f"{type(exc).__name__} {errno.errorcode.get(exc.errno, exc.errno)}"
    if isinstance(exc, sqlite3.Error):
        return f"{type(exc).__name__}: {exc}"  # SQLite's messages hold no values
    return type(exc).__name__


class StudioConnection(sqlite3.Connection):
    """A connection whose statements raise StorageFull (and tell the monitor) when the disk
    is full, instead of an opaque OperationalError."""

    storage: StorageMonitor | None = None

    def execute(self, sql: str, parameters: Any = (), /) -> sqlite3.Cursor:
        try:
            return super().execute(sql, parameters)
        except sqlite3.Error as exc:
            if self.storage is not None and is_storage_full(exc):
                raise self.storage.failed(exc) from exc
            raise


# ---- connections -------------------------------------------------------------------------------


class Database:
    """One SQLite file, one connection per thread, schema migrated on open."""

    def __init__(self, path: Path, storage: StorageMonitor | None = None) -> None:
        self.path = path
        self.storage = storage or StorageMonitor(path.parent)
        self._local = threading.local()
        self._lock = threading.Lock()
        self._connections: dict[int, tuple[threading.Thread, sqlite3.Connection]] = {}
        self._closed = False
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        # Create the file private: SQLite gives its -wal and -shm files the same mode.
        os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
        self._migrate()

    def _connect(self) -> StudioConnection:
        # Autocommit mode: transactions are opened explicitly (see `write`).
        conn = sqlite3.connect(
            self.path,
            timeout=BUSY_TIMEOUT_MS / 1000,
            isolation_level=None,
            check_same_thread=False,
            factory=StudioConnection,
        )
        conn.storage = self.storage
        conn.row_factory = sqlite3.Row
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA foreign_keys = ON")
        conn.create_function("casefold", 1, _casefold, deterministic=True)
        return conn

    @property
    def conn(self) -> sqlite3.Connection:
        """This thread's connection."""
        conn = getattr(self._local, "conn", None)
        if conn is None:
            if self._closed:
                raise RuntimeError("the local backend is closed")
            conn = self._connect()
            self._local.conn = conn
            with self._lock:
                # Threads come and go (Streamlit sessions): close the connections of dead ones.
                for ident, (thread, other) in list(self._connections.items()):
                    if not thread.is_alive():
                        other.close()
                        del self._connections[ident]
                self._connections[threading.get_ident()] = (threading.current_thread(), conn)
        return conn

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """A write transaction holding the database's writer lock from its first statement."""
        with self._transaction("BEGIN IMMEDIATE") as conn:
            yield conn

    @contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        """A read transaction: every statement in it sees the same snapshot."""
        with self._transaction("BEGIN") as conn:
            yield conn

    @contextmanager
    def _transaction(self, begin: str) -> Iterator[sqlite3.Connection]:
        conn = self.conn
        conn.execute(begin)
        try:
            yield conn
            conn.execute("COMMIT")
        except BaseException as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            if is_storage_full(exc):  # from a cursor's fetch rather than an execute
                raise self.storage.failed(exc) from exc
            raise
        if begin != "BEGIN":
            self.storage.succeeded()

    def _migrate(self) -> None:
        conn = self._connect()
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                version = conn.execute("PRAGMA user_version").fetchone()[0]
                if version > len(MIGRATIONS):
                    raise RuntimeError(
                        f"{self.path} has schema version {version}, newer than this code "
                        f"({len(MIGRATIONS)}); upgrade the studio."
                    )
                for number in range(version, len(MIGRATIONS)):
                    _apply(conn, MIGRATIONS[number])
                    conn.execute(f"PRAGMA user_version = {number + 1}")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
        finally:
            conn.close()

    def close(self) -> None:
        """Close every connection this object opened."""
        with self._lock:
            self._closed = True
            for _thread, conn in self._connections.values():
                conn.close()
            self._connections.clear()
        self._local = threading.local()


def _statements(script: str) -> list[str]:
    """Split a migration into statements (executescript would commit our transaction)."""
    out, buf = [], ""
    for line in script.splitlines(keepends=True):
        buf += line
        if sqlite3.complete_statement(buf):
            if buf.strip():
                out.append(buf.strip())
            buf = ""
    if buf.strip():
        out.append(buf.strip())
    return out


def _casefold(value: str | None) -> str | None:
    return None if value is None else value.casefold()
