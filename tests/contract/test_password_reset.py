"""Forgot password on both backends: a reset token (a local admin-made link, or the token_hash
of the recovery email Supabase Auth sends, picked from the test gateway) sets a new password
once, before it expires, with the sign-up strength rule; it ends every session of its user and
lifts the sign-in lockout. Bad tokens and weak passwords get one clear error and change
nothing."""

from __future__ import annotations

import pytest

from core.domain.errors import InvalidCredentials, RateLimited, ValidationError
from core.domain.policy import MAX_FAILURES
from core.ports import Backend
from tests.constants import PASSWORD
from tests.integration.supabase_factory import gateway

NEW = "a brand new passphrase"
INVALID = "invalid, expired or already used"


def _sign_up(backend: Backend, email: str):
    return backend.accounts.sign_up(email, PASSWORD, admin_emails=frozenset())


def _reset_token(backend: Backend, email: str, *, expired: bool = False) -> str:
    """A reset token for `email` the way each backend issues one."""
    user = backend.accounts.find_user_by_email(email)
    assert user is not None
    if backend.name == "local":
        ttl = 0.0 if expired else 1800.0
        return backend.accounts.create_password_reset(user.id, created_by=None, ttl_seconds=ttl)
    gw = gateway()
    before, ttl = len(gw.sent_emails), gw.recovery_ttl
    gw.recovery_ttl = -1 if expired else ttl
    try:
        assert backend.accounts.send_password_reset_email(email, "http://studio.test/") is True
    finally:
        gw.recovery_ttl = ttl
    mail = gw.sent_emails[before:]
    assert [m["to"] for m in mail] == [email]
    assert mail[0]["link"].startswith("http://studio.test/?token_hash=")
    return mail[0]["token_hash"]


def test_a_reset_token_sets_a_new_password_and_ends_every_session(backend: Backend) -> None:
    _sign_up(backend, "admin@example.com")
    first = _sign_up(backend, "amy@example.com")
    second = backend.accounts.sign_in("amy@example.com", PASSWORD)
    token = _reset_token(backend, "amy@example.com")

    user = backend.accounts.reset_password(token, NEW)

    assert user.email == "amy@example.com"
    assert backend.accounts.resolve_session(first.session_token) is None
    assert backend.accounts.resolve_session(second.session_token) is None
    with pytest.raises(InvalidCredentials):
        backend.accounts.sign_in("amy@example.com", PASSWORD)
    signed_in = backend.accounts.sign_in("amy@example.com", NEW)
    assert backend.accounts.resolve_session(signed_in.session_token) == signed_in.user


def test_a_reset_token_works_once(backend: Backend) -> None:
    _sign_up(backend, "amy@example.com")
    token = _reset_token(backend, "amy@example.com")
    backend.accounts.reset_password(token, NEW)
    with pytest.raises(ValidationError, match=INVALID):
        backend.accounts.reset_password(token, "yet another passphrase")
    backend.accounts.sign_in("amy@example.com", NEW)  # the first reset holds


def test_an_expired_or_unknown_token_changes_nothing(backend: Backend) -> None:
    amy = _sign_up(backend, "amy@example.com")
    expired = _reset_token(backend, "amy@example.com", expired=True)
    for token in (expired, "made-up-token", "", "x" * 5000):
        with pytest.raises(ValidationError, match=INVALID):
            backend.accounts.reset_password(token, NEW)
    assert backend.accounts.resolve_session(amy.session_token) is not None
    backend.accounts.sign_in("amy@example.com", PASSWORD)


@pytest.mark.parametrize("password", ["short", "x" * 1025])
def test_a_weak_password_is_refused_and_leaves_the_token_usable(
    backend: Backend, password: str
) -> None:
    amy = _sign_up(backend, "amy@example.com")
    token = _reset_token(backend, "amy@example.com")
    with pytest.raises(ValidationError, match="password has at"):
        backend.accounts.reset_password(token, password)
    assert backend.accounts.resolve_session(amy.session_token) is not None
    backend.accounts.sign_in("amy@example.com", PASSWORD)
    backend.accounts.reset_password(token, NEW)  # not spent by the refusal
    backend.accounts.sign_in("amy@example.com", NEW)


def test_a_token_only_touches_its_own_user(backend: Backend) -> None:
    _sign_up(backend, "amy@example.com")
    bob = _sign_up(backend, "bob@example.com")
    token = _reset_token(backend, "amy@example.com")
    backend.accounts.reset_password(token, NEW)
    assert backend.accounts.resolve_session(bob.session_token) is not None
    backend.accounts.sign_in("bob@example.com", PASSWORD)
    with pytest.raises(InvalidCredentials):
        backend.accounts.sign_in("bob@example.com", NEW)


def test_a_reset_lifts_the_sign_in_lockout(backend: Backend) -> None:
    _sign_up(backend, "amy@example.com")
    for _ in range(MAX_FAILURES):
        with pytest.raises(InvalidCredentials):
            backend.accounts.sign_in("amy@example.com", "wrong password!")
    with pytest.raises(RateLimited):
        backend.accounts.sign_in("amy@example.com", PASSWORD)
    backend.accounts.reset_password(_reset_token(backend, "amy@example.com"), NEW)
    backend.accounts.sign_in("amy@example.com", NEW)


def test_no_account_enumeration_and_no_local_mail(backend: Backend) -> None:
    """An unknown email gets the same answer as a known one; locally nothing is ever sent."""
    _sign_up(backend, "amy@example.com")
    sent = backend.accounts.send_password_reset_email("ghost@example.com", "http://studio.test/")
    assert sent is (backend.name == "supabase")
    if backend.name == "supabase":
        assert [m["to"] for m in gateway().sent_emails] == []
