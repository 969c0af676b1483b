"""The user-facing sentences of rules both backends enforce are built once in
core.domain.policy; the SQL schema, which writes the lost-lease message itself, uses the same
words."""

from __future__ import annotations

from pathlib import Path

from core.domain.errors import QuotaExceeded, RateLimited
from core.domain.policy import (
    WORKER_LOST_AFTER,
    WORKER_LOST_BEFORE,
    quota_exceeded,
    rate_limited,
    sign_in_locked,
)

SCHEMA = Path(__file__).resolve().parents[2] / "supabase-schema.sql"


def test_the_schema_writes_the_lost_lease_message_in_the_same_words() -> None:
    sql = SCHEMA.read_text()
    assert f"'{WORKER_LOST_BEFORE}'" in sql
    assert f"'{WORKER_LOST_AFTER}'" in sql


def test_rate_limit_quota_and_lockout_messages() -> None:
    wait = rate_limited(30, 12)
    assert isinstance(wait, RateLimited) and wait.retry_after == 12
    assert wait.message == "You can submit 30 images a minute. Try again in 12 s."
    too_many = rate_limited(30, None)
    assert too_many.message.endswith("Submit fewer at once.") and too_many.retry_after == 60
    quota = quota_exceeded(5, 1, 3600)
    assert isinstance(quota, QuotaExceeded) and quota.retry_after == 3600
    assert quota.message.startswith("Your daily limit is 5 images and 1 are left today.")
    locked = sign_in_locked(61)
    assert locked.retry_after == 61 and locked.message.endswith("Try again in 2 min.")
