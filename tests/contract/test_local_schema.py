"""The SQLite schema lives in core/backends/sqlite/schema/NNN_name.sql. A new database gets
exactly the schema the earlier code (DDL in Python strings) made, and a database left at any
earlier version by that code upgrades to the same schema as a new one."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import pytest

from core.backends.sqlite.db import MIGRATIONS, Database, _statements, load_migrations

FIXTURES = Path(__file__).with_name("fixtures")
# The statements the earlier code ran for versions 1 and 2, and the sqlite_master it left at 3.
OLD_VERSION_SCRIPTS = (FIXTURES / "sqlite_v1.sql", FIXTURES / "sqlite_v2.sql")
OLD_NEW_DATABASE = FIXTURES / "sqlite_v3_master.sql"


def _normalized(sql: str) -> str:
    """A statement without comments and its final `;`, every run of whitespace made one space
    (whitespace is not schema)."""
    code = re.sub(r"--[^\n]*", "", sql)
    return re.sub(r"\s+", " ", code).strip().removesuffix(";")


def _schema(path: Path) -> list[tuple[str, str, str]]:
    """(type, name, normalized sql) of every schema object, in a stable order."""
    with sqlite3.connect(path) as conn:
        rows = conn.execute(
            "SELECT type, name, sql FROM sqlite_master WHERE sql IS NOT NULL ORDER BY type, name"
        ).fetchall()
    return [(kind, name, _normalized(sql)) for kind, name, sql in rows]


def _columns(path: Path) -> list[tuple[str, str]]:
    """(name, declared type) of the jobs table's columns in order, generated ones included."""
    with sqlite3.connect(path) as conn:
        return [(r[1], r[2]) for r in conn.execute("PRAGMA table_xinfo(jobs)")]


def _version(path: Path) -> int:
    with sqlite3.connect(path) as conn:
        return conn.execute("PRAGMA user_version").fetchone()[0]


def _old_database(path: Path, version: int) -> None:
    """A database as the earlier code left it at `version`, from its own statements."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(path) as conn:
        for script in OLD_VERSION_SCRIPTS[:version]:
            for statement in _statements(script.read_text()):
                conn.execute(statement)
        conn.execute(f"PRAGMA user_version = {version}")


@pytest.fixture
def fresh(tmp_path: Path) -> Path:
    """A database made new by the current code."""
    path = tmp_path / "fresh" / "studio.db"
    Database(path).close()
    return path


def test_the_migrations_are_the_numbered_sql_files_in_order() -> None:
    folder = Path(__file__).parents[2] / "core" / "backends" / "sqlite" / "schema"
    names = sorted(p.name for p in folder.glob("*.sql"))
    assert [int(name[:3]) for name in names] == list(range(1, len(names) + 1))
    assert (
        MIGRATIONS
        == load_migrations()
        == tuple((folder / name).read_text(encoding="utf-8") for name in names)
    )
    assert len(MIGRATIONS) == 12


def test_the_first_three_migrations_make_the_schema_the_earlier_code_made(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("core.backends.sqlite.db.MIGRATIONS", MIGRATIONS[:3])
    path = tmp_path / "v3" / "studio.db"
    Database(path).close()
    expected = [_normalized(s) for s in _statements(OLD_NEW_DATABASE.read_text())]
    assert sorted(sql for _kind, _name, sql in _schema(path)) == sorted(expected)
    assert _version(path) == 3


def test_a_version_3_database_upgrades_and_its_sessions_get_ids(
    tmp_path: Path, fresh: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """004_sessions: sessions signed in before it get an opaque id and a last-seen time."""
    old = tmp_path / "v3" / "studio.db"
    with monkeypatch.context() as patch:
        patch.setattr("core.backends.sqlite.db.MIGRATIONS", MIGRATIONS[:3])
        Database(old).close()
    with sqlite3.connect(old) as conn:
        conn.execute(
            "INSERT INTO users (id, email, password_hash, role, disabled, created_at) "
            "VALUES ('u1', 'a@example.com', 'x', 'user', 0, 1)"
        )
        for n in (1, 2):
            conn.execute(
                "INSERT INTO sessions (token_hash, user_id, created_at, expires_at) "
                "VALUES (?, 'u1', ?, 99)",
                (f"hash{n}", n * 10),
            )
    conn.close()

    Database(old).close()

    assert _version(old) == len(MIGRATIONS)
    assert _schema(old) == _schema(fresh)
    with sqlite3.connect(old) as conn:
        rows = conn.execute("SELECT id, last_seen_at, created_at FROM sessions").fetchall()
    conn.close()
    assert len({r[0] for r in rows}) == 2 and all(r[0] for r in rows)
    assert all(r[1] == r[2] for r in rows)


@pytest.mark.parametrize("version", [1, 2])
def test_an_old_database_upgrades_to_the_schema_of_a_new_one(
    tmp_path: Path, fresh: Path, version: int
) -> None:
    old = tmp_path / f"v{version}" / "studio.db"
    _old_database(old, version)

    Database(old).close()

    assert _version(old) == len(MIGRATIONS)
    assert _schema(old) == _schema(fresh)
    assert _columns(old) == _columns(fresh)


def test_reopening_a_current_database_changes_nothing(fresh: Path) -> None:
    before = _schema(fresh)
    Database(fresh).close()
    assert _schema(fresh) == before and _version(fresh) == len(MIGRATIONS)


def test_a_failed_migration_leaves_the_old_version_untouched(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    old = tmp_path / "v2" / "studio.db"
    _old_database(old, 2)
    before = _schema(old)
    broken = (*MIGRATIONS[:2], MIGRATIONS[2] + "\nCREATE INDEX broken ON no_such_table (x);\n")
    monkeypatch.setattr("core.backends.sqlite.db.MIGRATIONS", broken)

    with pytest.raises(sqlite3.OperationalError, match="no_such_table"):
        Database(old)

    assert _version(old) == 2 and _schema(old) == before
