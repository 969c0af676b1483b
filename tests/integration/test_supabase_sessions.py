"""Supabase mode of the session list and password change (issue #16) beyond the contract
suite: the change goes through Supabase Auth's admin API, the other sessions end at Supabase
Auth too (refresh tokens revoked, including the one the current-password check made and any
session no `sessions` row knows), and the session row keeps no secret. Against the test
gateway on real PostgreSQL."""

from __future__ import annotations

import hashlib

import httpx
import pytest

from tests.constants import PASSWORD
from tests.integration.gateway import Gateway

NOBODY: frozenset[str] = frozenset()
NEW_PASSWORD = "a brand new passphrase"


def _live_refresh_tokens(gw: Gateway) -> set[str]:
    with gw.cluster.connect() as conn:
        return {
            r[0] for r in conn.execute("select token from auth.refresh_tokens where not revoked")
        }


def _refresh_token_of(gw: Gateway, session_token: str) -> str:
    with gw.cluster.connect() as conn:
        return conn.execute(
            "select refresh_token from public.sessions where token_hash = %s",
            [hashlib.sha256(session_token.encode()).hexdigest()],
        ).fetchone()[0]


def test_a_password_change_ends_every_other_session_at_supabase_auth(backend, gw):
    first = backend.accounts.sign_up("me@example.com", PASSWORD, admin_emails=NOBODY)
    second = backend.accounts.sign_in("me@example.com", PASSWORD)
    # a session made at Supabase Auth directly (no row of ours): it ends too
    direct = backend.accounts._clients.auth().auth.sign_in_with_password(  # type: ignore[attr-defined]
        {"email": "me@example.com", "password": PASSWORD}
    )
    keep = _refresh_token_of(gw, first.session_token)

    backend.accounts.change_password(first.user.id, first.session_token, PASSWORD, NEW_PASSWORD)

    assert _live_refresh_tokens(gw) == {keep}
    assert direct.session.refresh_token not in _live_refresh_tokens(gw)
    assert backend.accounts.resolve_session(second.session_token) is None
    assert backend.accounts.resolve_session(first.session_token).id == first.user.id
    with gw.cluster.connect() as conn:
        changed = conn.execute(
            "select encrypted_password = extensions.crypt(%s, encrypted_password) "
            "from auth.users where id = %s",
            [NEW_PASSWORD, first.user.id],
        ).fetchone()[0]
    assert changed is True


def test_a_wrong_current_password_leaves_supabase_auth_untouched(backend, gw):
    first = backend.accounts.sign_up("me@example.com", PASSWORD, admin_emails=NOBODY)
    backend.accounts.sign_in("me@example.com", PASSWORD)
    before = _live_refresh_tokens(gw)
    with pytest.raises(Exception, match="current password"):
        backend.accounts.change_password(
            first.user.id, first.session_token, "nope nope", NEW_PASSWORD
        )
    assert _live_refresh_tokens(gw) == before
    assert backend.accounts.sign_in("me@example.com", PASSWORD).user.id == first.user.id


def test_signing_out_one_browser_ends_it_at_supabase_auth(backend, gw):
    first = backend.accounts.sign_up("me@example.com", PASSWORD, admin_emails=NOBODY)
    second = backend.accounts.sign_in("me@example.com", PASSWORD, user_agent="Phone")
    gone = _refresh_token_of(gw, second.session_token)
    target = next(s for s in backend.accounts.list_sessions(first.user.id, None) if s.user_agent)

    assert backend.accounts.revoke_session(first.user.id, target.id)

    assert gone not in _live_refresh_tokens(gw)
    assert _refresh_token_of(gw, first.session_token) in _live_refresh_tokens(gw)


def test_the_session_row_holds_an_opaque_id_and_the_user_agent_not_the_secret(backend, gw):
    signed = backend.accounts.sign_up(
        "me@example.com", PASSWORD, admin_emails=NOBODY, user_agent="Firefox"
    )
    with gw.cluster.connect() as conn:
        row = conn.execute("select id::text, user_agent from public.sessions").fetchone()
    assert row[1] == "Firefox" and row[0] != signed.session_token
    [listed] = backend.accounts.list_sessions(signed.user.id, signed.session_token)
    assert listed.id == row[0] and listed.current


def test_the_gateway_lets_only_the_service_role_update_a_user(backend, gw):
    signed = backend.accounts.sign_up("me@example.com", PASSWORD, admin_emails=NOBODY)
    answer = httpx.put(
        f"{gw.url}/auth/v1/admin/users/{signed.user.id}",
        json={"password": NEW_PASSWORD},
        headers={
            "apikey": gw.anon_key,
            "Authorization": f"Bearer {signed.user.access_token}",
        },
    )
    assert answer.status_code == 403
    assert backend.accounts.sign_in("me@example.com", PASSWORD).user.id == signed.user.id


def test_last_seen_is_recorded_again_once_a_minute_old(backend, gw):
    signed = backend.accounts.sign_up("me@example.com", PASSWORD, admin_emails=NOBODY)
    with gw.cluster.connect() as conn:
        conn.execute("update public.sessions set last_seen_at = now() - interval '30 seconds'")
        recent = conn.execute("select last_seen_at from public.sessions").fetchone()[0]
    backend.accounts.resolve_session(signed.session_token)
    with gw.cluster.connect() as conn:
        assert conn.execute("select last_seen_at from public.sessions").fetchone()[0] == recent
        conn.execute("update public.sessions set last_seen_at = now() - interval '61 seconds'")
    backend.accounts.resolve_session(signed.session_token)
    with gw.cluster.connect() as conn:
        seen = conn.execute("select now() - last_seen_at from public.sessions").fetchone()[0]
    assert seen.total_seconds() < 30
