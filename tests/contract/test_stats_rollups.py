"""The admin statistics (AdminStore.usage_stats) on every backend read daily rollups kept at
write time (issue 13, scale: SQLite migration 012, the rollup section of supabase-schema.sql).
Every way a job appears, changes or disappears is mixed at random (seeded), and the figures are
compared with a direct aggregate over the jobs themselves, computed here the way the old
queries did. The one documented difference is the latency percentiles: they come from a
two-significant-digit duration histogram, so the test checks them against the same histogram
built from the jobs, and against the exact nearest-rank values within the bucket width."""

from __future__ import annotations

import math
import random
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from core.backends.common import LatencyBucket, histogram_latency, latency_bucket
from core.domain.models import Job, JobQuery, JobStatus, User
from core.ports import Backend, UsageStats
from core.services import purge
from tests.contract.support import percentile, submit

MODELS = {"demo": ("demo-1", "demo-2"), "priced": ("cheap",), "other": ("x-1",)}
ERRORS = ("safety_blocked", "transient", "invalid_request")


# ---- SQL the protocols have no door for: back-dating a job, stretching its duration ------------


def _sql(backend: Backend) -> Callable[[str, tuple[Any, ...]], None]:
    """Run one statement as the database owner (the local file, or the test PostgreSQL)."""
    if backend.name == "local":
        from core.backends.sqlite.db import to_us

        def local(statement: str, args: tuple[Any, ...]) -> None:
            with backend.db.write() as conn:  # type: ignore[attr-defined]
                conn.execute(
                    statement, tuple(to_us(a) if isinstance(a, datetime) else a for a in args)
                )

        return local
    from tests.integration.pg import superuser
    from tests.integration.supabase_factory import gateway

    def pg(statement: str, args: tuple[Any, ...]) -> None:
        with superuser(gateway().cluster) as conn:
            conn.execute(statement.replace("?", "%s"), args)

    return pg


def _backdate(backend: Backend, job: Job, days: int, hours: int) -> None:
    """Move a job's creation (only) back by `days` days and `hours` hours."""
    created = job.created_at - timedelta(days=days, hours=hours)
    _sql(backend)("UPDATE jobs SET created_at = ? WHERE id = ?", (created, job.id))


def _stretch(backend: Backend, job: Job, seconds: float) -> None:
    """Make a finished job's processing `seconds` long (its start moves back)."""
    assert job.finished_at is not None
    started = job.finished_at - timedelta(seconds=seconds)
    _sql(backend)("UPDATE jobs SET started_at = ? WHERE id = ?", (started, job.id))


# ---- the truth: a direct aggregate over every job -------------------------------------------


def _all_jobs(backend: Backend) -> Iterator[Job]:
    cursor = None
    while True:
        page = backend.jobs.list_jobs(JobQuery(limit=200, cursor=cursor))
        yield from page.items
        if page.next_cursor is None:
            return
        cursor = page.next_cursor


def _usd(meta: dict[str, Any]) -> float | None:
    for key in ("cost_usd", "estimated_cost_usd"):
        value = meta.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
    return None


