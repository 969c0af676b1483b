"""The worker against the real local backend: leases, retries, the concurrency cap, wake-ups
and graceful stop."""

from __future__ import annotations

import errno
import io
import os
import random
import sqlite3
import threading
import time
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from PIL import Image

import core.backends.sqlite.blobs
import core.backends.sqlite.db
from core.domain.models import Job, JobKind, JobRequest, JobStatus, NewJob
from core.domain.settings import Settings
from core.providers.base import MAX_RETRY_AFTER_SECONDS, AuthFailed, SafetyBlocked, Transient
from core.queue.runner import backoff_seconds
from core.queue.worker import Worker
from tests.unit.conftest import Studio, finished_ok, make_studio, wait_until


def files_of(studio: Studio, user_id: str) -> list[str]:
    root = studio.settings.data_dir
    return sorted(
        p.relative_to(root).as_posix().split("/", 1)[1]
        for p in root.rglob("*")
        if p.is_file() and f"/{user_id}/" in f"/{p.relative_to(root).as_posix()}"
    )


def test_a_job_is_generated_stored_and_finished_with_its_meta(studio: Studio) -> None:
    studio.worker()
    job = studio.submit("a red fox", params={"quality": "draft", "aspect_ratio": "16:9", "seed": 7})
    (done,) = studio.wait_for([job.id])
    assert done.status is JobStatus.DONE, done.error_message
    assert done.result_path == f"{studio.alice.id}/{job.id}.png"
    assert done.thumb_path == f"{studio.alice.id}/{job.id}.thumb.webp"
    meta = done.result_meta
    assert (meta["width"], meta["height"], meta["mime"], meta["seed"]) == (256, 144, "image/png", 7)
    assert meta["model"] == "demo-pattern"
    assert meta["bytes"] == len(studio.backend.blobs.get(done.result_path))
    assert meta["generation_seconds"] >= 0
    assert studio.backend.blobs.get(done.thumb_path)[8:12] == b"WEBP"
    assert done.attempts == 1 and done.lease_owner is None


def test_an_edit_reads_its_source_from_the_blob_store(studio: Studio) -> None:
    source = io.BytesIO()
    Image.new("RGB", (300, 200), (10, 200, 30)).save(source, format="JPEG")
    input_path = f"{studio.alice.id}/uploads/source.jpg"
    studio.backend.blobs.put(input_path, source.getvalue(), "image/jpeg")
    request = JobRequest(
        provider="demo",
        model="demo-poster",
        prompt="frame it",
        params={"quality": "draft"},
        kind=JobKind.EDIT,
        input_path=input_path,
    )
    job = studio.services.jobs.submit(studio.alice, request)[0]
    studio.worker()
    (done,) = studio.wait_for([job.id])
    assert done.status is JobStatus.DONE, done.error_message
    with Image.open(io.BytesIO(studio.backend.blobs.get(done.result_path))) as result:
        assert result.size == (256, 256)
        assert result.convert("RGB").getpixel((128, 128)) == (10, 200, 30)  # the source shows


def test_an_edit_whose_source_is_gone_fails_at_once(studio: Studio) -> None:
    request = JobRequest(
        provider="demo",
        model="demo-poster",
        prompt="frame it",
        kind=JobKind.EDIT,
        input_path=f"{studio.alice.id}/uploads/missing.png",
    )
    job = studio.services.jobs.submit(studio.alice, request)[0]
    studio.worker()
    (failed,) = studio.wait_for([job.id])
    assert (failed.status, failed.error_code, failed.attempts) == (
        JobStatus.FAILED,
        "invalid_request",
        1,
    )
    assert failed.error_message == "The source image is no longer stored."


def test_an_expired_lease_makes_the_job_claimable_and_the_late_finisher_cannot_overwrite(
    studio: Studio,
) -> None:
    job = studio.submit("left behind by a crashed worker")
    jobs = studio.backend.jobs
    stale = jobs.claim("crashed-worker", 0.2, 3)
    assert stale is not None and stale.id == job.id
    assert jobs.claim("other-worker", 60, 3) is None  # still leased: nothing to take
    time.sleep(0.3)

    worker = studio.worker()
    (done,) = studio.wait_for([job.id])
    assert done.status is JobStatus.DONE and done.attempts == 2
    # The crashed worker wakes up late: every lease-checked write is refused.
    assert not jobs.finish(
        job.id, "crashed-worker", result_path="x/evil.png", thumb_path=None, result_meta={}
    )
    assert not jobs.fail(job.id, "crashed-worker", error_code="x", error_message="late")
    assert not jobs.requeue(
        job.id, "crashed-worker", run_after=datetime.now(UTC), error_code="x", error_message="x"
    )
    after = studio.job(job.id)
    assert after.status is JobStatus.DONE
    assert after.result_path == done.result_path and after.result_meta == done.result_meta
    assert worker.stats()["done"] == 1


