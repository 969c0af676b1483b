"""Sessions and password changes (issue #16) on every backend: the session list (opaque ids,
this browser marked, user agent, last seen), signing out one or every other browser, and
changing the password, with the bad inputs refused and nothing changed."""

from __future__ import annotations

import pytest

from core.domain.errors import (
    AuthRequired,
    InvalidCredentials,
    NotFound,
    RateLimited,
    ValidationError,
)
from core.domain.policy import MAX_FAILURES
from core.services.accounts import AccountsService
from tests.constants import PASSWORD

NOBODY = frozenset()
FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
PHONE = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) Mobile/15E148"
NEW_PASSWORD = "a brand new passphrase"


def _three_browsers(backend, email="me@example.com"):
    first = backend.accounts.sign_up(email, PASSWORD, admin_emails=NOBODY, user_agent=FIREFOX)
    second = backend.accounts.sign_in(email, PASSWORD, user_agent=PHONE)
    third = backend.accounts.sign_in(email, PASSWORD)
    return first, second, third


def test_the_list_shows_every_browser_with_this_one_marked(backend):
    first, second, third = _three_browsers(backend)
    other = backend.accounts.sign_up("other@example.com", PASSWORD, admin_emails=NOBODY)

    sessions = backend.accounts.list_sessions(first.user.id, second.session_token)

    assert len(sessions) == 3
    assert [s.current for s in sessions].count(True) == 1
    assert next(s for s in sessions if s.current).user_agent == PHONE
    assert {s.user_agent for s in sessions} == {FIREFOX, PHONE, None}
    assert sessions == sorted(sessions, key=lambda s: s.created_at, reverse=True)
    assert all(s.last_seen_at is not None and s.created_at for s in sessions)
    secrets = {first.session_token, second.session_token, third.session_token}
    assert not {s.id for s in sessions} & secrets  # the id is never the secret
    assert len({s.id for s in sessions}) == 3
    assert len(backend.accounts.list_sessions(other.user.id, None)) == 1


def test_a_long_or_odd_user_agent_is_cleaned_and_cut(backend):
    signed = backend.accounts.sign_up(
        "me@example.com", PASSWORD, admin_emails=NOBODY, user_agent="  Agent\x00\n" + "x" * 900
    )
    [session] = backend.accounts.list_sessions(signed.user.id, signed.session_token)
    assert session.user_agent.startswith("Agent") and len(session.user_agent) == 512
    assert "\x00" not in session.user_agent and "\n" not in session.user_agent


def test_last_seen_is_not_rewritten_on_every_request(backend):
    signed = backend.accounts.sign_up("me@example.com", PASSWORD, admin_emails=NOBODY)
    [before] = backend.accounts.list_sessions(signed.user.id, signed.session_token)
    for _ in range(3):
        assert backend.accounts.resolve_session(signed.session_token).id == signed.user.id
    [after] = backend.accounts.list_sessions(signed.user.id, signed.session_token)
    assert after.last_seen_at == before.last_seen_at


def test_signing_out_one_browser_ends_only_that_one(backend):
    first, second, third = _three_browsers(backend)
    sessions = backend.accounts.list_sessions(first.user.id, first.session_token)
    target = next(s for s in sessions if s.user_agent == PHONE)

    assert backend.accounts.revoke_session(first.user.id, target.id)

    assert backend.accounts.resolve_session(second.session_token) is None
    assert backend.accounts.resolve_session(first.session_token).id == first.user.id
    assert backend.accounts.resolve_session(third.session_token).id == first.user.id
    assert not backend.accounts.revoke_session(first.user.id, target.id)  # gone already


@pytest.mark.parametrize("made_up", ["", "not-a-session", "6f1c2b0e-3d4a-4c5b-9e8f-0a1b2c3d4e5f"])
def test_unknown_session_ids_change_nothing(backend, made_up):
    first, _second, _third = _three_browsers(backend)
    assert not backend.accounts.revoke_session(first.user.id, made_up)
    assert len(backend.accounts.list_sessions(first.user.id, None)) == 3


def test_another_users_session_id_is_not_found_and_changes_nothing(backend, settings):
    first, second, _third = _three_browsers(backend)
    mallory = backend.accounts.sign_up("mallory@example.com", PASSWORD, admin_emails=NOBODY)
    victim_session = backend.accounts.list_sessions(first.user.id, None)[0]
    service = AccountsService(backend, settings)

    with pytest.raises(NotFound):
        service.revoke_session(mallory.user, victim_session.id)

    assert len(backend.accounts.list_sessions(first.user.id, None)) == 3
    assert backend.accounts.resolve_session(second.session_token).id == first.user.id


