"""Fixtures for the tests on real PostgreSQL 15: the cluster (one per session, schema applied
twice), a clean database per test, helpers to act as a role with JWT claims set, and the test
gateway with a Supabase backend over it."""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import fields
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from core.domain.settings import Settings
from core.ports import Backend
from tests.integration.gateway import Gateway
from tests.integration.pg import PgCluster, reset_database, shared_cluster
from tests.integration.supabase_factory import gateway, make_supabase_backend


@pytest.fixture(scope="session")
def pg() -> PgCluster:
    return shared_cluster()


@pytest.fixture
def db(pg: PgCluster) -> Iterator[psycopg.Connection]:
    """A superuser connection to a freshly emptied database."""
    reset_database(pg)
    with pg.connect(row_factory=dict_row) as conn:
        yield conn


@contextlib.contextmanager
def acting_as(
    conn: psycopg.Connection, role: str, user_id: str | None = None
) -> Iterator[psycopg.Connection]:
    """One transaction as PostgREST runs a request: `set local role` plus the JWT claims."""
    claims: dict[str, Any] = {"role": role}
    if user_id is not None:
        claims.update(sub=user_id, aud="authenticated")
    with conn.transaction():
        conn.execute(f"set local role {role}")
        conn.execute("select set_config('request.jwt.claims', %s, true)", [json.dumps(claims)])
        yield conn


@pytest.fixture
def role_conn(pg: PgCluster) -> Iterator[Callable[[], psycopg.Connection]]:
    """New connections as `authenticator` (the login role PostgREST uses), closed afterwards."""
    opened: list[psycopg.Connection] = []

    def make() -> psycopg.Connection:
        conn = pg.connect("authenticator", row_factory=dict_row)
        opened.append(conn)
        return conn

    yield make
    for conn in opened:
        conn.close()


@pytest.fixture
def make_user(db: psycopg.Connection) -> Callable[..., str]:
    """Insert an auth.users row (the trigger makes the profile) with `role` (None: whatever
    the trigger chose), its email confirmed unless `confirmed=False`; return its id."""

    def make(email: str | None = None, role: str | None = "user", *, confirmed: bool = True) -> str:
        email = email or f"{uuid.uuid4().hex[:10]}@example.com"
        # confirmed: as Supabase signs up with email confirmation off (or after the link)
        row = db.execute(
            "insert into auth.users (email, email_confirmed_at) "
            "values (%s, case when %s then now() end) returning id",
            [email, confirmed],
        ).fetchone()
        user_id = str(row["id"])
        if role is not None:
            db.execute("update public.profiles set role = %s where id = %s", [role, user_id])
        return user_id

    return make


def job_json(user_id: str, n: int = 1, *, key: str | None = None, **fields: Any) -> Jsonb:
    """A submit_jobs batch of n jobs."""
    batch = str(uuid.uuid4())
    jobs = [
        {
            "id": str(uuid.uuid4()),
            "user_id": user_id,
            "provider": "demo",
            "model": "demo-1",
            "kind": "generate",
            "prompt": fields.get("prompt", "a lighthouse"),
            "params": fields.get("params", {}),
            "batch_id": batch,
            "max_attempts": fields.get("max_attempts", 4),
            "idempotency_key": key,
        }
        for _ in range(n)
    ]
    return Jsonb(jobs)


@pytest.fixture
def submit(db: psycopg.Connection) -> Callable[..., list[dict[str, Any]]]:
    """Queue jobs for a user as the service role; return the rows."""

    def run(user_id: str, n: int = 1, **fields: Any) -> list[dict[str, Any]]:
        with acting_as(db, "service_role"):
            return db.execute(
                "select * from public.submit_jobs_with_quota(%s, %s, %s)",
                [job_json(user_id, n, **fields), 1_000_000, None],
            ).fetchall()

    return run


@pytest.fixture
def gw() -> Iterator[Gateway]:
    """The test gateway (one per session); what a test may switch on is put back afterwards."""
    gw = gateway()
    yield gw
    defaults = {field.name: field.default for field in fields(Gateway)}
    for name in ("record", "autoconfirm", "access_ttl", "refresh_fault", "user_fault", "delay"):
        setattr(gw, name, defaults[name])
    gw.recorded.clear()
    gw.requests.clear()
    gw.sent_emails.clear()


@pytest.fixture
def backend(settings: Settings, tmp_path: Path) -> Iterator[Backend]:
    """A Supabase backend through the gateway (its first account is an admin)."""
    yield from make_supabase_backend(settings, tmp_path)