def test_heartbeats_keep_a_long_job_leased_past_its_lease_time(settings: Settings) -> None:
    with make_studio(replace(settings, worker_lease_seconds=0.3)) as studio:
        studio.fake.delay = 1.0
        job = studio.submit("slow but alive")
        studio.worker(owner="alive")
        wait_until(lambda: studio.job(job.id).status is JobStatus.PROCESSING)
        time.sleep(0.5)  # past the original lease
        assert studio.backend.jobs.claim("thief", 60, 3) is None
        (done,) = studio.wait_for([job.id])
        assert done.status is JobStatus.DONE and done.attempts == 1


def test_a_call_stuck_past_the_max_job_time_is_retried_and_its_late_result_dropped(
    settings: Settings,
) -> None:
    with make_studio(replace(settings, worker_lease_seconds=0.3)) as studio:
        gate = threading.Event()
        studio.fake.gate = gate
        job = studio.submit("hangs once")
        worker = studio.worker(owner="w", max_job_seconds=0.2)
        wait_until(lambda: studio.fake.in_flight == 1)
        studio.fake.gate = None  # later calls run normally
        time.sleep(0.35)
        assert studio.job(job.id).attempts == 1  # heartbeated while young

        (done,) = studio.wait_for([job.id])  # a sibling took it once the lease lapsed
        assert done.status is JobStatus.DONE and done.attempts == 2
        stored = studio.settings.data_dir / "blobs" / done.result_path
        written = stored.stat().st_mtime_ns

        gate.set()  # the stuck call returns at last
        wait_until(lambda: worker.stats()["lost"] == 1)
        after = studio.job(job.id)
        assert after.result_meta == done.result_meta and after.finished_at == done.finished_at
        assert stored.stat().st_mtime_ns == written  # its late result was not written


def test_transient_failures_retry_with_backoff_then_fail_after_max_attempts(
    studio: Studio,
) -> None:
    studio.fake.fail_with = [Transient("Fake is overloaded.") for _ in range(10)]
    studio.worker()
    job = studio.submit("never works")
    (failed,) = studio.wait_for([job.id])
    assert failed.status is JobStatus.FAILED
    assert failed.attempts == studio.settings.max_attempts == 4
    assert studio.fake.calls == 4
    assert failed.error_code == "transient"
    assert failed.error_message == "Gave up after 4 attempts: Fake is overloaded."


def test_a_transient_failure_then_success_ends_done(studio: Studio) -> None:
    studio.fake.fail_with = [Transient("blip"), Transient("blip")]
    studio.worker()
    job = studio.submit("works on the third try")
    (done,) = studio.wait_for([job.id])
    assert done.status is JobStatus.DONE and done.attempts == 3
    assert studio.fake.calls == 3


def test_a_requeued_job_waits_at_least_the_providers_retry_after(studio: Studio) -> None:
    studio.worker()
    job = studio.submit("[fail:transient:30] busy", provider="demo")
    (queued,) = studio.wait_for(
        [job.id], lambda j: j.status is JobStatus.QUEUED and j.attempts == 1
    )
    assert queued.error_code == "transient"
    assert queued.error_message == "Demo provider simulated a temporary failure."
    wait = (queued.run_after - datetime.now(UTC)).total_seconds()
    assert 25 < wait <= 30


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (
            SafetyBlocked("The prompt was blocked by the provider's safety system."),
            "safety_blocked",
        ),
        (AuthFailed("The provider rejected the API key."), "auth_failed"),
    ],
)
def test_a_permanent_failure_fails_at_once_with_the_providers_words(
    studio: Studio, error: Exception, code: str
) -> None:
    studio.fake.fail_with = [error]
    studio.worker()
    job = studio.submit("blocked")
    (failed,) = studio.wait_for([job.id])
    assert failed.status is JobStatus.FAILED and failed.attempts == 1
    assert (failed.error_code, failed.error_message) == (code, str(error))
    assert studio.fake.calls == 1
    assert files_of(studio, studio.alice.id) == []