def _micros(job: Job) -> int:
    assert job.started_at is not None and job.finished_at is not None
    delta = job.finished_at - job.started_at
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def _direct(backend: Backend, since: datetime, top: int) -> dict[str, Any]:
    jobs = [j for j in _all_jobs(backend) if j.created_at >= since]
    per_day: Counter[tuple[Any, str]] = Counter()
    failed_per_day: Counter[tuple[Any, str]] = Counter()
    failures: Counter[tuple[str, str]] = Counter()
    durations: dict[str, list[int]] = defaultdict(list)
    users: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    spend: dict[tuple[str, str, str], list[Any]] = defaultdict(lambda: [0, 0, 0.0])
    for j in jobs:
        key = (j.created_at.astimezone(UTC).date(), j.provider)
        per_day[key] += 1
        failed = j.status is JobStatus.FAILED
        done = j.status is JobStatus.DONE
        failed_per_day[key] += failed
        users[j.user_id][0] += 1
        users[j.user_id][1] += done
        users[j.user_id][2] += failed
        if failed:
            failures[(j.provider, j.error_code or "unknown")] += 1
        if done and j.started_at is not None and j.finished_at is not None:
            durations[j.provider].append(_micros(j))
        if done:
            row = spend[(j.provider, j.model, j.user_id)]
            usd = _usd(j.result_meta)
            row[0] += 1
            row[1] += usd is not None
            row[2] += usd or 0.0
    ranked = sorted(users.items(), key=lambda kv: (-kv[1][0], kv[0]))[:top]
    return {
        "per_day": sorted((d, p, n, failed_per_day[(d, p)]) for (d, p), n in per_day.items()),
        "failures": sorted(failures.items(), key=lambda kv: (-kv[1], kv[0])),
        "durations": durations,
        "top_users": [(u, *counts) for u, counts in ranked],
        "spend": sorted(
            (p, m, u, n, priced, round(usd, 6)) for (p, m, u), (n, priced, usd) in spend.items()
        ),
    }


def _figures(stats: UsageStats) -> dict[str, Any]:
    return {
        "per_day": sorted((d.day, d.provider, d.jobs, d.failed) for d in stats.per_day),
        "failures": [((f.provider, f.error_code), f.jobs) for f in stats.failures],
        "top_users": [(u.user_id, u.jobs, u.done, u.failed) for u in stats.top_users],
        "spend": sorted(
            (s.provider, s.model, s.user_id, s.images, s.priced, round(s.recorded_usd, 6))
            for s in stats.spend
        ),
    }


def _check(backend: Backend, since: datetime, top: int = 3) -> UsageStats:
    assert backend.admin is not None
    stats = backend.admin.usage_stats(since, top_users=top)
    midnight = since.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    assert stats.since == midnight
    truth = _direct(backend, midnight, top)
    durations = truth.pop("durations")
    assert _figures(stats) == truth
    # the percentiles: the histogram the rollups hold, and the exact values within a bucket
    histogram = {
        provider: [
            LatencyBucket(b, n, sum(v for v in values if latency_bucket(v) == b))
            for b, n in Counter(latency_bucket(v) for v in values).items()
        ]
        for provider, values in durations.items()
    }
    assert stats.latency == histogram_latency(histogram)
    for lat in stats.latency:
        exact = sorted(durations[lat.provider])
        assert lat.jobs == len(exact)
        for fraction, got in ((0.5, lat.p50_seconds), (0.95, lat.p95_seconds)):
            want = percentile([float(v) for v in exact], fraction)
            assert latency_bucket(round(got * 1_000_000)) == latency_bucket(int(want)) or (
                math.isclose(got * 1_000_000, want, rel_tol=0.1)
            )
    return stats


# ---- the mix --------------------------------------------------------------------------------


def _finish_one(backend: Backend, rng: random.Random, owner: str) -> Job | None:
    job = backend.jobs.claim(owner, 60, 1_000_000)
    if job is None:
        return None
    roll = rng.random()
    if roll < 0.6:
        meta: dict[str, Any] = {"bytes": 10}
        pick = rng.random()
        if pick < 0.3:
            meta["cost_usd"] = round(rng.uniform(0.01, 0.2), 4)
        elif pick < 0.5:
            meta["estimated_cost_usd"] = round(rng.uniform(0.01, 0.2), 4)
        elif pick < 0.6:
            meta["cost_usd"] = "n/a"  # not a number: not a recorded cost
        ok = backend.jobs.finish(
            job.id,
            owner,
            result_path=f"{job.user_id}/{job.id}.png",
            thumb_path=None,
            result_meta=meta,
        )
    elif roll < 0.85:
        ok = backend.jobs.fail(job.id, owner, error_code=rng.choice(ERRORS), error_message="failed")
    else:  # back to the queue after a transient error
        ok = backend.jobs.requeue(
            job.id,
            owner,
            run_after=datetime.now(UTC) - timedelta(seconds=1),
            error_code="transient",
            error_message="again",
        )
    assert ok
    return backend.jobs.get_job(job.id)


