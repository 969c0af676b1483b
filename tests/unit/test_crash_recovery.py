"""A headless worker killed with SIGKILL mid-flight loses nothing: a second worker takes the
abandoned jobs once their leases expire, and every job ends `done` exactly once in storage."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest

from core.backends import open_backend
from core.models import JobQuery, JobRequest, JobStatus
from core.service import JobService
from core.settings import Settings
from tests.unit.conftest import Studio, make_studio

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
JOBS = 9


def start_worker(data_dir: Path, latency_ms: int, log: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "DATA_DIR": str(data_dir),
        "DEMO_LATENCY_MS": str(latency_ms),
        "WORKER_LEASE_SECONDS": "1",
        "WORKER_POLL_SECONDS": "0.1",
        "SHUTDOWN_GRACE_SECONDS": "5",
        "LOG_LEVEL": "INFO",
    }
    for key in ("SUPABASE_URL", "NEXT_PUBLIC_SUPABASE_URL"):
        env.pop(key, None)
    return subprocess.Popen(
        [sys.executable, "-m", "core.worker"],
        cwd=ROOT,
        env=env,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )


def wait(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def test_a_worker_killed_mid_flight_loses_no_job_and_none_is_done_twice(
    settings: Settings, tmp_path: Path
) -> None:
    settings = replace(settings, worker_lease_seconds=1)
    log = tmp_path / "workers.log"
    with make_studio(settings) as studio:
        run_crash_scenario(studio, settings, log)


def run_crash_scenario(studio: Studio, settings: Settings, log: Path) -> None:
    service: JobService = studio.service
    req = JobRequest(provider="demo", model="demo-pattern", prompt="survive", params={})
    ids = [j.id for _ in range(3) for j in service.submit(studio.alice, req, count=3)]
    jobs = studio.backend.jobs

    def states() -> list[JobStatus]:
        return [jobs.get_job(i).status for i in ids]  # type: ignore[union-attr]

    first = start_worker(settings.data_dir, 1500, log)
    try:
        wait(lambda: states().count(JobStatus.PROCESSING) == 3, 20, "the first worker to claim")
        time.sleep(0.3)
        first.send_signal(signal.SIGKILL)
        first.wait(5)
    finally:
        if first.poll() is None:
            first.kill()
    abandoned = [i for i, s in zip(ids, states(), strict=True) if s is JobStatus.PROCESSING]
    assert len(abandoned) == 3, "the kill should catch three jobs mid-generation"

    second = start_worker(settings.data_dir, 20, log)
    try:
        wait(lambda: set(states()) == {JobStatus.DONE}, 30, "every job to be done")
        second.send_signal(signal.SIGTERM)
        assert second.wait(15) == 0, log.read_text()[-3000:]
    finally:
        if second.poll() is None:
            second.kill()

    # Fresh eyes on the same data directory.
    backend = open_backend(settings)
    try:
        final = {j.id: j for j in backend.jobs.list_jobs(JobQuery(limit=100)).items}
        assert sorted(final) == sorted(ids)
        blob_root = settings.data_dir / "blobs"
        stored = sorted(
            p.relative_to(blob_root).as_posix() for p in blob_root.rglob("*") if p.is_file()
        )
        expected = sorted(
            path
            for job_id in ids
            for path in (
                f"{studio.alice.id}/{job_id}.png",
                f"{studio.alice.id}/{job_id}.thumb.webp",
            )
        )
        assert stored == expected  # exactly two files per job, no strays, no temp files
        for job_id, job in final.items():
            assert job.status is JobStatus.DONE and job.lease_owner is None
            assert job.result_path == f"{studio.alice.id}/{job_id}.png"
            assert job.result_meta["bytes"] == backend.blobs.size(job.result_path)
            assert job.attempts == (2 if job_id in abandoned else 1)
        assert backend.jobs.queue_depth().processing == 0
    finally:
        backend.close()
