"""Local-only behaviour that depends on time, tested by back-dating rows in SQL instead of
sleeping: the rate-limit wait, the daily quota's UTC day, session expiry and sliding, and the
sign-in lockout lifting. Also password rehashing and the dummy hash for unknown emails."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from argon2 import PasswordHasher

from core.backends.sqlite import open_local_backend
from core.backends.sqlite.db import now_us, seconds_us
from core.domain.errors import InvalidCredentials, QuotaExceeded, RateLimited
from core.domain.policy import SESSION_SECONDS
from tests.constants import FAST_HASHER, PASSWORD
from tests.contract.support import submit


@pytest.fixture
def local(settings):
    backend = open_local_backend(settings, password_hasher=FAST_HASHER)
    yield backend
    backend.close()


@pytest.fixture
def user(local):
    return local.accounts.sign_up("me@example.com", PASSWORD, admin_emails=frozenset()).user


def _sql(backend, statement: str, *args: object) -> None:
    with backend.db.write() as conn:
        conn.execute(statement, args)


def test_retry_after_is_the_time_until_enough_old_submissions_leave_the_window(local, user):
    submit(local, user, 2, rate_limit_per_minute=4)
    _sql(local, "UPDATE submissions SET created_at = created_at - ?", seconds_us(50))
    submit(local, user, 2, rate_limit_per_minute=4)

    with pytest.raises(RateLimited) as one_more:
        submit(local, user, 1, rate_limit_per_minute=4)
    with pytest.raises(RateLimited) as three_more:
        submit(local, user, 3, rate_limit_per_minute=4)

    assert 9 <= one_more.value.retry_after <= 11  # the two 50 s-old ones leave in ~10 s
    assert 59 <= three_more.value.retry_after <= 60  # needs the fresh ones gone too
    assert f"Try again in {one_more.value.retry_after} s." in one_more.value.message


def test_submissions_older_than_a_minute_do_not_count(local, user):
    submit(local, user, 4, rate_limit_per_minute=4)
    _sql(local, "UPDATE submissions SET created_at = created_at - ?", seconds_us(61))
    assert len(submit(local, user, 4, rate_limit_per_minute=4)) == 4


def test_the_daily_quota_counts_from_utc_midnight(local, user):
    submit(local, user, 3, daily_quota=3)
    midnight = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    yesterday = int((midnight - timedelta(seconds=1)).timestamp() * 1_000_000)
    _sql(local, "UPDATE submissions SET created_at = ?", yesterday)

    assert len(submit(local, user, 3, daily_quota=3)) == 3
    with pytest.raises(QuotaExceeded) as refused:
        submit(local, user, 1, daily_quota=3)
    seconds_to_midnight = (midnight + timedelta(days=1) - datetime.now(UTC)).total_seconds()
    assert abs(refused.value.retry_after - seconds_to_midnight) <= 2


def test_an_expired_session_resolves_to_nobody(local, user):
    token = local.accounts.sign_in("me@example.com", PASSWORD).session_token
    _sql(local, "UPDATE sessions SET expires_at = ?", now_us() - 1)
    assert local.accounts.resolve_session(token) is None


def test_using_a_session_slides_its_expiry(local, user):
    token = local.accounts.sign_in("me@example.com", PASSWORD).session_token
    _sql(local, "UPDATE sessions SET expires_at = ?", now_us() + seconds_us(3600))

    assert local.accounts.resolve_session(token).id == user.id

    expires = local.db.conn.execute("SELECT MAX(expires_at) FROM sessions").fetchone()[0]
    assert expires > now_us() + seconds_us(SESSION_SECONDS - 60)


def test_the_lockout_lifts_after_a_few_minutes(local, user):
    for _ in range(5):
        with pytest.raises(InvalidCredentials):
            local.accounts.sign_in("me@example.com", "wrong wrong")
    with pytest.raises(RateLimited):
        local.accounts.sign_in("me@example.com", PASSWORD)

    _sql(local, "UPDATE sign_in_failures SET at = at - ?", seconds_us(6 * 60))

    assert local.accounts.sign_in("me@example.com", PASSWORD).user.id == user.id


def test_failures_older_than_fifteen_minutes_do_not_lock(local, user):
    for _ in range(4):
        with pytest.raises(InvalidCredentials):
            local.accounts.sign_in("me@example.com", "wrong wrong")
    _sql(local, "UPDATE sign_in_failures SET at = at - ?", seconds_us(16 * 60))
    for _ in range(4):
        with pytest.raises(InvalidCredentials):
            local.accounts.sign_in("me@example.com", "wrong wrong")

    assert local.accounts.sign_in("me@example.com", PASSWORD).user.id == user.id


def test_unknown_emails_are_locked_out_like_known_ones(local):
    for _ in range(5):
        with pytest.raises(InvalidCredentials):
            local.accounts.sign_in("ghost@example.com", "wrong wrong")
    with pytest.raises(RateLimited):
        local.accounts.sign_in("ghost@example.com", "wrong wrong")


class CountingHasher(PasswordHasher):
    """The real hasher, counting verifications."""

    def __init__(self) -> None:
        super().__init__(time_cost=1, memory_cost=1024, parallelism=1)
        self.verified = 0

    def verify(self, hash: str | bytes, password: str | bytes) -> bool:
        self.verified += 1
        return super().verify(hash, password)


def test_an_unknown_email_costs_a_password_hash_like_a_known_one(settings):
    hasher = CountingHasher()
    backend = open_local_backend(settings, password_hasher=hasher)
    try:
        backend.accounts.sign_up("me@example.com", PASSWORD, admin_emails=frozenset())
        with pytest.raises(InvalidCredentials):
            backend.accounts.sign_in("me@example.com", "wrong wrong")
        with pytest.raises(InvalidCredentials):
            backend.accounts.sign_in("nobody@example.com", "wrong wrong")
        assert hasher.verified == 2
    finally:
        backend.close()


def test_a_hash_with_old_parameters_is_upgraded_at_sign_in(settings):
    old = open_local_backend(settings, password_hasher=FAST_HASHER)
    old.accounts.sign_up("me@example.com", PASSWORD, admin_emails=frozenset())
    old.close()
    stronger = PasswordHasher(time_cost=2, memory_cost=2048, parallelism=1)

    new = open_local_backend(settings, password_hasher=stronger)
    try:
        new.accounts.sign_in("me@example.com", PASSWORD)
        stored = new.db.conn.execute("SELECT password_hash FROM users").fetchone()[0]
        assert "m=2048,t=2" in stored
        assert new.accounts.sign_in("me@example.com", PASSWORD).user.email == "me@example.com"
    finally:
        new.close()
