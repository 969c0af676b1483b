"""create_jobs: stored fields, the per-minute rate limit, the daily quota and idempotency."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from core.domain.errors import QuotaExceeded, RateLimited
from core.domain.models import JobKind, JobQuery, JobStatus, ReviewStatus
from tests.contract.support import new_jobs, submit


def test_created_jobs_carry_every_requested_field(backend, new_user):
    user = new_user()
    before = datetime.now(UTC) - timedelta(seconds=5)
    params = {"aspect_ratio": "16:9", "seed": 7, "negative_prompt": "fog"}
    batch = new_jobs(user, 2, prompt="Ünïcode prompt 🌊", params=params, key="k1", max_attempts=3)
    jobs = backend.jobs.create_jobs(batch, rate_limit_per_minute=30)

    assert [j.id for j in jobs] == [n.id for n in batch]
    for job in jobs:
        assert job.user_id == user.id
        assert (job.provider, job.model, job.kind) == ("demo", "demo-1", JobKind.GENERATE)
        assert job.prompt == "Ünïcode prompt 🌊"
        assert job.params == params
        assert job.status is JobStatus.QUEUED
        assert (job.attempts, job.max_attempts) == (0, 3)
        assert job.batch_id == batch[0].batch_id
        assert job.idempotency_key == "k1"
        assert job.review_status is ReviewStatus.UNREVIEWED
        assert job.lease_owner is None and job.started_at is None and job.finished_at is None
        assert job.created_at.tzinfo is not None and job.created_at >= before
        assert job.run_after <= datetime.now(UTC) + timedelta(seconds=5)
        assert backend.jobs.get_job(job.id) == job


def test_get_job_of_unknown_id_is_none(backend):
    assert backend.jobs.get_job("00000000-0000-4000-8000-000000000000") is None


def test_thirty_a_minute_pass_and_the_thirty_first_is_refused(backend, new_user):
    user = new_user()
    for _ in range(30):
        submit(backend, user, rate_limit_per_minute=30)

    with pytest.raises(RateLimited) as refused:
        submit(backend, user, rate_limit_per_minute=30)

    assert 0 < refused.value.retry_after <= 60
    assert "30 images a minute" in refused.value.message
    assert f"{refused.value.retry_after} s" in refused.value.message
    assert not isinstance(refused.value, QuotaExceeded)


def test_a_refused_batch_creates_nothing(backend, new_user):
    user = new_user()
    submit(backend, user, 28, rate_limit_per_minute=30)

    with pytest.raises(RateLimited):
        submit(backend, user, 3, rate_limit_per_minute=30)
    submit(backend, user, 2, rate_limit_per_minute=30)  # exactly up to the limit

    assert len(backend.jobs.list_jobs(JobQuery(user_id=user.id, limit=100)).items) == 30


def test_rate_limits_of_different_users_are_independent(backend, new_user):
    alice, bob = new_user(), new_user()
    submit(backend, alice, 4, rate_limit_per_minute=4)
    with pytest.raises(RateLimited):
        submit(backend, alice, rate_limit_per_minute=4)

    assert len(submit(backend, bob, 4, rate_limit_per_minute=4)) == 4


def test_deleting_jobs_frees_no_rate_limit_room(backend, new_user):
    user = new_user()
    jobs = submit(backend, user, 3, rate_limit_per_minute=3)
    backend.jobs.delete_jobs([j.id for j in jobs])

    with pytest.raises(RateLimited):
        submit(backend, user, rate_limit_per_minute=3)


def test_daily_quota_refuses_past_the_quota(backend, new_user):
    user = new_user()
    submit(backend, user, 2, daily_quota=3)

    with pytest.raises(QuotaExceeded) as refused:
        submit(backend, user, 2, daily_quota=3)
    assert refused.value.retry_after > 0
    assert len(submit(backend, user, 1, daily_quota=3)) == 1
    with pytest.raises(QuotaExceeded):
        submit(backend, user, 1, daily_quota=3)


def test_same_idempotency_key_returns_the_first_batch_without_charging(backend, new_user):
    user = new_user()
    first = submit(backend, user, 2, key="click-1", rate_limit_per_minute=3)
    submit(backend, user, 1, rate_limit_per_minute=3)  # the limit is now used up

    again = submit(backend, user, 2, key="click-1", rate_limit_per_minute=3)

    assert [j.id for j in again] == [j.id for j in first]
    assert len(backend.jobs.list_jobs(JobQuery(user_id=user.id)).items) == 3


def test_same_key_from_another_user_creates_new_jobs(backend, new_user):
    alice, bob = new_user(), new_user()
    mine = submit(backend, alice, key="shared-key")

    theirs = submit(backend, bob, key="shared-key")

    assert theirs[0].id != mine[0].id
    assert theirs[0].user_id == bob.id


def test_different_keys_create_different_batches(backend, new_user):
    user = new_user()
    a = submit(backend, user, key="a")
    b = submit(backend, user, key="b")
    assert a[0].id != b[0].id and a[0].batch_id != b[0].batch_id


def test_a_key_whose_jobs_were_all_deleted_creates_a_new_batch(backend, new_user):
    user = new_user()
    first = submit(backend, user, 2, key="again")
    backend.jobs.delete_jobs([first[0].id])
    assert [j.id for j in submit(backend, user, 2, key="again")] == [first[1].id]

    backend.jobs.delete_jobs([first[1].id])
    fresh = submit(backend, user, 2, key="again")

    assert len(fresh) == 2 and not {j.id for j in fresh} & {j.id for j in first}
    assert [j.id for j in submit(backend, user, 2, key="again")] == [j.id for j in fresh]
