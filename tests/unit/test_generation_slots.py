"""Generation slots do only generation: the storage step (thumbnail, uploads, the job recorded
done) runs off the slots, while "done means stored", the cap on provider calls, leases and
graceful stop stay as they were."""

from __future__ import annotations

import threading
import time
from dataclasses import replace

import pytest

import core.queue.runner
import core.queue.worker
from core.domain.models import JobStatus
from core.domain.settings import Settings
from tests.unit.conftest import Studio, make_studio, wait_until


@pytest.fixture
def slow_thumbnails(monkeypatch: pytest.MonkeyPatch) -> threading.Event:
    """Thumbnails wait for the returned event (the storage step of every job blocks)."""
    gate = threading.Event()
    real = core.queue.runner.images.make_thumbnail

    def make_thumbnail(data: bytes) -> bytes:
        assert gate.wait(10), "the test never opened the gate"
        return real(data)

    monkeypatch.setattr(core.queue.runner.images, "make_thumbnail", make_thumbnail)
    return gate


def test_a_slot_takes_the_next_provider_call_while_the_last_image_is_stored(
    settings: Settings, slow_thumbnails: threading.Event
) -> None:
    with make_studio(replace(settings, worker_concurrency=1)) as studio:
        first = studio.submit("stored slowly")
        second = studio.submit("generated meanwhile")
        worker = studio.worker()

        # One slot: both provider calls ran although the first job's storage has not ended.
        wait_until(lambda: studio.fake.calls == 2)
        assert studio.fake.peak == 1
        for job_id in (first.id, second.id):
            row = studio.job(job_id)
            # Done means stored: neither is done, and nothing of theirs is recorded yet.
            assert row.status is JobStatus.PROCESSING and row.result_path is None
        assert worker.stats()["storing"] >= 1

        slow_thumbnails.set()
        done = studio.wait_for([first.id, second.id])
        assert [j.status for j in done] == [JobStatus.DONE, JobStatus.DONE]
        for job in done:
            assert job.thumb_path and studio.backend.blobs.get(job.thumb_path)[8:12] == b"WEBP"
            assert len(studio.backend.blobs.get(job.result_path)) == job.result_meta["bytes"]
            assert job.result_meta["worker_seconds"] >= job.result_meta["generation_seconds"]
        stats = worker.stats()
        assert (stats["done"], stats["processed"], stats["storing"]) == (2, 2, 0)


def test_the_cap_counts_generating_jobs_across_workers_not_stored_ones(
    settings: Settings, slow_thumbnails: threading.Event
) -> None:
    with make_studio(settings) as studio:
        studio.fake.delay = 0.05
        studio.worker(owner="process-a")
        studio.worker(owner="process-b")
        jobs = [studio.submit(f"job {i}") for i in range(8)]
        # Storage is stuck, yet the provider calls go on at most three at a time until the
        # per-slot room for images awaiting storage is used up.
        wait_until(lambda: studio.fake.calls >= 6)
        assert studio.fake.peak == 3
        slow_thumbnails.set()
        done = studio.wait_for([j.id for j in jobs], timeout=20)
        assert {j.status for j in done} == {JobStatus.DONE}
        assert studio.fake.peak == 3 and studio.fake.calls == 8


def test_the_images_awaiting_storage_are_bounded(
    settings: Settings, slow_thumbnails: threading.Event
) -> None:
    with make_studio(replace(settings, worker_concurrency=1)) as studio:
        jobs = [studio.submit(f"job {i}") for i in range(6)]
        worker = studio.worker()
        room = core.queue.worker.STORING_PER_SLOT
        wait_until(lambda: studio.fake.calls == room + 1)
        time.sleep(0.3)
        # `room` jobs wait for storage, one more waits in its slot for room: no further call.
        assert studio.fake.calls == room + 1
        assert worker.stats()["storing"] == room
        slow_thumbnails.set()
        done = studio.wait_for([j.id for j in jobs], timeout=20)
        assert {j.status for j in done} == {JobStatus.DONE}


def test_stop_releases_jobs_still_in_the_storage_step_and_they_finish_later(
    studio: Studio, slow_thumbnails: threading.Event
) -> None:
    job = studio.submit("stored after a restart")
    worker = studio.worker()
    wait_until(lambda: worker.stats()["storing"] == 1)

    assert worker.stop(0.2) == 1  # the grace ran out while storing
    slow_thumbnails.set()
    time.sleep(0.2)  # the old attempt's storage step ends: it must not record anything
    row = studio.job(job.id)
    assert (row.status, row.attempts, row.lease_owner) == (JobStatus.QUEUED, 0, None)

    studio.worker()
    (done,) = studio.wait_for([job.id])
    assert done.status is JobStatus.DONE and done.attempts == 1


def test_a_storage_step_that_breaks_still_ends_the_attempt(
    studio: Studio, monkeypatch: pytest.MonkeyPatch
) -> None:
    worker = studio.worker()
    real = worker.runner.store
    calls = []

    def store(*args: object, **kwargs: object) -> str:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("a bug in the storage step")
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(worker.runner, "store", store)
    job = studio.submit("broken once")

    (done,) = studio.wait_for([job.id], timeout=5)

    assert done.status is JobStatus.DONE and done.attempts == 2
    assert worker.alive and worker.stats()["retried"] == 1
