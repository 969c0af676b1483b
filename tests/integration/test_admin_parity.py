"""The review/admin store gives the same answers on `local` and `supabase`: the same sequence of
real operations (submit, claim, finish with sizes and costs, fail, review, quota, sweeps) is run
on both, and every figure the admin page shows is compared."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from core.domain.models import JobStatus, ReviewStatus
from core.domain.settings import Settings
from core.ports import Backend, SweepRun
from tests.constants import NO_LIMIT, PASSWORD
from tests.contract.conftest import make_local_backend
from tests.contract.support import new_jobs
from tests.integration.supabase_factory import make_supabase_backend


def _scenario(backend: Backend) -> dict[str, Any]:
    """Run the scenario; return what the admin page would show, with ids made comparable."""
    accounts, jobs, admin = backend.accounts, backend.jobs, backend.admin
    assert admin is not None
    users = [
        accounts.sign_up(f"{n}@example.com", PASSWORD, admin_emails=frozenset()).user
        for n in ("ann", "ben", "cat")
    ]
    names = {u.id: u.email.split("@")[0] for u in users}
    ann, ben, cat = users
    jobs.create_jobs(new_jobs(ann, 3, provider="demo", model="m1"), rate_limit_per_minute=NO_LIMIT)
    jobs.create_jobs(
        new_jobs(ben, 2, provider="openai", model="m2"), rate_limit_per_minute=NO_LIMIT
    )
    queued_for_cat = jobs.create_jobs(new_jobs(cat, 1), rate_limit_per_minute=NO_LIMIT)
    outcomes = [
        ("done", {"bytes": 1000, "cost_usd": 0.04}),
        ("done", {"bytes": 2500}),
        ("failed", None),
        ("done", {"bytes": 300, "cost_usd": 0.02}),
        ("failed", None),
    ]
    finished = []
    for outcome, meta in outcomes:
        job = jobs.claim("w", 60, 10)
        assert job is not None
        if outcome == "done":
            ok = jobs.finish(
                job.id,
                "w",
                result_path=f"{job.user_id}/{job.id}.png",
                thumb_path=f"{job.user_id}/{job.id}.thumb.webp" if meta.get("cost_usd") else None,
                result_meta=meta or {},
            )
        else:
            ok = jobs.fail(job.id, "w", error_code="safety_blocked", error_message="no")
        assert ok
        finished.append(job.id)
    jobs.set_review(finished[:1], status=ReviewStatus.FLAGGED, note="look", reviewer_id=users[0].id)
    later = datetime.now(UTC) + timedelta(hours=1)
    summaries = {
        label: admin.purge_summary(statuses=statuses, finished_before=later, **extra)
        for label, statuses, extra in (
            ("all", (JobStatus.DONE, JobStatus.FAILED), {}),
            ("done-not-flagged", (JobStatus.DONE,), {"exclude_review": (ReviewStatus.FLAGGED,)}),
            ("ben", (JobStatus.DONE, JobStatus.FAILED), {"user_id": ben.id}),
            ("none", (), {}),
        )
    }
    admin.set_daily_quota(cat.id, 5)
    quota = accounts.get_user(cat.id).daily_quota
    canceled = admin.cancel_user_jobs(cat.id)
    states = {jobs.get_job(j.id).status for j in queued_for_cat}
    start = datetime.now(UTC) - timedelta(minutes=5)
    for n in range(3):
        admin.record_sweep(
            SweepRun(
                id=f"00000000-0000-4000-8000-00000000000{n}",
                trigger="manual",
                owner="test",
                started_at=start + timedelta(seconds=n),
                finished_at=start + timedelta(seconds=n, milliseconds=500),
                deleted_jobs=n,
                deleted_bytes=10 * n,
                kept_jobs=0,
                errors=("x",) if n == 2 else (),
            )
        )
    sweeps = [(s.id, s.deleted_jobs, s.deleted_bytes, s.errors) for s in admin.list_sweeps(2)]
    stats = admin.usage_stats(datetime.now(UTC) - timedelta(days=1), top_users=2)
    activity = admin.user_activity()
    return {
        "summaries": summaries,
        "quota": quota,
        "canceled": canceled,
        "states": states,
        "sweeps": sweeps,
        "per_day": [(d.day, d.provider, d.jobs, d.failed) for d in stats.per_day],
        "failures": [(f.provider, f.error_code, f.jobs) for f in stats.failures],
        "latency": [(lat.provider, lat.jobs) for lat in stats.latency],
        "top_users": [(names[u.user_id], u.jobs, u.done, u.failed) for u in stats.top_users],
        "spend": sorted(
            (s.provider, s.model, names[s.user_id], s.images, s.priced, round(s.recorded_usd, 6))
            for s in stats.spend
        ),
        "activity": sorted((names[a.user_id], a.jobs) for a in activity.values()),
    }


def _run(
    factory: Callable[[Settings, Path], Any], settings: Settings, tmp_path: Path
) -> dict[str, Any]:
    gen = factory(settings, tmp_path)
    backend = next(gen)
    try:
        return _scenario(backend)
    finally:
        gen.close()


def test_admin_figures_agree_between_local_and_supabase(settings, tmp_path):
    local = _run(make_local_backend, settings, tmp_path / "local")
    supabase = _run(make_supabase_backend, settings, tmp_path / "supabase")
    assert supabase == local
    # and they are the right figures, not merely equal
    assert local["summaries"]["all"].jobs == 5
    assert local["summaries"]["all"].bytes == 3800
    assert local["summaries"]["all"].objects == 5
    assert local["summaries"]["done-not-flagged"].jobs == 2
    assert local["summaries"]["none"].jobs == 0
    assert (local["quota"], local["canceled"]) == (5, 1)
    assert local["states"] == {JobStatus.CANCELED}
    assert [s[0][-1] for s in local["sweeps"]] == ["2", "1"]
    assert local["top_users"] == [("ann", 3, 2, 1), ("ben", 2, 1, 1)]
    assert ("demo", "m1", "ann", 2, 1, 0.04) in local["spend"]