@pytest.mark.parametrize("seed", [1, 2])
def test_rollups_match_the_jobs_after_a_random_mix(backend, new_user, seed):
    rng = random.Random(seed)
    people: list[User] = [new_user() for _ in range(4)]
    owner = f"test-{uuid.uuid4().hex[:6]}"
    now = datetime.now(UTC)
    for step in range(70):
        action = rng.random()
        if action < 0.35:
            provider = rng.choice(sorted(MODELS))
            submit(
                backend,
                rng.choice(people),
                rng.randint(1, 3),
                provider=provider,
                model=rng.choice(MODELS[provider]),
            )
        elif action < 0.65:
            done = _finish_one(backend, rng, owner)
            if done is not None and done.status is JobStatus.DONE and rng.random() < 0.5:
                _stretch(backend, done, rng.choice([0.5, 1.5, 3.0, 3.04, 12.5, 250.0]))
        elif action < 0.8:
            jobs = list(_all_jobs(backend))
            if jobs:
                _backdate(backend, rng.choice(jobs), rng.randint(0, 5), rng.randint(0, 23))
        elif action < 0.88:
            queued = [j for j in _all_jobs(backend) if j.status is JobStatus.QUEUED]
            if queued:
                assert backend.jobs.cancel(rng.choice(queued).id)
        else:
            gone = [j.id for j in _all_jobs(backend) if j.status is not JobStatus.PROCESSING]
            backend.jobs.delete_jobs(rng.sample(gone, min(len(gone), rng.randint(1, 3))))
        if step % 25 == 24:
            _check(backend, now - timedelta(days=30))

    assert any(j.status is JobStatus.DONE for j in _all_jobs(backend))
    _check(backend, now - timedelta(days=30))
    _check(backend, now - timedelta(days=2))  # a range that leaves older days out
    _check(backend, now + timedelta(days=1))  # nothing yet

    # purge (in small chunks, as the retention sweep does) and account deletion
    report = purge.purge(
        backend,
        purge.criteria_before(
            [JobStatus.DONE, JobStatus.FAILED],
            datetime.now(UTC) + timedelta(minutes=1),
            user_id=people[0].id,
        ),
        batch_size=2,
    )
    assert report.deleted_jobs > 0
    _check(backend, now - timedelta(days=30))
    backend.accounts.delete_user(people[1].id)
    stats = _check(backend, now - timedelta(days=30))
    assert people[1].id not in {u.user_id for u in stats.top_users}
    assert people[1].id not in {s.user_id for s in stats.spend}


def test_equal_durations_give_exact_percentiles_and_empty_days_vanish(backend, new_user):
    alice = new_user()
    owner = "test-exact"
    submit(backend, alice, 4, provider="demo", model="demo-1")
    finished = []
    for seconds in (1.0, 2.0, 2.0, 10.0):
        job = backend.jobs.claim(owner, 60, 10)
        assert backend.jobs.finish(
            job.id, owner, result_path=f"{alice.id}/{job.id}.png", thumb_path=None, result_meta={}
        )
        job = backend.jobs.get_job(job.id)
        _stretch(backend, job, seconds)
        finished.append(job)
    stats = _check(backend, datetime.now(UTC) - timedelta(days=1))
    assert [(lat.jobs, lat.p50_seconds, lat.p95_seconds) for lat in stats.latency] == [
        (4, 2.0, 10.0)
    ]

    backend.jobs.delete_jobs([j.id for j in finished])
    stats = _check(backend, datetime.now(UTC) - timedelta(days=1))
    assert (stats.per_day, stats.failures, stats.latency, stats.top_users, stats.spend) == (
        [],
        [],
        [],
        [],
        [],
    )
