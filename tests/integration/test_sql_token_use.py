"""use_api_token (supabase-schema.sql): the lookup behind every API request records the
token's last use at most once a minute, and never fails because that write did, so reading
through the API does not depend on writing."""

from __future__ import annotations

import hashlib
import uuid
from datetime import datetime

import psycopg

from tests.integration.conftest import acting_as


def _token(db: psycopg.Connection, user_id: str) -> str:
    """A live API token of the user; its hash, as the server looks it up."""
    token_hash = hashlib.sha256(uuid.uuid4().bytes).hexdigest()
    db.execute(
        "insert into public.api_tokens (user_id, name, token_hash) values (%s, 'tests', %s)",
        [user_id, token_hash],
    )
    return token_hash


def _use(db: psycopg.Connection, token_hash: str) -> list[str]:
    with acting_as(db, "service_role"):
        rows = db.execute("select * from public.use_api_token(%s)", [token_hash]).fetchall()
    return [str(row["id"]) for row in rows]


def _last_used(db: psycopg.Connection, token_hash: str) -> datetime | None:
    row = db.execute(
        "select last_used_at from public.api_tokens where token_hash = %s", [token_hash]
    ).fetchone()
    return row["last_used_at"]


def test_a_tokens_use_is_recorded_at_most_once_a_minute(db, make_user):
    user = make_user()
    token_hash = _token(db, user)

    assert _use(db, token_hash) == [user]
    first = _last_used(db, token_hash)
    assert first is not None
    assert _use(db, token_hash) == [user] and _last_used(db, token_hash) == first

    db.execute(
        "update public.api_tokens set last_used_at = last_used_at - interval '59 seconds' "
        "where token_hash = %s",
        [token_hash],
    )
    backdated = _last_used(db, token_hash)
    assert _use(db, token_hash) == [user] and _last_used(db, token_hash) == backdated

    db.execute(
        "update public.api_tokens set last_used_at = last_used_at - interval '2 seconds' "
        "where token_hash = %s",
        [token_hash],
    )
    assert _use(db, token_hash) == [user]
    assert _last_used(db, token_hash) > first


def test_the_lookup_answers_when_the_use_cannot_be_written(db, make_user):
    user = make_user()
    token_hash = _token(db, user)
    with db.transaction():  # as on a read-only replica, or when the write fails otherwise
        db.execute("set transaction read only")
        db.execute("set local role service_role")
        rows = db.execute("select * from public.use_api_token(%s)", [token_hash]).fetchall()
    assert [str(row["id"]) for row in rows] == [user]
    assert _last_used(db, token_hash) is None


def test_revoked_and_unknown_tokens_still_resolve_to_nobody(db, make_user):
    user = make_user()
    token_hash = _token(db, user)
    db.execute("update public.api_tokens set revoked = true where token_hash = %s", [token_hash])
    assert _use(db, token_hash) == []
    assert _use(db, "0" * 64) == []
    db.execute("update public.profiles set disabled = true where id = %s", [user])
    assert _use(db, _token(db, user)) == []
