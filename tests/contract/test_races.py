"""Submissions racing each other: the rate limit and idempotency hold when many threads submit
at the same moment (each backend must do its check-then-insert atomically)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from core.domain.errors import RateLimited
from core.domain.models import JobQuery
from tests.contract.support import new_jobs


def _together(count: int, action):
    """Run `action(i)` on `count` threads released at once; return results or exceptions."""
    barrier = threading.Barrier(count)

    def run(i: int):
        barrier.wait()
        try:
            return action(i)
        except Exception as exc:  # the outcome under test
            return exc

    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(run, range(count)))


def test_racing_submissions_never_exceed_the_rate_limit(backend, new_user):
    user = new_user()

    outcomes = _together(
        12,
        lambda i: backend.jobs.create_jobs(new_jobs(user, 3), rate_limit_per_minute=20),
    )

    accepted = [o for o in outcomes if isinstance(o, list)]
    refused = [o for o in outcomes if isinstance(o, RateLimited)]
    assert len(accepted) == 6 and len(refused) == 6  # 6 batches of 3 fit in 20, a 7th not
    listed = backend.jobs.list_jobs(JobQuery(user_id=user.id, limit=100)).items
    assert len(listed) == 18


def test_racing_submissions_with_one_key_create_one_batch(backend, new_user):
    user = new_user()

    outcomes = _together(
        8,
        lambda i: backend.jobs.create_jobs(
            new_jobs(user, 2, key="double-click"), rate_limit_per_minute=30
        ),
    )

    assert all(isinstance(o, list) for o in outcomes), outcomes
    batches = {tuple(sorted(j.id for j in o)) for o in outcomes}
    assert len(batches) == 1
    listed = backend.jobs.list_jobs(JobQuery(user_id=user.id, limit=100)).items
    assert len(listed) == 2
