"""The job worker: a pool of threads that claim jobs from the shared queue, keep their leases
alive and hand unfinished work back on shutdown (docs/ARCHITECTURE.md: the queue protocol).
What happens to one job lives in core.queue.runner. `python -m core worker` runs one
headless."""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from concurrent import futures
from dataclasses import dataclass
from typing import Any

from core.domain.models import Job
from core.domain.settings import Settings
from core.ports import Backend
from core.providers.base import Provider
from core.queue.runner import BACKOFF_BASE_SECONDS, BACKOFF_CAP_SECONDS, Generated, JobRunner

log = logging.getLogger(__name__)

# Provider calls have their own timeouts; this is the backstop for a call that hangs anyway.
MAX_JOB_SECONDS = 600.0
# Generated images waiting for or in the storage step, per generation slot: bounds the memory
# they hold; a slot with none of this room left waits before taking its next job.
STORING_PER_SLOT = 2


@dataclass(eq=False)
class _Slot:
    """One job thread, or one job in the storage step. Each attempt has its own lease owner id,
    so a thread stuck in a provider call (or a stuck upload) cannot finish an attempt that was
    re-claimed after the lease ran out."""

    owner: str
    index: int = 0
    handed_off: int = 0  # jobs this slot handed to the storage step (each gets a fresh owner)
    job: Job | None = None
    since: float = 0.0  # monotonic time of the claim
    renewed: float = 0.0  # monotonic time the lease was last taken or extended
    released: bool = False  # handed back to the queue by stop(): touch nothing more
    claim_failing: bool = False  # the last claim raised (store unreachable)
    storage_full: bool = False  # the backend's storage could not take writes at the last look


