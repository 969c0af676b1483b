"""The embedded `local` backend: SQLite (WAL) at `DATA_DIR/studio.db` for jobs and accounts,
files under `DATA_DIR/blobs/` for images. Zero configuration; safe to share between the app's
threads and several processes (the app and headless workers) on one machine.

Connections are per thread (SQLite connections must not be shared mid-transaction); every write
that reads before it writes runs in `BEGIN IMMEDIATE`, so it holds the single writer lock for its
whole check-then-act, across processes too. The schema lives here, versioned with
`PRAGMA user_version`; each store keeps its own statements together at the top of its module:
local_jobs.py (submission, listing, review, purge candidates), local_queue.py (claim, leases),
local_blobs.py (files, signed URLs), local_accounts.py (users, sessions, API tokens).
"""

from __future__ import annotations

import errno
import json
import logging
import os
import shutil
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
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

# ---- the admin store's schema (migration 3; queries in local_admin.py) -------------------------

ADMIN_SCHEMA = [
    """CREATE TABLE IF NOT EXISTS sweep_runs (
        id            TEXT PRIMARY KEY,
        trigger       TEXT NOT NULL,
        owner         TEXT NOT NULL,
        started_at    INTEGER NOT NULL,
        finished_at   INTEGER NOT NULL,
        deleted_jobs  INTEGER NOT NULL,
        deleted_bytes INTEGER NOT NULL,
        kept_jobs     INTEGER NOT NULL,
        errors        TEXT NOT NULL DEFAULT '[]'
    )""",
    "CREATE INDEX IF NOT EXISTS sweep_runs_started ON sweep_runs (started_at DESC)",
    # The review queue: done jobs of one review status in created order (both directions).
    "CREATE INDEX IF NOT EXISTS jobs_review_queue ON jobs (status, review_status, created_at, id)",
    # Every done job in created order (review queue without a review-status filter).
    "CREATE INDEX IF NOT EXISTS jobs_status_created ON jobs (status, created_at, id)",
    # The statistics read only these indexes, never whole rows; the queries name them with
    # INDEXED BY, and the ones that group follow the index order so SQLite need not sort.
    # (Indexes of earlier development versions, replaced by the ones below.)
    "DROP INDEX IF EXISTS jobs_stats",
    "DROP INDEX IF EXISTS jobs_usage",
    "DROP INDEX IF EXISTS jobs_spend",
    "DROP INDEX IF EXISTS jobs_purge",
    "DROP INDEX IF EXISTS jobs_purge_summary",
    "DROP INDEX IF EXISTS jobs_spend_groups",
    "CREATE INDEX IF NOT EXISTS jobs_by_day ON jobs "
    "(created_at, provider, status, error_code, started_at, finished_at)",
    "CREATE INDEX IF NOT EXISTS jobs_user_usage ON jobs (user_id, created_at, status)",
    "CREATE INDEX IF NOT EXISTS jobs_spend_by ON jobs "
    "(status, provider, model, user_id, created_at, admin_spend_usd)",
    # Purge batches select and order by the cutoff expression; previews sum the figures.
    "CREATE INDEX IF NOT EXISTS jobs_purge_cover ON jobs (status, "
    "COALESCE(finished_at, created_at), id, user_id, review_status, admin_bytes, admin_objects)",
]

# Virtual columns (computed on read, never stored) over the job's JSON and paths, so that the
# indexes of ADMIN_SCHEMA can cover the figures the admin queries sum without reading whole rows.
# `admin_bytes` counts exactly as core.services.purge.job_bytes does (numbers only).
GENERATED_COLUMNS: dict[str, str] = {
    "admin_bytes": (
        "INTEGER GENERATED ALWAYS AS (CASE WHEN json_type(result_meta, '$.bytes') "
        "IN ('integer', 'real') THEN CAST(json_extract(result_meta, '$.bytes') AS INTEGER) "
        "ELSE 0 END) VIRTUAL"
    ),
    # What a job cost: the provider's figure (`cost_usd`), else the adapter's estimate
    # (`estimated_cost_usd`); NULL when neither is a number.
    "admin_spend_usd": (
        "REAL GENERATED ALWAYS AS (CASE "
        "WHEN json_type(result_meta, '$.cost_usd') IN ('integer', 'real') "
        "THEN json_extract(result_meta, '$.cost_usd') "
        "WHEN json_type(result_meta, '$.estimated_cost_usd') IN ('integer', 'real') "
        "THEN json_extract(result_meta, '$.estimated_cost_usd') END) VIRTUAL"
    ),
    "admin_objects": (
        "INTEGER GENERATED ALWAYS AS ((result_path IS NOT NULL) + (thumb_path IS NOT NULL)) VIRTUAL"
    ),
}

# Generated columns of earlier development versions, with the index that used them.
RETIRED_COLUMNS: dict[str, str] = {"admin_cost_usd": "jobs_spend_groups"}


def _admin_schema(conn: sqlite3.Connection) -> None:
    """Migration 3: the admin store's table, virtual columns and indexes. Earlier versions made
    them on every open, outside the versioned schema, so a version-2 database may already hold
    any of them (or retired ones): each step checks first."""
    existing = {row[1] for row in conn.execute("PRAGMA table_xinfo(jobs)")}
    for name, index in RETIRED_COLUMNS.items():
        if name in existing:
            conn.execute(f"DROP INDEX IF EXISTS {index}")
            conn.execute(f"ALTER TABLE jobs DROP COLUMN {name}")
    for name, declaration in GENERATED_COLUMNS.items():
        if name not in existing:
            conn.execute(f"ALTER TABLE jobs ADD COLUMN {name} {declaration}")
    for statement in ADMIN_SCHEMA:
        conn.execute(statement)


