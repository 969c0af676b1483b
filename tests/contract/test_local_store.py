"""Local-only storage facts: the SQLite file's mode and schema version, secrets stored only as
digests, and open_backend's choice."""

from __future__ import annotations

import sqlite3
from dataclasses import replace

import pytest

from core.backends import open_backend
from core.backends.local import MIGRATIONS, LocalBackend, _statements, open_local_backend
from tests.contract.support import FAST_HASHER, PASSWORD


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


def test_open_backend_with_a_supabase_url_loads_the_supabase_module_lazily(settings):
    remote = replace(settings, supabase_url="http://127.0.0.1:9")
    try:
        import core.backends.supabase  # noqa: F401
    except ImportError:
        with pytest.raises(ImportError):
            open_backend(remote)
    else:
        pytest.skip("the supabase backend exists; its own tests cover opening it")


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
