"""A headless worker killed with SIGKILL mid-flight loses nothing: a second worker takes the
abandoned jobs once their leases expire, and every job ends `done` exactly once in storage."""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest

from core.backends import open_backend
from core.domain.models import Job, JobQuery, JobRequest, JobStatus
from core.domain.settings import Settings
from tests.live_server import launch_worker
from tests.unit.conftest import Studio, make_studio

pytestmark = pytest.mark.slow


def start_worker(data_dir: Path, latency_ms: int, log: Path) -> subprocess.Popen[bytes]:
    env = {
        "DEMO_LATENCY_MS": str(latency_ms),
        "WORKER_LEASE_SECONDS": "1",
        "WORKER_POLL_SECONDS": "0.1",
        "SHUTDOWN_GRACE_SECONDS": "5",
    }
    return launch_worker(data_dir, env=env, log_path=log).process


def wait(condition: Callable[[], bool], timeout: float, what: str, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}:\n{log.read_text()[-3000:]}")
        time.sleep(0.05)


def test_a_worker_killed_mid_flight_loses_no_job_and_none_is_done_twice(
    settings: Settings, tmp_path: Path
) -> None:
    settings = replace(settings, worker_lease_seconds=1)
    log = tmp_path / "workers.log"
    with make_studio(settings) as studio:
        ids = submit(studio, 9)
        # Slow enough that the kill always lands while all three are generating.
        first = start_worker(settings.data_dir, 3000, log)
        try:
            wait(lambda: states(studio, ids).count(JobStatus.PROCESSING) == 3, 20, "claims", log)
            time.sleep(0.3)
        finally:
            kill_hard(first)
        now = states(studio, ids)
        abandoned = {i for i, s in zip(ids, now, strict=True) if s is JobStatus.PROCESSING}
        assert len(abandoned) == 3 and now.count(JobStatus.QUEUED) == 6

        drain_with_second_worker(studio, ids, settings, log)
        final = check_storage(settings, studio.alice.id, ids, temp_files_allowed=False)
        for job_id, job in final.items():
            assert job.attempts == (2 if job_id in abandoned else 1)


def test_a_worker_killed_while_jobs_stream_through_loses_none(
    settings: Settings, tmp_path: Path
) -> None:
    """The kill may land anywhere: mid-generation, between the file writes and `finish`, or
    inside a file write. Each job still ends done once, with exactly its two objects."""
    settings = replace(settings, worker_lease_seconds=1, rate_limit_per_minute=100)
    log = tmp_path / "workers.log"
    with make_studio(settings) as studio:
        ids = submit(studio, 36)
        first = start_worker(settings.data_dir, 15, log)
        try:
            wait(lambda: states(studio, ids).count(JobStatus.DONE) >= 10, 30, "progress", log)
        finally:
            kill_hard(first)
        assert JobStatus.QUEUED in states(studio, ids)  # killed mid-stream

        drain_with_second_worker(studio, ids, settings, log)
        final = check_storage(settings, studio.alice.id, ids, temp_files_allowed=True)
        assert all(job.attempts in (1, 2) for job in final.values())


def submit(studio: Studio, count: int) -> list[str]:
    req = JobRequest(provider="demo", model="demo-pattern", prompt="survive", params={})
    return [
        job.id
        for _ in range(count // 3)
        for job in studio.services.jobs.submit(studio.alice, req, count=3)
    ]


def states(studio: Studio, ids: list[str]) -> list[JobStatus]:
    return [studio.backend.jobs.get_job(i).status for i in ids]  # type: ignore[union-attr]


def kill_hard(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGKILL)
    process.wait(10)


def drain_with_second_worker(studio: Studio, ids: list[str], settings: Settings, log: Path) -> None:
    second = start_worker(settings.data_dir, 5, log)
    try:
        wait(lambda: set(states(studio, ids)) == {JobStatus.DONE}, 40, "every job done", log)
        second.send_signal(signal.SIGTERM)
        assert second.wait(15) == 0, log.read_text()[-3000:]  # a graceful stop
    finally:
        if second.poll() is None:
            second.kill()


def check_storage(
    settings: Settings, user_id: str, ids: list[str], *, temp_files_allowed: bool
) -> dict[str, Job]:
    """With fresh eyes on the data dir: every job done once, exactly two objects per job."""
    backend = open_backend(settings)
    try:
        final = {j.id: j for j in backend.jobs.list_jobs(JobQuery(limit=100)).items}
        assert sorted(final) == sorted(ids)
        blob_root = settings.data_dir / "blobs"
        files = [p.relative_to(blob_root).as_posix() for p in blob_root.rglob("*") if p.is_file()]
        # A SIGKILL inside file writes can leave the blob store's hidden temp files behind
        # (at most two per job thread); they are never objects (never renamed into place).
        temp = [f for f in files if f.rsplit("/", 1)[-1].startswith(".tmp-")]
        assert len(temp) <= (2 * settings.worker_concurrency if temp_files_allowed else 0), temp
        objects = sorted(set(files) - set(temp))
        expected = sorted(
            path
            for job_id in ids
            for path in (f"{user_id}/{job_id}.png", f"{user_id}/{job_id}.thumb.webp")
        )
        assert objects == expected  # exactly two objects per job, nothing else
        for job_id, job in final.items():
            assert job.status is JobStatus.DONE and job.lease_owner is None
            assert job.result_path == f"{user_id}/{job_id}.png"
            assert job.result_meta["bytes"] == backend.blobs.size(job.result_path)
        assert backend.jobs.queue_depth().processing == 0
        return final
    finally:
        backend.close()