def test_demo_prompt_triggers_produce_each_error_kind(studio: Studio) -> None:
    studio.worker()
    safety = studio.submit("[fail:safety] a cat", provider="demo")
    auth = studio.submit("[fail:auth] a cat", provider="demo")
    a, b = studio.wait_for([safety.id, auth.id])
    assert (a.status, a.error_code, a.attempts) == (JobStatus.FAILED, "safety_blocked", 1)
    assert (b.status, b.error_code, b.attempts) == (JobStatus.FAILED, "auth_failed", 1)


def test_an_unexpected_exception_is_retried_without_leaking_the_traceback(
    studio: Studio, caplog: pytest.LogCaptureFixture
) -> None:
    studio.fake.fail_with = [RuntimeError("secret-token-123 exploded") for _ in range(4)]
    studio.worker()
    job = studio.submit("a bug")
    seen: list[str | None] = []

    def settled(j):
        seen.append(j.error_message)
        return j.status.finished

    (failed,) = studio.wait_for([job.id], settled)
    assert "Unexpected error while generating; will retry." in seen
    assert failed.status is JobStatus.FAILED and failed.attempts == 4
    assert failed.error_code == "internal_error"
    assert failed.error_message == "Gave up after 4 attempts: Unexpected error while generating."
    assert all("secret-token" not in (m or "") and "Traceback" not in (m or "") for m in seen)
    assert "secret-token-123 exploded" in caplog.text  # the log keeps the details


def _insert_raw(studio: Studio, provider: str, model: str) -> str:
    """A row as written by another version of the app, bypassing today's validation."""
    job_id = str(uuid.uuid4())
    studio.backend.jobs.create_jobs(
        [
            NewJob(
                id=job_id,
                user_id=studio.alice.id,
                request=JobRequest(provider=provider, model=model, prompt="old row"),
                batch_id=job_id,
                max_attempts=4,
            )
        ],
        rate_limit_per_minute=1000,
    )
    return job_id


@pytest.mark.parametrize(
    ("provider", "model", "code"),
    [
        ("fake", "fake-retired", "model_unavailable"),
        ("dalle", "dall-e-3", "provider_unavailable"),
    ],
)
def test_a_job_for_an_unknown_provider_or_model_fails_without_calling_anything(
    studio: Studio, provider: str, model: str, code: str
) -> None:
    job_id = _insert_raw(studio, provider, model)
    studio.worker()
    (failed,) = studio.wait_for([job_id])
    assert (failed.status, failed.error_code, failed.attempts) == (JobStatus.FAILED, code, 1)
    assert studio.fake.calls == 0


def test_twenty_jobs_never_run_more_than_three_at_once_even_across_two_workers(
    studio: Studio,
) -> None:
    studio.fake.delay = 0.1
    studio.worker(owner="process-a")
    studio.worker(owner="process-b")  # a second process on the same database
    ids = [j.id for _ in range(5) for j in _submit_batch(studio, 4)]
    jobs = studio.wait_for(ids, timeout=20)
    assert all(finished_ok(j) for j in jobs), {j.status for j in jobs}
    assert studio.fake.peak == 3
    assert studio.fake.calls == 20
    assert {j.lease_owner for j in jobs} == {None}


def _submit_batch(studio: Studio, count: int) -> list[Job]:
    request = JobRequest(provider="fake", model="demo-pattern", prompt="batch", params={})
    return studio.services.jobs.submit(studio.alice, request, count=count)


def test_a_submit_wakes_the_worker_at_once_instead_of_waiting_for_the_poll(
    settings: Settings,
) -> None:
    with make_studio(replace(settings, worker_poll_seconds=2.0)) as studio:
        studio.worker()
        time.sleep(0.1)  # every thread is now idle, waiting on the poll
        pickups = []
        for _ in range(3):
            job = studio.submit("wake up")
            (started,) = studio.wait_for([job.id], lambda j: j.started_at is not None, timeout=1.5)
            pickups.append((started.started_at - started.created_at).total_seconds())
            studio.wait_for([job.id])
            time.sleep(0.05)
        assert max(pickups) < 0.2, pickups


