"""Purge (preview = actual, files first, failed deletes retried) and the sweeper (lease)."""

from __future__ import annotations

import threading
import time
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest

from core.backends.sqlite import open_local_backend
from core.domain.errors import Conflict, Forbidden, ValidationError
from core.domain.models import JobStatus, ReviewStatus
from core.services import purge
from core.services.sweeper import Sweeper
from tests.admin.conftest import Deployment
from tests.constants import FAST_HASHER

DAY = 86_400


def _block_delete(dep: Deployment, path: str) -> Path:
    """Make deleting `path` fail for real: a non-empty directory cannot be unlinked."""
    file = dep.backend.blobs.root / path  # type: ignore[attr-defined]
    file.unlink()
    file.mkdir()
    (file / "keep").write_bytes(b"x")
    return file


def test_preview_counts_exactly_what_the_purge_then_deletes(dep: Deployment):
    old_failed = dep.finished(dep.alice, 3, status=JobStatus.FAILED, age=timedelta(days=2))
    old_done = dep.finished(dep.bob, 4, age=timedelta(days=10))
    approved = dep.finished(dep.bob, 1, age=timedelta(days=10))[0]
    dep.services.review.set_review(dep.admin, [approved.id], ReviewStatus.APPROVED)
    young = dep.finished(dep.alice, 2, age=timedelta(hours=1))
    statuses = [JobStatus.DONE, JobStatus.FAILED]

    criteria, summary = dep.services.admin.purge_preview(
        dep.admin, statuses, DAY, exclude_review=[ReviewStatus.APPROVED, ReviewStatus.FLAGGED]
    )
    seen: list[tuple[int, int]] = []
    report = dep.services.admin.purge(
        dep.admin, criteria, batch_size=2, progress=lambda n, total: seen.append((n, total))
    )

    expected_bytes = sum(j.result_meta["bytes"] for j in old_done)
    assert (summary.jobs, summary.bytes, summary.objects) == (7, expected_bytes, 8)
    assert (report.deleted_jobs, report.deleted_bytes, report.deleted_objects) == (
        7,
        expected_bytes,
        8,
    )
    assert report.kept_jobs == 0 and report.batches >= 4
    assert seen[-1] == (7, 7)
    for job in old_failed + old_done:
        assert dep.backend.jobs.get_job(job.id) is None
        assert not any(dep.exists(p) for p in (job.result_path, job.thumb_path) if p)
    for job in [approved, *young]:
        assert dep.backend.jobs.get_job(job.id) is not None
        assert dep.exists(job.result_path or "")
    runs = dep.services.admin.sweep_runs(dep.admin)
    assert [(r.trigger, r.deleted_jobs, r.deleted_bytes) for r in runs] == [
        ("purge", 7, expected_bytes)
    ]


def test_purge_removes_the_files_of_an_attempt_whose_finish_never_landed(dep: Deployment):
    # The worker stores the image and thumbnail, then records them with `finish`; when that
    # and every later attempt fail, the failed row names no file but the files are there.
    (failed,) = dep.finished(dep.alice, 1, status=JobStatus.FAILED, age=timedelta(days=2))
    assert failed.result_path is None
    left = [f"{dep.alice.id}/{failed.id}.{ext}" for ext in ("png", "jpg", "gif", "thumb.webp")]
    for path in left:
        dep.backend.blobs.put(path, b"orphan", "image/png")
    criteria, summary = dep.services.admin.purge_preview(dep.admin, ["failed"], DAY)
    assert (summary.jobs, summary.objects) == (1, 0)

    report = dep.services.admin.purge(dep.admin, criteria)

    assert (report.deleted_jobs, report.deleted_objects) == (1, 0)  # as previewed
    assert not any(dep.exists(p) for p in left)


def test_purge_asks_the_store_to_delete_at_most_500_paths_at_once(dep: Deployment):
    # Object stores cap one delete request (Supabase Storage: 1000 objects); a batch of jobs,
    # each with every path an attempt may have written, goes in several requests.
    gone = dep.finished(dep.alice, 120, status=JobStatus.FAILED, age=timedelta(days=2))
    real = dep.backend.blobs
    calls: list[int] = []

    class Recording:
        def __getattr__(self, name: str) -> object:
            return getattr(real, name)

        def delete(self, paths: list[str]) -> list[str]:
            calls.append(len(paths))
            return real.delete(paths)

    criteria, _ = dep.services.admin.purge_preview(dep.admin, ["failed"], DAY)
    report = purge.purge(replace(dep.backend, blobs=Recording()), criteria, batch_size=120)

    assert report.deleted_jobs == 120
    assert calls and max(calls) <= purge.DELETE_CHUNK == 500
    assert sum(calls) >= 120 * 5  # every derived path of every job was asked for
    assert all(dep.backend.jobs.get_job(j.id) is None for j in gone)


