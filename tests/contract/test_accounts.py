"""Accounts: sign-up rules, roles, sign-in (same answer for unknown email and wrong password,
lockout), sessions, disabling and API tokens."""

from __future__ import annotations

import pytest

from core.domain.errors import (
    AccountDisabled,
    AccountExists,
    InvalidCredentials,
    NotFound,
    RateLimited,
    ValidationError,
)
from core.domain.models import Role
from tests.constants import PASSWORD

NOBODY = frozenset()


def _sign_up(backend, email, password=PASSWORD, admins=NOBODY):
    return backend.accounts.sign_up(email, password, admin_emails=admins)


def test_the_first_account_is_admin_and_later_ones_are_users(backend):
    first = _sign_up(backend, "first@example.com")
    second = _sign_up(backend, "second@example.com")
    assert first.user.role is Role.ADMIN
    assert second.user.role is Role.USER
    assert first.session_token and second.session_token != first.session_token


def test_an_email_in_admin_emails_becomes_admin(backend):
    _sign_up(backend, "first@example.com")
    boss = _sign_up(backend, "Boss@Example.com", admins=frozenset({"boss@example.com"}))
    assert boss.user.role is Role.ADMIN
    assert boss.user.email == "boss@example.com"


@pytest.mark.parametrize(
    "email",
    ["", "plain", "no-at.example.com", "a@b", "a b@example.com", "a@exa mple.com",
     "x" * 250 + "@example.com", "a@@example.com"],
)  # fmt: skip
def test_sign_up_refuses_malformed_emails(backend, email):
    with pytest.raises(ValidationError):
        _sign_up(backend, email)
    assert backend.accounts.list_users() == []


@pytest.mark.parametrize("password", ["", "short", "1234567", "p" * 1025])
def test_sign_up_refuses_passwords_outside_8_to_1024_chars(backend, password):
    with pytest.raises(ValidationError):
        _sign_up(backend, "someone@example.com", password)
    assert backend.accounts.list_users() == []


def test_sign_up_accepts_the_edges_of_the_password_rule(backend):
    _sign_up(backend, "eight@example.com", "8 chars!")
    _sign_up(backend, "long@example.com", "p" * 1024)
    assert len(backend.accounts.list_users()) == 2


def test_an_email_can_have_one_account_whatever_its_case(backend):
    _sign_up(backend, "same@example.com")
    with pytest.raises(AccountExists):
        _sign_up(backend, "  SAME@example.com ")
    assert len(backend.accounts.list_users()) == 1


def test_sign_in_with_the_right_password_gives_a_working_session(backend):
    user = _sign_up(backend, "me@example.com").user

    signed = backend.accounts.sign_in("ME@example.com ", PASSWORD)

    assert signed.user.id == user.id
    assert backend.accounts.resolve_session(signed.session_token).id == user.id


def test_wrong_password_and_unknown_email_get_the_same_answer(backend):
    _sign_up(backend, "me@example.com")

    with pytest.raises(InvalidCredentials) as wrong_password:
        backend.accounts.sign_in("me@example.com", "not the password")
    with pytest.raises(InvalidCredentials) as unknown_email:
        backend.accounts.sign_in("nobody@example.com", PASSWORD)

    assert type(wrong_password.value) is type(unknown_email.value)
    assert wrong_password.value.message == unknown_email.value.message
    assert wrong_password.value.code == unknown_email.value.code


def test_five_failures_lock_the_email_even_for_the_right_password(backend):
    _sign_up(backend, "target@example.com")
    _sign_up(backend, "bystander@example.com")
    for _ in range(5):
        with pytest.raises(InvalidCredentials):
            backend.accounts.sign_in("target@example.com", "guess guess")

    with pytest.raises(RateLimited) as locked:
        backend.accounts.sign_in("target@example.com", PASSWORD)

    assert locked.value.retry_after > 0
    assert "Try again" in locked.value.message
    assert backend.accounts.sign_in("bystander@example.com", PASSWORD).user


def test_failures_below_the_limit_are_forgotten_after_a_success(backend):
    _sign_up(backend, "me@example.com")
    for _ in range(4):
        with pytest.raises(InvalidCredentials):
            backend.accounts.sign_in("me@example.com", "wrong wrong")
    backend.accounts.sign_in("me@example.com", PASSWORD)
    for _ in range(4):
        with pytest.raises(InvalidCredentials):
            backend.accounts.sign_in("me@example.com", "wrong wrong")
    assert backend.accounts.sign_in("me@example.com", PASSWORD).user


def test_sign_out_revokes_only_that_session(backend):
    first = _sign_up(backend, "me@example.com")
    second = backend.accounts.sign_in("me@example.com", PASSWORD)

    backend.accounts.sign_out(first.session_token)

    assert backend.accounts.resolve_session(first.session_token) is None
    assert backend.accounts.resolve_session(second.session_token).id == first.user.id


