"""The local queue under real contention: threads sharing one backend, and separate processes
sharing one SQLite file. Every job is handed out exactly once and the cap is never exceeded."""

from __future__ import annotations

import multiprocessing
import threading
import time
from dataclasses import replace
from pathlib import Path

from core.backends.sqlite import open_local_backend
from core.domain.settings import Settings
from tests.constants import FAST_HASHER, LEASE, PASSWORD
from tests.contract.support import submit

CAP = 3


def _drain(backend, owner: str, work_seconds: float, claimed: list[str], lock, peak: list[int],
           in_flight: set[str]) -> None:  # fmt: skip
    """Claim and finish until the queue is empty. `in_flight` gains a job after its claim and
    loses it before its finish, so it is always a subset of the live leases in the database."""
    while True:
        job = backend.jobs.claim(owner, LEASE, CAP)
        if job is None:
            if backend.jobs.queue_depth().queued == 0:
                return
            time.sleep(0.002)
            continue
        with lock:
            claimed.append(job.id)
            in_flight.add(job.id)
            peak[0] = max(peak[0], len(in_flight))
        time.sleep(work_seconds)
        with lock:
            in_flight.discard(job.id)
        assert backend.jobs.finish(
            job.id, owner, result_path=f"r/{job.id}.png", thumb_path=None, result_meta={}
        )


def _watch(backend, stop: threading.Event, worst: list[int]) -> None:
    while not stop.is_set():
        worst[0] = max(worst[0], backend.jobs.queue_depth().processing)
        time.sleep(0.001)


def test_eight_threads_take_each_job_once_within_the_cap(settings):
    backend = open_local_backend(settings, password_hasher=FAST_HASHER)
    try:
        user = backend.accounts.sign_up("me@example.com", PASSWORD, admin_emails=frozenset()).user
        jobs = [j for _ in range(15) for j in submit(backend, user, 4)]
        claimed: list[str] = []
        lock = threading.Lock()
        peak, worst, in_flight = [0], [0], set()
        stop = threading.Event()
        watcher = threading.Thread(target=_watch, args=(backend, stop, worst))
        workers = [
            threading.Thread(
                target=_drain,
                args=(backend, f"thread-{i}", 0.003, claimed, lock, peak, in_flight),
            )
            for i in range(8)
        ]
        watcher.start()
        for t in workers:
            t.start()
        for t in workers:
            t.join(60)
        stop.set()
        watcher.join()

        assert sorted(claimed) == sorted(j.id for j in jobs)  # each exactly once
        assert 1 <= peak[0] <= CAP
        assert worst[0] <= CAP
        assert backend.jobs.queue_depth().processing == 0
        assert all(backend.jobs.get_job(j.id).attempts == 1 for j in jobs)
    finally:
        backend.close()


def _process_main(data_dir: str, name: str, results) -> None:
    """A separate worker process with its own backend on the shared file and three threads."""
    settings = replace(Settings.load(env={}, secrets_path=None), data_dir=Path(data_dir))
    backend = open_local_backend(settings)
    claimed: list[str] = []
    lock = threading.Lock()
    peak, in_flight = [0], set()
    threads = [
        threading.Thread(
            target=_drain, args=(backend, f"{name}-{i}", 0.004, claimed, lock, peak, in_flight)
        )
        for i in range(3)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    backend.close()
    results.put(claimed)


def test_worker_processes_sharing_the_file_take_each_job_once_within_the_cap(settings):
    backend = open_local_backend(settings, password_hasher=FAST_HASHER)
    try:
        user = backend.accounts.sign_up("me@example.com", PASSWORD, admin_emails=frozenset()).user
        jobs = [j for _ in range(12) for j in submit(backend, user, 4)]
        ctx = multiprocessing.get_context("spawn")
        results = ctx.Queue()
        procs = [
            ctx.Process(target=_process_main, args=(str(settings.data_dir), f"p{i}", results))
            for i in range(3)
        ]
        stop, worst = threading.Event(), [0]
        watcher = threading.Thread(target=_watch, args=(backend, stop, worst))
        watcher.start()
        for p in procs:
            p.start()
        claimed = [job_id for _ in procs for job_id in results.get(timeout=90)]
        for p in procs:
            p.join(30)
        stop.set()
        watcher.join()

        assert all(p.exitcode == 0 for p in procs)
        assert sorted(claimed) == sorted(j.id for j in jobs)
        assert worst[0] <= CAP
        assert all(backend.jobs.get_job(j.id).status.value == "done" for j in jobs)
    finally:
        backend.close()