def test_purge_can_target_one_user(dep: Deployment):
    dep.finished(dep.alice, 2, status=JobStatus.FAILED, age=timedelta(days=2))
    bobs = dep.finished(dep.bob, 2, status=JobStatus.FAILED, age=timedelta(days=2))
    criteria, summary = dep.services.admin.purge_preview(
        dep.admin, ["failed"], DAY, user_id=dep.alice.id
    )
    assert summary.jobs == 2
    assert dep.services.admin.purge(dep.admin, criteria).deleted_jobs == 2
    assert all(dep.backend.jobs.get_job(j.id) for j in bobs)


def test_a_failed_file_delete_keeps_the_row_and_the_next_sweep_retries(dep: Deployment):
    jobs = dep.finished(dep.alice, 3, age=timedelta(days=30))
    stuck = jobs[1]
    blocker = _block_delete(dep, stuck.thumb_path or "")
    sweeper = Sweeper(dep.backend, dep.settings)

    first = sweeper.run_once()

    assert first is not None
    assert (first.deleted_jobs, first.kept_jobs) == (2, 1)
    assert stuck.id in first.errors[0]
    assert dep.backend.jobs.get_job(stuck.id) is not None
    assert not dep.exists(stuck.result_path or "")  # the other file went; the row still points
    (blocker / "keep").unlink()  # the storage problem is fixed
    blocker.rmdir()

    second = sweeper.run_once()

    assert second is not None and (second.deleted_jobs, second.kept_jobs) == (1, 0)
    assert dep.backend.jobs.get_job(stuck.id) is None
    assert [r.id for r in dep.services.admin.sweep_runs(dep.admin)] == [second.id, first.id]


def test_the_sweeper_applies_both_retention_periods(dep: Deployment):
    settings = replace(dep.settings, retention_done=7 * DAY, retention_failed=DAY)
    done_old = dep.finished(dep.alice, 1, age=timedelta(days=8))[0]
    done_recent = dep.finished(dep.alice, 1, age=timedelta(days=2))[0]
    failed_old = dep.finished(dep.bob, 1, status=JobStatus.FAILED, age=timedelta(days=2))[0]
    canceled = dep.queued(dep.bob)[0]
    dep.backend.jobs.cancel(canceled.id)
    dep.backdate([canceled.id], timedelta(days=2))
    failed_new = dep.finished(dep.bob, 1, status=JobStatus.FAILED)[0]

    run = Sweeper(dep.backend, settings).run_once()

    assert run is not None and run.deleted_jobs == 3 and run.trigger == "manual"
    remaining = {j.id for j in (done_old, done_recent, failed_old, canceled, failed_new)}
    remaining = {i for i in remaining if dep.backend.jobs.get_job(i)}
    assert remaining == {done_recent.id, failed_new.id}


