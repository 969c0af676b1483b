"""Helpers shared by the contract tests (plain functions; fixtures live in conftest.py)."""

from __future__ import annotations

import uuid
from typing import Any

from core.backends.common import nearest_rank
from core.domain.models import Job, JobRequest, NewJob, User
from core.ports import Backend
from tests.constants import NO_LIMIT


def new_jobs(
    user: User,
    count: int = 1,
    *,
    key: str | None = None,
    prompt: str = "a lighthouse at dusk",
    provider: str = "demo",
    model: str = "demo-1",
    max_attempts: int = 4,
    params: dict[str, Any] | None = None,
) -> list[NewJob]:
    """One batch of `count` identical requests."""
    batch_id = str(uuid.uuid4())
    request = JobRequest(provider=provider, model=model, prompt=prompt, params=params or {})
    return [
        NewJob(
            id=str(uuid.uuid4()),
            user_id=user.id,
            request=request,
            batch_id=batch_id,
            max_attempts=max_attempts,
            idempotency_key=key,
        )
        for _ in range(count)
    ]


def submit(
    backend: Backend,
    user: User,
    count: int = 1,
    *,
    rate_limit_per_minute: int = NO_LIMIT,
    daily_quota: int | None = None,
    **request: Any,
) -> list[Job]:
    """Create one batch (`request` as for `new_jobs`), by default with no effective limit."""
    return backend.jobs.create_jobs(
        new_jobs(user, count, **request),
        rate_limit_per_minute=rate_limit_per_minute,
        daily_quota=daily_quota,
    )


def percentile(sorted_values: list[float], fraction: float) -> float:
    """Nearest-rank percentile of an ascending list (0 for an empty one): the exact figure the
    statistics' histogram percentiles approximate (the reference the tests compare with)."""
    if not sorted_values:
        return 0.0
    return float(sorted_values[nearest_rank(len(sorted_values), fraction) - 1])