def test_signing_out_everywhere_else_keeps_this_browser(backend, settings):
    first, second, third = _three_browsers(backend)
    other = backend.accounts.sign_up("other@example.com", PASSWORD, admin_emails=NOBODY)
    service = AccountsService(backend, settings)

    assert service.revoke_other_sessions(second.user, second.session_token) == 2

    assert backend.accounts.resolve_session(second.session_token).id == first.user.id
    assert backend.accounts.resolve_session(first.session_token) is None
    assert backend.accounts.resolve_session(third.session_token) is None
    assert backend.accounts.resolve_session(other.session_token).id == other.user.id
    [left] = backend.accounts.list_sessions(first.user.id, second.session_token)
    assert left.current


def test_signing_out_everywhere_else_needs_a_session_of_ones_own(backend):
    first, _second, _third = _three_browsers(backend)
    other = backend.accounts.sign_up("other@example.com", PASSWORD, admin_emails=NOBODY)
    for token in ("", "made-up", other.session_token):
        with pytest.raises(AuthRequired):
            backend.accounts.revoke_other_sessions(first.user.id, token)
    assert len(backend.accounts.list_sessions(first.user.id, None)) == 3


def test_changing_the_password_ends_the_other_sessions_and_keeps_this_one(backend, settings):
    first, second, third = _three_browsers(backend)
    service = AccountsService(backend, settings)

    service.change_password(first.user, first.session_token, PASSWORD, NEW_PASSWORD)

    assert backend.accounts.resolve_session(first.session_token).id == first.user.id
    assert backend.accounts.resolve_session(second.session_token) is None
    assert backend.accounts.resolve_session(third.session_token) is None
    [left] = backend.accounts.list_sessions(first.user.id, first.session_token)
    assert left.current and left.user_agent == FIREFOX
    with pytest.raises(InvalidCredentials):
        backend.accounts.sign_in("me@example.com", PASSWORD)
    assert backend.accounts.sign_in("me@example.com", NEW_PASSWORD).user.id == first.user.id


def _unchanged(backend, first, second):
    """The old password still works, the new one does not, every session still lives."""
    assert backend.accounts.resolve_session(first.session_token).id == first.user.id
    assert backend.accounts.resolve_session(second.session_token).id == first.user.id
    with pytest.raises(InvalidCredentials):
        backend.accounts.sign_in("me@example.com", NEW_PASSWORD)
    assert backend.accounts.sign_in("me@example.com", PASSWORD).user.id == first.user.id


def test_a_wrong_current_password_is_refused_and_changes_nothing(backend):
    first, second, _third = _three_browsers(backend)
    with pytest.raises(ValidationError) as refused:
        backend.accounts.change_password(
            first.user.id, first.session_token, "not my password", NEW_PASSWORD
        )
    assert "current password" in refused.value.message
    _unchanged(backend, first, second)


@pytest.mark.parametrize("weak", ["", "short", "1234567", "p" * 1025])
def test_a_weak_new_password_is_refused_with_the_sign_up_rule(backend, settings, weak):
    first, second, _third = _three_browsers(backend)
    service = AccountsService(backend, settings)
    with pytest.raises(ValidationError) as refused:
        service.change_password(first.user, first.session_token, PASSWORD, weak)
    assert "password has at" in refused.value.message
    with pytest.raises(ValidationError):  # the backend checks it too
        backend.accounts.change_password(first.user.id, first.session_token, PASSWORD, weak)
    _unchanged(backend, first, second)


def test_changing_the_password_needs_a_live_session_of_ones_own(backend):
    first, second, _third = _three_browsers(backend)
    other = backend.accounts.sign_up("other@example.com", PASSWORD, admin_emails=NOBODY)
    for token in ("", "made-up", other.session_token):
        with pytest.raises(AuthRequired):
            backend.accounts.change_password(first.user.id, token, PASSWORD, NEW_PASSWORD)
    _unchanged(backend, first, second)


def test_wrong_current_passwords_count_toward_the_sign_in_lockout(backend):
    first, second, _third = _three_browsers(backend)
    for _ in range(MAX_FAILURES):
        with pytest.raises(ValidationError):
            backend.accounts.change_password(
                first.user.id, first.session_token, "guess guess", NEW_PASSWORD
            )
    # locked: not even the right current password gets through, nor a sign-in
    with pytest.raises(RateLimited):
        backend.accounts.change_password(first.user.id, first.session_token, PASSWORD, NEW_PASSWORD)
    with pytest.raises(RateLimited):
        backend.accounts.sign_in("me@example.com", PASSWORD)
    assert backend.accounts.resolve_session(second.session_token).id == first.user.id
