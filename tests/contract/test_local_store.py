"""Local-only storage facts: the SQLite file's mode and schema version, secrets stored only as
digests, and open_backend's choice."""

from __future__ import annotations

import sqlite3
import stat
import subprocess
import sys
import threading
from datetime import UTC, datetime

import pytest

from core.backends import open_backend
from core.backends.sqlite import LocalBackend, open_local_backend
from core.backends.sqlite.db import MIGRATIONS, _statements
from core.domain.models import JobStatus
from tests.constants import FAST_HASHER, PASSWORD


@pytest.fixture
def local(settings):
    backend = open_local_backend(settings, password_hasher=FAST_HASHER)
    yield backend
    backend.close()


def _raw(settings) -> sqlite3.Connection:
    return sqlite3.connect(settings.data_dir / "studio.db")


def test_open_backend_without_a_supabase_url_is_local(settings):
    backend = open_backend(settings)
    try:
        assert isinstance(backend, LocalBackend)
        assert backend.name == "local"
        assert (settings.data_dir / "studio.db").is_file()
    finally:
        backend.close()


def test_the_local_default_never_imports_the_supabase_backend(settings):
    code = (
        "import sys; from pathlib import Path; from core.domain.settings import Settings; "
        "from core.backends import open_backend; "
        f"open_backend(Settings(data_dir=Path({str(settings.data_dir)!r}))).close(); "
        "print(sorted(m for m in sys.modules if m.startswith(('supabase', 'core.backends.supa'))))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == "[]"


def test_the_database_uses_wal_and_records_its_schema_version(local, settings):
    with _raw(settings) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)


def test_reopening_keeps_data_and_does_not_migrate_again(settings):
    first = open_local_backend(settings, password_hasher=FAST_HASHER)
    user = first.accounts.sign_up("me@example.com", PASSWORD, admin_emails=frozenset()).user
    first.close()

    second = open_local_backend(settings, password_hasher=FAST_HASHER)
    try:
        assert second.accounts.get_user(user.id) == user
    finally:
        second.close()


def test_a_database_from_newer_code_is_refused(settings):
    open_local_backend(settings).close()
    with _raw(settings) as conn:
        conn.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    with pytest.raises(RuntimeError, match="newer"):
        open_local_backend(settings)


def test_passwords_sessions_and_tokens_are_stored_only_as_hashes(local, settings):
    signed = local.accounts.sign_up("me@example.com", PASSWORD, admin_emails=frozenset())
    _token, secret = local.accounts.create_api_token(signed.user.id, "ci")

    with _raw(settings) as conn:
        dump = "\n".join(conn.iterdump())

    assert PASSWORD not in dump
    assert signed.session_token not in dump
    assert secret not in dump
    assert "$argon2id$" in dump
    assert secret.startswith("ist_")


def test_a_closed_backend_refuses_further_use(settings):
    backend = open_local_backend(settings)
    backend.close()
    with pytest.raises(RuntimeError):
        backend.jobs.queue_depth()


def test_a_version_1_database_is_upgraded_in_place_keeping_its_rows(settings):
    settings.data_dir.mkdir(parents=True)
    with _raw(settings) as conn:
        for statement in _statements(MIGRATIONS[0]):
            conn.execute(statement)
        conn.execute("PRAGMA user_version = 1")
        conn.execute(
            "INSERT INTO users (id, email, password_hash, role, created_at) "
            "VALUES ('u1', 'old@example.com', 'x', 'admin', 0)"
        )

    backend = open_local_backend(settings)
    try:
        assert backend.accounts.get_user("u1").email == "old@example.com"
    finally:
        backend.close()
    with _raw(settings) as conn:
        indexes = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='index'")}
        assert conn.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
    assert "jobs_queue_order" in indexes and "jobs_claim" not in indexes


def _admin_schema_of(conn: sqlite3.Connection) -> tuple[set[str], set[str], set[str]]:
    """(jobs columns, tables, indexes) of a database."""
    columns = {r[1] for r in conn.execute("PRAGMA table_xinfo(jobs)")}
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    indexes = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='index'")}
    return columns, tables, indexes


ADMIN_COLUMNS = {"admin_bytes", "admin_spend_usd", "admin_objects"}
# jobs_by_day and jobs_spend_by (migration 3) served the statistics until migration 12 dropped them
ADMIN_INDEXES = {"jobs_review_queue", "jobs_purge_cover"}


def test_a_version_2_database_gets_the_admin_schema_as_migration_3_keeping_its_jobs(settings):
    settings.data_dir.mkdir(parents=True)
    with _raw(settings) as conn:
        for script in MIGRATIONS[:2]:
            for statement in _statements(script):
                conn.execute(statement)
        conn.execute("PRAGMA user_version = 2")
        conn.execute(
            "INSERT INTO jobs (id, user_id, provider, model, prompt, status, max_attempts, "
            "run_after, result_path, thumb_path, result_meta, created_at, finished_at, "
            "updated_at) VALUES ('j1', 'u1', 'demo', 'demo-1', 'old', 'done', 4, 0, "
            "'u1/j1.png', 'u1/j1.thumb.webp', '{\"bytes\": 1234}', 1, 2, 2)"
        )

    backend = open_local_backend(settings)
    try:
        assert backend.jobs.get_job("j1").result_path == "u1/j1.png"
        summary = backend.admin.purge_summary(
            statuses=(JobStatus.DONE,), finished_before=datetime.now(UTC)
        )
        assert (summary.jobs, summary.bytes, summary.objects) == (1, 1234, 2)
    finally:
        backend.close()
    with _raw(settings) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
        columns, tables, indexes = _admin_schema_of(conn)
    assert columns >= ADMIN_COLUMNS and "sweep_runs" in tables and indexes >= ADMIN_INDEXES


def test_a_version_2_database_already_holding_the_admin_schema_upgrades_too(settings):
    # The previous release made the admin schema on every open, outside the version count.
    open_local_backend(settings).close()
    with _raw(settings) as conn:
        before = _admin_schema_of(conn)
        conn.execute("PRAGMA user_version = 2")

    open_local_backend(settings).close()

    with _raw(settings) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
        assert _admin_schema_of(conn) == before


def test_the_data_directory_and_database_files_are_private(local, settings):
    local.accounts.sign_up("me@example.com", PASSWORD, admin_emails=frozenset())
    local.blobs.put("u/j.png", b"img", "image/png")

    def mode(path):
        return stat.S_IMODE(path.stat().st_mode)

    assert mode(settings.data_dir) == 0o700
    for name in ("studio.db", "studio.db-wal", "studio.db-shm"):
        assert mode(settings.data_dir / name) == 0o600, name
    assert mode(settings.data_dir / "blobs" / "u" / "j.png") == 0o600


def test_connections_of_finished_threads_are_closed(local):
    def use() -> None:
        local.jobs.queue_depth()

    for _ in range(20):
        worker = threading.Thread(target=use)
        worker.start()
        worker.join()
    local.jobs.queue_depth()

    assert len(local.db._connections) <= 2