def test_without_a_wake_a_job_waits_for_the_poll(settings: Settings) -> None:
    with make_studio(replace(settings, worker_poll_seconds=0.8)) as studio:
        worker = studio.worker()
        studio.services.jobs.set_wake_worker(lambda: None)  # as if submitted by another process
        time.sleep(0.1)
        job = studio.submit("no wake")
        time.sleep(0.3)
        assert studio.job(job.id).status is JobStatus.QUEUED
        worker.wake()
        (started,) = studio.wait_for([job.id], lambda j: j.started_at is not None, timeout=0.5)
        assert started.started_at is not None


def test_stop_releases_unfinished_jobs_back_to_the_queue_and_they_finish_later(
    studio: Studio,
) -> None:
    gate = threading.Event()
    studio.fake.gate = gate
    worker = studio.worker()
    ids = [studio.submit(f"held {i}").id for i in range(4)]
    wait_until(lambda: studio.fake.in_flight == 3)

    assert worker.stop(0.2) == 3
    assert not worker.alive
    jobs = [studio.job(i) for i in ids]
    assert {j.status for j in jobs} == {JobStatus.QUEUED}
    assert {j.attempts for j in jobs} == {0}  # the attempt is refunded
    assert {j.lease_owner for j in jobs} == {None}

    gate.set()  # the abandoned calls return now: they must not touch the released jobs
    wait_until(lambda: studio.fake.in_flight == 0)
    time.sleep(0.1)
    assert {studio.job(i).status for i in ids} == {JobStatus.QUEUED}
    assert files_of(studio, studio.alice.id) == []

    studio.fake.gate = None
    studio.worker(owner="next-process")
    done = studio.wait_for(ids)
    assert all(finished_ok(j) for j in done)
    assert len(files_of(studio, studio.alice.id)) == 2 * len(ids)


def test_stop_waits_for_running_jobs_within_the_grace(studio: Studio) -> None:
    studio.fake.delay = 0.3
    worker = studio.worker()
    job = studio.submit("almost done")
    wait_until(lambda: studio.fake.in_flight == 1)
    assert worker.stop(5) == 0
    assert studio.job(job.id).status is JobStatus.DONE
    assert worker.stats()["running"] == 0 and worker.stats()["processed"] == 1


def test_a_failing_store_is_logged_once_and_claiming_resumes_when_it_recovers(
    studio: Studio, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    jobs = studio.backend.jobs
    real_claim = jobs.claim
    outage = threading.Event()
    outage.set()

    def claim(*args: object, **kwargs: object) -> object:
        if outage.is_set():
            raise OSError("database unreachable")
        return real_claim(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(jobs, "claim", claim)  # the store, not the code under test
    worker = studio.worker()
    time.sleep(0.4)  # several polls per thread
    assert caplog.text.count("claim failed") == worker.stats()["threads"]
    assert worker.alive
    outage.clear()
    job = studio.submit("after the outage")
    (done,) = studio.wait_for([job.id])
    assert done.status is JobStatus.DONE


def test_backoff_is_exponential_with_full_jitter_capped_and_honours_retry_after() -> None:
    rng = random.Random(1)
    for attempt, ceiling in [(1, 2), (2, 4), (3, 8), (4, 16), (9, 300), (30, 300)]:
        delays = [backoff_seconds(attempt, rng=rng) for _ in range(200)]
        assert min(delays) >= 0 and max(delays) <= ceiling
        assert max(delays) > ceiling * 0.8  # full jitter spreads over the whole range
    assert backoff_seconds(1, retry_after=45, rng=rng) == 45
    assert backoff_seconds(20, retry_after=0.5, rng=rng) <= 300


def test_worker_stats_report_running_and_processed(studio: Studio) -> None:
    worker: Worker = studio.worker()
    assert worker.alive
    ids = [studio.submit(f"n{i}").id for i in range(2)]
    studio.wait_for(ids)
    wait_until(lambda: worker.stats()["processed"] == 2)
    stats = worker.stats()
    assert stats["running"] == 0 and stats["done"] == 2 and stats["alive"] is True


def test_heartbeats_go_on_through_the_stop_grace_so_no_other_worker_takes_the_job(
    settings: Settings,
) -> None:
    with make_studio(replace(settings, worker_lease_seconds=0.3)) as studio:
        gate = threading.Event()
        studio.fake.gate = gate
        job = studio.submit("finishing during shutdown")
        worker = studio.worker(owner="stopping")
        wait_until(lambda: studio.fake.in_flight == 1)
        stopper = threading.Thread(target=worker.stop, args=(5.0,))
        stopper.start()
        try:
            time.sleep(0.8)  # well past the lease: only heartbeats keep it
            assert studio.backend.jobs.claim("thief", 60, 3) is None
        finally:
            gate.set()
            stopper.join(10)
        done = studio.job(job.id)
        assert (done.status, done.attempts) == (JobStatus.DONE, 1)
        assert studio.fake.calls == 1


def _insert_row(studio: Studio, request: JobRequest) -> str:
    """A row created straight in the store (as a direct database call could), unchecked."""
    job_id = str(uuid.uuid4())
    studio.backend.jobs.create_jobs(
        [
            NewJob(
                id=job_id,
                user_id=studio.alice.id,
                request=request,
                batch_id=job_id,
                max_attempts=4,
            )
        ],
        rate_limit_per_minute=1000,
    )
    return job_id


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"quality": "max"}, "quality 'max' is not available"),
        ({"seed": -5}, "seed must be a whole number"),
        ({"background": "transparent"}, "does not support the option 'background'"),
    ],
)
def test_a_row_with_params_the_provider_refuses_fails_at_once_without_a_call(
    studio: Studio, params: dict, message: str
) -> None:
    job_id = _insert_row(
        studio, JobRequest(provider="fake", model="demo-pattern", prompt="raw", params=params)
    )
    studio.worker()
    (failed,) = studio.wait_for([job_id])
    assert (failed.status, failed.error_code, failed.attempts) == (
        JobStatus.FAILED,
        "invalid_request",
        1,
    )
    assert message in failed.error_message
    assert studio.fake.calls == 0