def test_two_sweepers_at_once_delete_each_job_exactly_once(dep: Deployment):
    jobs = dep.finished(dep.alice, 60, status=JobStatus.FAILED, age=timedelta(days=3))
    jobs += dep.finished(dep.bob, 40, age=timedelta(days=30))
    # A second process: its own connections to the same database and files.
    other = open_local_backend(dep.settings, password_hasher=FAST_HASHER)
    sweepers = [Sweeper(dep.backend, dep.settings), Sweeper(other, dep.settings)]
    start = threading.Barrier(2)
    runs: list[object] = [None, None]

    def sweep(i: int) -> None:
        start.wait()
        runs[i] = sweepers[i].run_once(trigger="schedule", batch_size=5)

    try:
        threads = [threading.Thread(target=sweep, args=(i,)) for i in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
    finally:
        other.close()

    recorded = dep.services.admin.sweep_runs(dep.admin)
    assert sum(r.deleted_jobs for r in recorded) == 100
    assert len(recorded) == 1 and sum(run is not None for run in runs) == 1
    assert all(dep.backend.jobs.get_job(j.id) is None for j in jobs)
    assert not any(dep.exists(j.result_path) for j in jobs if j.result_path)


def test_a_scheduled_sweep_happens_once_per_interval_across_processes(dep: Deployment):
    dep.finished(dep.alice, 1, status=JobStatus.FAILED, age=timedelta(days=3))
    a, b = Sweeper(dep.backend, dep.settings), Sweeper(dep.backend, dep.settings)
    assert a.run_once(trigger="schedule") is not None
    assert b.run_once(trigger="schedule") is None  # a holds this interval
    assert a.run_once(trigger="manual") is not None  # by hand: always runs


def test_a_purge_is_refused_while_another_holds_the_lease(dep: Deployment):
    dep.finished(dep.alice, 1, status=JobStatus.FAILED, age=timedelta(days=3))
    assert dep.backend.jobs.try_acquire_lease(purge.PURGE_LEASE, "someone-else", 60)
    criteria, summary = dep.services.admin.purge_preview(dep.admin, ["failed"], DAY)
    with pytest.raises(Conflict, match="running"):
        dep.services.admin.purge(dep.admin, criteria)
    with pytest.raises(Conflict):
        dep.services.admin.sweep_now(dep.admin)
    assert dep.services.admin.purge_preview(dep.admin, ["failed"], DAY)[1].jobs == summary.jobs == 1
    assert dep.services.admin.sweep_runs(dep.admin) == []


def test_the_sweeper_thread_sweeps_every_interval_until_stopped(dep: Deployment):
    settings = replace(dep.settings, cleanup_interval=1)
    job = dep.finished(dep.alice, 1, status=JobStatus.FAILED, age=timedelta(days=3))[0]
    sweeper = Sweeper(dep.backend, settings, first_delay=0.01)
    sweeper.start()
    try:
        deadline = time.monotonic() + 5
        while dep.backend.jobs.get_job(job.id) is not None and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        sweeper.stop()
    assert dep.backend.jobs.get_job(job.id) is None
    assert not sweeper.alive
    assert sweeper.last_run is not None and sweeper.last_run.trigger == "schedule"


def test_only_admins_purge_or_sweep(dep: Deployment):
    criteria = purge.make_criteria(["failed"], DAY)
    for person in (dep.reviewer, dep.alice):
        with pytest.raises(Forbidden):
            dep.services.admin.purge_preview(person, ["failed"], DAY)
        with pytest.raises(Forbidden):
            dep.services.admin.purge(person, criteria)
        with pytest.raises(Forbidden):
            dep.services.admin.sweep_now(person)
        with pytest.raises(Forbidden):
            dep.services.admin.sweep_runs(person)


@pytest.mark.parametrize(
    ("statuses", "age", "message"),
    [
        (["queued"], DAY, "Only finished jobs"),
        (["processing", "done"], DAY, "Only finished jobs"),
        ([], DAY, "at least one status"),
        (["nope"], DAY, "Unknown status"),
        (["failed"], -1, "zero or more"),
    ],
)
def test_bad_purge_criteria_are_refused(dep: Deployment, statuses, age, message):
    job = dep.finished(dep.alice, 1, status=JobStatus.FAILED, age=timedelta(days=3))[0]
    with pytest.raises(ValidationError, match=message):
        dep.services.admin.purge_preview(dep.admin, statuses, age)
    assert dep.backend.jobs.get_job(job.id) is not None


def test_the_cli_helpers_dry_run_then_purge(dep: Deployment):
    from datetime import UTC, datetime

    dep.finished(dep.alice, 2, status=JobStatus.FAILED, age=timedelta(days=3))
    cutoff = datetime.now(UTC) - timedelta(days=1)
    dry = dep.services.admin.purge_jobs_preview(["failed"], cutoff)
    assert (dry.jobs, dry.objects) == (2, 0)
    done = dep.services.admin.purge_jobs(["failed"], cutoff)
    assert (done.jobs, done.objects, done.failed_jobs) == (2, 0, [])
    assert dep.services.admin.sweep().jobs == 0


def test_a_stopping_sweeper_ends_after_the_current_batch_and_the_next_run_finishes(
    dep: Deployment,
):
    jobs = dep.finished(dep.alice, 5, status=JobStatus.FAILED, age=timedelta(days=3))
    stopping = Sweeper(dep.backend, dep.settings)
    stopping.stop()  # as the runtime does at shutdown

    partial = stopping.run_once(batch_size=2)

    assert partial is not None and partial.deleted_jobs == 2
    assert "shutting down" in partial.errors[0]
    rest = Sweeper(dep.backend, dep.settings).run_once(batch_size=2)
    assert rest is not None and rest.deleted_jobs == 3
    assert all(dep.backend.jobs.get_job(j.id) is None for j in jobs)