class Worker:
    """A pool of `settings.worker_concurrency` threads taking jobs from the shared queue.
    The cap on running jobs is enforced by the store's `claim`, across processes."""

    def __init__(
        self,
        backend: Backend,
        providers: dict[str, Provider],
        settings: Settings,
        *,
        owner: str | None = None,
        backoff_base: float = BACKOFF_BASE_SECONDS,
        backoff_cap: float = BACKOFF_CAP_SECONDS,
        max_job_seconds: float = MAX_JOB_SECONDS,
    ) -> None:
        self.backend = backend
        self.providers = providers
        self.settings = settings
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.max_job_seconds = max_job_seconds
        self._wake = threading.Event()
        self._stopping = threading.Event()
        # Set only once no job thread holds a live lease: jobs keep running through the grace
        # period, and a lease left to lapse then would let another worker take (and bill) it.
        self._heartbeat_done = threading.Event()
        self._lock = threading.Lock()
        self._slots: list[_Slot] = []
        self._threads: list[threading.Thread] = []
        self._heartbeat_thread: threading.Thread | None = None
        self._writer = futures.ThreadPoolExecutor(
            max(1, settings.worker_concurrency), thread_name_prefix="worker-write"
        )
        # The storage step (thumbnail, uploads, the job recorded done) runs here, off the
        # generation slots: a slot is free for the next provider call once the image is checked.
        self._storer = futures.ThreadPoolExecutor(
            max(1, settings.worker_concurrency), thread_name_prefix="worker-store"
        )
        self._storing: list[_Slot] = []
        self._storing_room = threading.Semaphore(
            STORING_PER_SLOT * max(1, settings.worker_concurrency)
        )
        self._storing_changed = threading.Condition(self._lock)
        self.runner = JobRunner(
            backend,
            providers,
            settings,
            writer=self._writer,
            backoff_base=backoff_base,
            backoff_cap=backoff_cap,
        )
        self._counts = {
            "processed": 0,
            "done": 0,
            "failed": 0,
            "retried": 0,
            "lost": 0,
            "released": 0,
        }

    # ---- lifecycle ------------------------------------------------------------------------

    def start(self) -> None:
        """Start the job threads and the heartbeat thread."""
        if self._threads:
            return
        for i in range(max(1, self.settings.worker_concurrency)):
            slot = _Slot(owner=f"{self.owner}#{i}", index=i)
            self._slots.append(slot)
            self._threads.append(
                threading.Thread(target=self._loop, args=(slot,), name=f"worker-{i}", daemon=True)
            )
        self._heartbeat_thread = threading.Thread(
            target=self._heartbeat_loop, name="worker-heartbeat", daemon=True
        )
        for thread in [*self._threads, self._heartbeat_thread]:
            thread.start()
        log.info("worker %s started: %d threads", self.owner, len(self._threads))

    def wake(self) -> None:
        """A job was submitted: look for work now instead of at the next poll."""
        self._wake.set()

    def stop(self, grace: float) -> int:
        """Stop claiming, let running jobs finish for up to `grace` seconds, then hand the
        rest back to the queue. Returns how many jobs were released."""
        self._stopping.set()
        self._wake.set()
        deadline = time.monotonic() + max(0.0, grace)
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        with self._lock:
            # Jobs in the storage step finish within the same grace.
            while self._storing and (left := deadline - time.monotonic()) > 0:
                self._storing_changed.wait(left)
            leftover = [slot for slot in [*self._slots, *self._storing] if slot.job is not None]
            for slot in leftover:
                slot.released = True
        released = sum(self._release(slot.owner, slot.job.id) for slot in leftover if slot.job)
        self._heartbeat_done.set()
        if leftover:
            log.info("worker %s released %d unfinished jobs", self.owner, released)
        # Idle threads are only claiming or waiting: let them exit before the caller closes
        # the backend under them. Busy ones stay out of the store once released.
        settle = time.monotonic() + 5
        for slot, thread in zip(self._slots, self._threads, strict=True):
            if slot not in leftover:
                thread.join(max(0.0, settle - time.monotonic()))
        if self._heartbeat_thread is not None:
            self._heartbeat_thread.join(1.0)
        self._storer.shutdown(wait=False)
        self._writer.shutdown(wait=False)
        log.info("worker %s stopped", self.owner)
        return released

    @property
    def alive(self) -> bool:
        """True while started, not stopping, and every thread runs."""
        return (
            bool(self._threads)
            and not self._stopping.is_set()
            and all(t.is_alive() for t in self._threads)
            and self._heartbeat_thread is not None
            and self._heartbeat_thread.is_alive()
        )

    def stats(self) -> dict[str, Any]:
        """This worker's figures; the runtime attaches them to AdminService.background (the
        admin page shows them)."""
        with self._lock:
            return {
                "alive": self.alive,
                "threads": len(self._threads),
                "running": sum(1 for slot in [*self._slots, *self._storing] if slot.job),
                "storing": len(self._storing),
                **self._counts,
            }

    # ---- the loop -------------------------------------------------------------------------

    def _loop(self, slot: _Slot) -> None:
        while not self._stopping.is_set():
            job = self._next_job(slot)
            if job is None:
                continue
            outcome = "lost"
            try:
                outcome = self._run(job, slot)
            finally:
                with self._lock:
                    slot.job, slot.released = None, False
                    if outcome != "generated":  # counted when its storage step ends
                        self._counts["processed"] += 1
                        self._counts[outcome] += 1

    def _run(self, job: Job, slot: _Slot) -> str:
        """One attempt. `run` is not meant to raise; if it does anyway, the attempt is still
        ended in the store and the thread lives on to take the next job."""
        try:
            return self.runner.run(
                job,
                slot.owner,
                _SlotGuard(self, slot),
                store_in=lambda generated: self._hand_off(slot, generated),
            )
        except Exception:
            log.exception("worker %s: the attempt at job %s broke", slot.owner, job.id)
            if self._was_released(slot):
                return "released"
            return self.runner.end_attempt(job, slot.owner)

    def _hand_off(self, slot: _Slot, generated: Generated) -> bool:
        """Move the slot's generated job to the storage step and give the slot a fresh lease
        owner for its next job. False (nothing moved) if stop released the job meanwhile."""
        while not self._storing_room.acquire(timeout=0.05):
            if self._was_released(slot):
                return False
        with self._lock:
            if slot.released or slot.job is None:
                self._storing_room.release()
                return False
            entry = _Slot(owner=slot.owner, job=slot.job, since=slot.since, renewed=slot.renewed)
            self._storing.append(entry)
            # Submitted under the lock: stop() shuts the pool down only after its release pass.
            self._storer.submit(self._store, entry, generated)
            slot.job = None
            slot.handed_off += 1
            slot.owner = f"{self.owner}#{slot.index}.{slot.handed_off}"
        return True

    def _store(self, entry: _Slot, generated: Generated) -> None:
        """The storage step of one generated job, on the storage pool. Like `_run`, an attempt
        that breaks anyway is still ended in the store."""
        outcome = "lost"
        try:
            outcome = self.runner.store(generated, entry.owner, _SlotGuard(self, entry))
        except Exception:
            log.exception("worker %s: storing job %s broke", entry.owner, generated.job.id)
            if self._was_released(entry):
                outcome = "released"
            else:
                outcome = self.runner.end_attempt(generated.job, entry.owner)
        finally:
            with self._lock:
                self._storing.remove(entry)
                entry.job = None
                self._counts["processed"] += 1
                self._counts[outcome] += 1
                self._storing_changed.notify_all()
            self._storing_room.release()

    def _next_job(self, slot: _Slot) -> Job | None:
        # Clear before claiming: a submit after this point sets the flag again, so the wait
        # below cannot miss it; a submit before it is already visible to the claim.
        self._wake.clear()
        try:
            job = None if self._storage_full(slot) else self._claim(slot)
        except Exception:
            # Once per outage, not once per poll per thread.
            if not slot.claim_failing:
                log.exception("worker %s: claim failed; retrying every poll", slot.owner)
            slot.claim_failing = True
            job = None
        else:
            if slot.claim_failing:
                log.info("worker %s: claiming works again", slot.owner)
            slot.claim_failing = False
        if job is None:
            if not self._stopping.is_set():
                self._wake.wait(self.settings.worker_poll_seconds)
            return None
        if self._stopping.is_set():  # claimed while stopping: hand it straight back
            self._release(slot.owner, job.id)
            return None
        with self._lock:
            now = time.monotonic()
            slot.job, slot.since, slot.renewed, slot.released = job, now, now, False
        # More work may be waiting: let an idle sibling thread look at once.
        self._wake.set()
        return job

    def _claim(self, slot: _Slot) -> Job | None:
        return self.backend.jobs.claim(
            slot.owner, self.settings.worker_lease_seconds, self.settings.worker_concurrency
        )

    def _storage_full(self, slot: _Slot) -> bool:
        """True while the backend's own storage cannot take writes: a job claimed now would
        pay the provider for an image that cannot be kept. Its jobs wait in the queue."""
        problem = self.backend.storage_problem()
        if problem is not None and not slot.storage_full:
            log.warning(
                "worker %s: not taking jobs until storage recovers: %s", slot.owner, problem
            )
        elif problem is None and slot.storage_full:
            log.info("worker %s: storage recovered; taking jobs again", slot.owner)
        slot.storage_full = problem is not None
        return slot.storage_full

    def _heartbeat_loop(self) -> None:
        interval = max(0.05, self.settings.worker_lease_seconds / 3)
        warned: set[str] = set()
        while not self._heartbeat_done.wait(interval):
            # A call stuck past max_job_seconds stops being renewed: its lease runs out and
            # another thread or worker takes the job (this attempt's late finish is refused).
            too_old = time.monotonic() - self.max_job_seconds
            with self._lock:
                held = [
                    (s.owner, s.job.id, s.since > too_old)
                    for s in [*self._slots, *self._storing]
                    if s.job and not s.released
                ]
            warned &= {job_id for _owner, job_id, _renew in held}
            for owner, job_id, renew in held:
                if not renew:
                    if job_id not in warned:
                        warned.add(job_id)
                        log.warning(
                            "job %s ran past %.0fs; its lease may lapse",
                            job_id,
                            self.max_job_seconds,
                        )
                    continue
                try:
                    kept = self.backend.jobs.heartbeat(
                        [job_id], owner, self.settings.worker_lease_seconds
                    )
                except Exception:
                    log.exception("worker %s: heartbeat failed", owner)
                    continue
                if job_id in kept:
                    self._renewed(owner, job_id)
                elif self._holds(owner, job_id):  # not merely finished since the snapshot
                    log.warning("worker %s lost the lease on job %s", owner, job_id)

    def _release(self, owner: str, job_id: str) -> int:
        """Hand a job back to the queue (refunding the attempt); 1 if it was still ours."""
        try:
            return self.backend.jobs.release([job_id], owner)
        except Exception:
            log.exception("worker %s could not release job %s", owner, job_id)
            return 0

    def _holds(self, owner: str, job_id: str) -> bool:
        """Whether a slot of this worker still runs `job_id` as `owner`."""
        with self._lock:
            return any(
                s.owner == owner and s.job is not None and s.job.id == job_id and not s.released
                for s in [*self._slots, *self._storing]
            )

    def _renewed(self, owner: str, job_id: str) -> None:
        with self._lock:
            for slot in [*self._slots, *self._storing]:
                if slot.owner == owner and slot.job is not None and slot.job.id == job_id:
                    slot.renewed = time.monotonic()

    def _was_released(self, slot: _Slot) -> bool:
        """True once `stop` handed the slot's job back to the queue."""
        with self._lock:
            return slot.released


class _SlotGuard:
    """A slot's lease as the runner sees it."""

    def __init__(self, worker: Worker, slot: _Slot) -> None:
        self._worker = worker
        self._slot = slot

    def released(self) -> bool:
        return self._worker._was_released(self._slot)

    def hold(self) -> bool:
        # A lease taken or renewed less than half a lease ago cannot have run out: skip the
        # round trip. Otherwise renew it now, which also tells whether it is still ours.
        slot, lease = self._slot, self._worker.settings.worker_lease_seconds
        if slot.job is None:
            return False
        if time.monotonic() - slot.renewed <= lease / 2:
            return True
        if slot.job.id not in self._worker.backend.jobs.heartbeat([slot.job.id], slot.owner, lease):
            return False
        self._worker._renewed(slot.owner, slot.job.id)
        return True