# Each entry upgrades the schema from version i to i + 1: a script, or a function for a step
# that must look before it acts. Never edit a shipped entry; append.
MIGRATIONS: list[str | Callable[[sqlite3.Connection], None]] = [
    """
    CREATE TABLE jobs (
        id               TEXT PRIMARY KEY,
        user_id          TEXT NOT NULL,
        provider         TEXT NOT NULL,
        model            TEXT NOT NULL,
        kind             TEXT NOT NULL DEFAULT 'generate'
                         CHECK (kind IN ('generate', 'edit')),
        prompt           TEXT NOT NULL,
        params           TEXT NOT NULL DEFAULT '{}',
        input_path       TEXT,
        status           TEXT NOT NULL DEFAULT 'queued'
                         CHECK (status IN ('queued', 'processing', 'done', 'failed', 'canceled')),
        attempts         INTEGER NOT NULL DEFAULT 0,
        max_attempts     INTEGER NOT NULL,
        run_after        INTEGER NOT NULL,
        lease_owner      TEXT,
        lease_expires_at INTEGER,
        error_code       TEXT,
        error_message    TEXT,
        result_path      TEXT,
        thumb_path       TEXT,
        result_meta      TEXT NOT NULL DEFAULT '{}',
        review_status    TEXT NOT NULL DEFAULT 'unreviewed'
                         CHECK (review_status IN ('unreviewed', 'approved', 'rejected', 'flagged')),
        review_note      TEXT,
        reviewed_by      TEXT,
        reviewed_at      INTEGER,
        batch_id         TEXT,
        idempotency_key  TEXT,
        created_at       INTEGER NOT NULL,
        started_at       INTEGER,
        finished_at      INTEGER,
        updated_at       INTEGER NOT NULL
    );
    CREATE INDEX jobs_history ON jobs (user_id, created_at DESC, id DESC);
    CREATE INDEX jobs_all_history ON jobs (created_at DESC, id DESC);
    CREATE INDEX jobs_claim ON jobs (status, run_after);
    CREATE INDEX jobs_leases ON jobs (status, lease_expires_at);
    CREATE INDEX jobs_sweeper ON jobs (status, finished_at);
    CREATE INDEX jobs_review ON jobs (review_status, created_at DESC);
    CREATE INDEX jobs_batch ON jobs (batch_id);

    -- One row per idempotency key: the primary key makes a second batch for a key impossible.
    CREATE TABLE idempotency_keys (
        user_id    TEXT NOT NULL,
        key        TEXT NOT NULL,
        batch_id   TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        PRIMARY KEY (user_id, key)
    );

    -- Submissions are logged apart from jobs so that deleting jobs frees no rate-limit or
    -- quota room. Rows older than two days are pruned on the next submission.
    CREATE TABLE submissions (
        user_id    TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        count      INTEGER NOT NULL
    );
    CREATE INDEX submissions_user ON submissions (user_id, created_at);

    CREATE TABLE leases (
        name       TEXT PRIMARY KEY,
        owner      TEXT NOT NULL,
        expires_at INTEGER NOT NULL
    );

    CREATE TABLE users (
        id            TEXT PRIMARY KEY,
        email         TEXT NOT NULL UNIQUE,
        password_hash TEXT NOT NULL,
        role          TEXT NOT NULL DEFAULT 'user' CHECK (role IN ('user', 'reviewer', 'admin')),
        disabled      INTEGER NOT NULL DEFAULT 0,
        daily_quota   INTEGER,
        created_at    INTEGER NOT NULL
    );

    CREATE TABLE sessions (
        token_hash TEXT PRIMARY KEY,
        user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
        created_at INTEGER NOT NULL,
        expires_at INTEGER NOT NULL
    );
    CREATE INDEX sessions_user ON sessions (user_id);

    CREATE TABLE api_tokens (
        id           TEXT PRIMARY KEY,
        user_id      TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
        name         TEXT NOT NULL,
        token_hash   TEXT NOT NULL UNIQUE,
        created_at   INTEGER NOT NULL,
        last_used_at INTEGER,
        revoked      INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX api_tokens_user ON api_tokens (user_id, created_at);

    CREATE TABLE sign_in_failures (
        email TEXT NOT NULL,
        at    INTEGER NOT NULL
    );
    CREATE INDEX sign_in_failures_email ON sign_in_failures (email, at);
    """,
    # 2: claim and queue positions walk queued jobs in created order and stop early (the
    # covering index also answers run_after without reading rows); the batch index lets
    # delete_jobs drop idempotency keys whose batch is gone.
    """
    DROP INDEX jobs_claim;
    CREATE INDEX jobs_queue_order ON jobs (status, created_at, id, run_after);
    CREATE INDEX idempotency_keys_batch ON idempotency_keys (batch_id);
    """,
    # 3: see _admin_schema.
    _admin_schema,
]


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
    "batch_id, idempotency_key, created_at, started_at, finished_at, updated_at"
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
                    migration = MIGRATIONS[number]
                    if callable(migration):
                        migration(conn)
                    else:
                        for statement in _statements(migration):
                            conn.execute(statement)
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