def test_a_row_editing_another_users_file_fails_without_reading_it(studio: Studio) -> None:
    theirs = f"{studio.bob.id}/uploads/private.png"
    source = io.BytesIO()
    Image.new("RGB", (64, 64), (1, 2, 3)).save(source, format="PNG")
    studio.backend.blobs.put(theirs, source.getvalue(), "image/png")
    job_id = _insert_row(
        studio,
        JobRequest(
            provider="demo",
            model="demo-poster",
            prompt="steal it",
            kind=JobKind.EDIT,
            input_path=theirs,
        ),
    )
    studio.worker()
    (failed,) = studio.wait_for([job_id])
    assert (failed.status, failed.error_code) == (JobStatus.FAILED, "invalid_request")
    assert failed.error_message == "The source image must be one of your own."
    assert failed.result_path is None


def test_a_job_that_finishes_while_its_heartbeat_is_in_flight_is_not_reported_lost(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    with make_studio(replace(settings, worker_lease_seconds=0.3)) as studio:
        store = studio.backend.jobs

        class SlowHeartbeatStore:
            """The store, but a heartbeat answers only after its job has finished (a slow
            store): the worker must not take the empty answer for a lost lease."""

            def __getattr__(self, name: str) -> object:
                return getattr(store, name)

            def heartbeat(self, job_ids: list[str], owner: str, lease: float) -> set[str]:
                if threading.current_thread().name == "worker-heartbeat":
                    wait_until(lambda: all(store.get_job(j).status.finished for j in job_ids))
                    time.sleep(0.1)  # the worker thread leaves its slot meanwhile
                return store.heartbeat(job_ids, owner, lease)

        studio.backend.jobs = SlowHeartbeatStore()  # type: ignore[assignment]
        studio.fake.delay = 0.15  # still running at the first heartbeat (every 0.1 s)
        job = studio.submit("finishes mid-heartbeat")
        studio.worker(owner="w")
        (done,) = studio.wait_for([job.id])
        time.sleep(0.3)
        assert done.status is JobStatus.DONE
        assert "lost the lease" not in caplog.text


POISON = "x [fail:transient:99999999999999]"


def test_jobs_asking_for_an_endless_retry_wait_do_not_hold_the_slots_of_other_users(
    studio: Studio,
) -> None:
    # The attack: one user fills every slot with jobs whose Retry-After overflowed the retry
    # time; the error was swallowed and each job held its slot until its lease ran out.
    assert studio.settings.worker_concurrency == 3
    poisoned = [studio.submit(POISON, provider="demo").id for _ in range(3)]
    other = studio.submit("a normal job", user=studio.bob, provider="demo")
    studio.worker()
    started = time.monotonic()

    (done,) = studio.wait_for([other.id], timeout=5)

    assert done.status is JobStatus.DONE and time.monotonic() - started < 5
    latest = datetime.now(UTC) + timedelta(seconds=MAX_RETRY_AFTER_SECONDS)
    for job in studio.wait_for(poisoned, lambda j: j.status is JobStatus.QUEUED, timeout=1):
        assert job.attempts == 1 and job.lease_owner is None and job.error_code == "transient"
        assert job.run_after <= latest


def _failing_once(monkeypatch: pytest.MonkeyPatch, store: object, name: str) -> None:
    """`store.name` raises on its first call (a write that hit a full disk, a dropped
    connection...), then works."""
    real = getattr(store, name)
    calls = iter(range(1_000_000))

    def flaky(*args: object, **kwargs: object) -> object:
        if next(calls) == 0:
            raise sqlite3.OperationalError("database or disk is full")
        return real(*args, **kwargs)

    monkeypatch.setattr(store, name, flaky)


@pytest.mark.parametrize(
    ("error", "broken", "status", "attempts"),
    [
        (Transient("busy"), ("requeue",), JobStatus.DONE, 2),
        (SafetyBlocked("Blocked."), ("fail",), JobStatus.FAILED, 1),
        (None, ("finish", "requeue"), JobStatus.DONE, 2),
    ],
)
def test_a_store_error_while_recording_the_outcome_still_ends_the_attempt_at_once(
    studio: Studio,
    monkeypatch: pytest.MonkeyPatch,
    error: Exception | None,
    broken: tuple[str, ...],
    status: JobStatus,
    attempts: int,
) -> None:
    # The lease is 60 s: a job left `processing` by a swallowed error would not move for that
    # long. Ended at once, it is retried (or failed) within moments.
    assert studio.settings.worker_lease_seconds >= 60
    if error is not None:
        studio.fake.fail_with = [error]
    for name in broken:
        _failing_once(monkeypatch, studio.backend.jobs, name)
    worker = studio.worker()
    job = studio.submit("recorded despite the store")

    (settled,) = studio.wait_for([job.id], timeout=3)

    assert (settled.status, settled.attempts, settled.lease_owner) == (status, attempts, None)
    assert worker.alive


def test_an_attempt_that_breaks_outside_the_runner_is_still_ended_and_the_thread_lives_on(
    studio: Studio, monkeypatch: pytest.MonkeyPatch
) -> None:
    worker = studio.worker()
    _failing_once(monkeypatch, worker.runner, "run")
    job = studio.submit("a bug in the runner")

    (done,) = studio.wait_for([job.id], timeout=3)

    assert done.status is JobStatus.DONE and done.attempts == 2
    assert worker.alive and worker.stats()["retried"] == 1


def test_a_result_that_cannot_be_stored_for_lack_of_space_waits_in_the_queue_meanwhile(
    studio: Studio, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Nothing accepted is lost, and no provider is paid again and again for images that
    # cannot be kept: the job goes back to the queue and the worker takes no job while the
    # storage reports trouble (here until the failed write is 0.5 s old).
    real_fsync = os.fsync
    full = threading.Event()
    full.set()

    def fsync(fd: int) -> None:
        if full.is_set():
            raise OSError(errno.ENOSPC, "No space left on device")
        real_fsync(fd)

    monkeypatch.setattr(core.backends.sqlite.blobs.os, "fsync", fsync)
    monkeypatch.setattr(core.backends.sqlite.db, "STORAGE_ERROR_SECONDS", 0.5)
    studio.worker()
    job = studio.submit("kept until the disk has room")

    (requeued,) = studio.wait_for([job.id], lambda j: j.error_code is not None, timeout=3)
    assert (requeued.status, requeued.attempts) == (JobStatus.QUEUED, 1)
    assert requeued.error_code == "storage_full" and "storage is full" in requeued.error_message
    assert "Storage is full" in (studio.backend.storage_problem() or "")
    time.sleep(0.3)  # many polls, and the job's backoff (at most 0.05 s) long past
    assert studio.fake.calls == 1 and studio.job(job.id).status is JobStatus.QUEUED
    full.clear()
    (done,) = studio.wait_for([job.id], timeout=3)
    assert done.status is JobStatus.DONE and done.attempts == 2 and studio.fake.calls == 2
