"""Local backend, session bookkeeping over time (issue #16): last seen is recorded again once it
is a minute old, and expired sessions are not listed."""

from __future__ import annotations

import pytest

from core.backends.sqlite import open_local_backend
from core.backends.sqlite.db import now_us, seconds_us
from tests.constants import FAST_HASHER, PASSWORD


@pytest.fixture
def local(settings):
    backend = open_local_backend(settings, password_hasher=FAST_HASHER)
    yield backend
    backend.close()


def _sql(backend, statement: str, *args: object) -> None:
    with backend.db.write() as conn:
        conn.execute(statement, args)


def test_last_seen_is_recorded_again_once_a_minute_old(local):
    signed = local.accounts.sign_up("me@example.com", PASSWORD, admin_emails=frozenset())
    old = now_us() - seconds_us(61)
    _sql(local, "UPDATE sessions SET last_seen_at = ?", old)

    assert local.accounts.resolve_session(signed.session_token).id == signed.user.id

    seen = local.db.conn.execute("SELECT last_seen_at FROM sessions").fetchone()[0]
    assert seen > old + seconds_us(60)


def test_a_session_seen_within_the_minute_is_not_rewritten(local):
    signed = local.accounts.sign_up("me@example.com", PASSWORD, admin_emails=frozenset())
    recent = now_us() - seconds_us(30)
    _sql(local, "UPDATE sessions SET last_seen_at = ?", recent)
    local.accounts.resolve_session(signed.session_token)
    assert local.db.conn.execute("SELECT last_seen_at FROM sessions").fetchone()[0] == recent


def test_expired_sessions_are_not_listed(local):
    first = local.accounts.sign_up("me@example.com", PASSWORD, admin_emails=frozenset())
    second = local.accounts.sign_in("me@example.com", PASSWORD)
    _sql(local, "UPDATE sessions SET expires_at = ? WHERE created_at = "
         "(SELECT MIN(created_at) FROM sessions)", now_us() - 1)  # fmt: skip
    [left] = local.accounts.list_sessions(first.user.id, second.session_token)
    assert left.current