def test_unknown_or_empty_session_tokens_resolve_to_nobody(backend):
    _sign_up(backend, "me@example.com")
    assert backend.accounts.resolve_session("made-up-token") is None
    assert backend.accounts.resolve_session("") is None


def test_disabling_ends_sessions_tokens_and_sign_in(backend):
    _sign_up(backend, "admin@example.com")
    user = _sign_up(backend, "me@example.com")
    _token, secret = backend.accounts.create_api_token(user.user.id, "ci")

    backend.accounts.set_disabled(user.user.id, True)

    assert backend.accounts.resolve_session(user.session_token) is None
    assert backend.accounts.resolve_api_token(secret) is None
    assert backend.accounts.get_user(user.user.id).disabled
    with pytest.raises(AccountDisabled):
        backend.accounts.sign_in("me@example.com", PASSWORD)

    backend.accounts.set_disabled(user.user.id, False)
    again = backend.accounts.sign_in("me@example.com", PASSWORD)
    assert backend.accounts.resolve_session(again.session_token).id == user.user.id
    assert backend.accounts.resolve_api_token(secret) is None  # revoked for good


def test_a_disabled_account_with_a_wrong_password_is_just_invalid(backend):
    _sign_up(backend, "admin@example.com")
    user = _sign_up(backend, "me@example.com").user
    backend.accounts.set_disabled(user.id, True)
    with pytest.raises(InvalidCredentials):
        backend.accounts.sign_in("me@example.com", "wrong password")


def test_roles_can_be_changed_and_users_listed_and_found(backend):
    admin = _sign_up(backend, "admin@example.com").user
    user = _sign_up(backend, "me@example.com").user

    backend.accounts.set_role(user.id, Role.REVIEWER)

    assert backend.accounts.get_user(user.id).role is Role.REVIEWER
    assert [u.id for u in backend.accounts.list_users()] == [admin.id, user.id]
    assert backend.accounts.find_user_by_email(" Me@Example.com").id == user.id
    assert backend.accounts.find_user_by_email("nobody@example.com") is None
    assert backend.accounts.get_user("00000000-0000-4000-8000-000000000000") is None


def test_changing_an_unknown_user_is_not_found(backend):
    unknown = "00000000-0000-4000-8000-000000000000"
    with pytest.raises(NotFound):
        backend.accounts.set_role(unknown, Role.ADMIN)
    with pytest.raises(NotFound):
        backend.accounts.set_disabled(unknown, True)


def test_api_tokens_resolve_record_last_use_and_can_be_revoked(backend):
    user = _sign_up(backend, "me@example.com").user

    token, secret = backend.accounts.create_api_token(user.id, "laptop")

    assert token.name == "laptop" and token.user_id == user.id and not token.revoked
    assert secret not in repr(token)
    assert backend.accounts.list_api_tokens(user.id)[0].last_used_at is None
    assert backend.accounts.resolve_api_token(secret).id == user.id
    listed = backend.accounts.list_api_tokens(user.id)
    assert [t.id for t in listed] == [token.id]
    assert listed[0].last_used_at is not None

    assert backend.accounts.revoke_api_token(user.id, token.id)
    assert backend.accounts.resolve_api_token(secret) is None
    assert backend.accounts.list_api_tokens(user.id)[0].revoked
    assert not backend.accounts.revoke_api_token(user.id, token.id)


def test_a_tokens_last_use_is_not_rewritten_on_every_request(backend):
    user = _sign_up(backend, "me@example.com").user
    _token, secret = backend.accounts.create_api_token(user.id, "busy client")
    backend.accounts.resolve_api_token(secret)
    first = backend.accounts.list_api_tokens(user.id)[0].last_used_at
    for _ in range(3):
        assert backend.accounts.resolve_api_token(secret).id == user.id
    assert first is not None
    assert backend.accounts.list_api_tokens(user.id)[0].last_used_at == first


def test_a_user_cannot_revoke_someone_elses_token(backend):
    owner = _sign_up(backend, "owner@example.com").user
    other = _sign_up(backend, "other@example.com").user
    token, secret = backend.accounts.create_api_token(owner.id, "mine")

    assert not backend.accounts.revoke_api_token(other.id, token.id)
    assert backend.accounts.resolve_api_token(secret).id == owner.id


def test_made_up_api_tokens_resolve_to_nobody(backend):
    user = _sign_up(backend, "me@example.com").user
    _token, secret = backend.accounts.create_api_token(user.id, "real")
    tampered = secret[:-1] + ("A" if secret[-1] != "A" else "B")
    assert backend.accounts.resolve_api_token(tampered) is None
    assert backend.accounts.resolve_api_token("") is None
