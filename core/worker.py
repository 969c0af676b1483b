"""The job worker: claim → generate → verify → store → finish, with leases, heartbeats and
retries (DESIGN.md §4). `python -m core.worker` runs one headless."""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import random
import signal
import socket
import threading
import time
import uuid
from concurrent import futures
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from core import images
from core.backends.base import Backend
from core.errors import ValidationError
from core.models import Job, JobKind
from core.providers.base import GenerationRequest, Provider, ProviderError, Transient
from core.settings import Settings

log = logging.getLogger(__name__)

BACKOFF_BASE_SECONDS = 2.0
BACKOFF_CAP_SECONDS = 300.0
UNEXPECTED_MESSAGE = "Unexpected error while generating"
# Provider calls have their own timeouts; this is the backstop for a call that hangs anyway.
MAX_JOB_SECONDS = 600.0


def backoff_seconds(
    attempt: int,
    *,
    base: float = BACKOFF_BASE_SECONDS,
    cap: float = BACKOFF_CAP_SECONDS,
    retry_after: float | None = None,
    rng: random.Random | None = None,
) -> float:
    """Exponential backoff with full jitter for the `attempt`-th failure (1-based), never
    shorter than the provider's Retry-After."""
    ceiling = min(cap, base * 2 ** max(0, attempt - 1))
    delay = (rng or random).uniform(0, ceiling)
    if retry_after is not None and retry_after > delay:
        delay = float(retry_after)
    return delay


def result_paths(job: Job, ext: str) -> tuple[str, str]:
    """Object paths of a job's image and thumbnail: derived from the job id, so a retried or
    re-claimed job overwrites rather than adds."""
    return f"{job.user_id}/{job.id}.{ext}", f"{job.user_id}/{job.id}.thumb.webp"


@dataclass(frozen=True)
class _Outcome:
    code: str
    message: str
    retryable: bool
    retry_after: float | None = None


@dataclass(eq=False)
class _Slot:
    """One job thread. Each has its own lease owner id, so a thread stuck in a provider call
    cannot finish an attempt that a sibling re-claimed after the lease ran out."""

    owner: str
    job: Job | None = None
    since: float = 0.0  # monotonic time of the claim
    renewed: float = 0.0  # monotonic time the lease was last taken or extended
    released: bool = False  # handed back to the queue by stop(): touch nothing more


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
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self.max_job_seconds = max_job_seconds
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._slots: list[_Slot] = []
        self._threads: list[threading.Thread] = []
        self._heartbeat_thread: threading.Thread | None = None
        self._writer = futures.ThreadPoolExecutor(
            max(1, settings.worker_concurrency), thread_name_prefix="worker-write"
        )
        self._counts = {"processed": 0, "done": 0, "failed": 0, "retried": 0, "lost": 0}
        self._rng = random.Random()

    # ---- lifecycle ------------------------------------------------------------------------

    def start(self) -> None:
        """Start the job threads and the heartbeat thread."""
        if self._threads:
            return
        for i in range(max(1, self.settings.worker_concurrency)):
            slot = _Slot(owner=f"{self.owner}#{i}")
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
            leftover = [slot for slot in self._slots if slot.job is not None]
            for slot in leftover:
                slot.released = True
        released = sum(self._release(slot.owner, slot.job.id) for slot in leftover if slot.job)
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
        """Figures for /api/health."""
        with self._lock:
            return {
                "alive": self.alive,
                "threads": len(self._threads),
                "running": sum(1 for slot in self._slots if slot.job is not None),
                **self._counts,
            }

    # ---- the loop -------------------------------------------------------------------------

    def _loop(self, slot: _Slot) -> None:
        while not self._stopping.is_set():
            job = self._next_job(slot)
            if job is None:
                continue
            try:
                self._process(job, slot)
            finally:
                with self._lock:
                    slot.job, slot.released = None, False
                    self._counts["processed"] += 1

    def _next_job(self, slot: _Slot) -> Job | None:
        # Clear before claiming: a submit after this point sets the flag again, so the wait
        # below cannot miss it; a submit before it is already visible to the claim.
        self._wake.clear()
        try:
            job = self.backend.jobs.claim(
                slot.owner, self.settings.worker_lease_seconds, self.settings.worker_concurrency
            )
        except Exception:
            log.exception("worker %s: claim failed", slot.owner)
            job = None
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

    def _heartbeat_loop(self) -> None:
        interval = max(0.05, self.settings.worker_lease_seconds / 3)
        warned: set[str] = set()
        while not self._stopping.wait(interval):
            # A call stuck past max_job_seconds stops being renewed: its lease runs out and
            # another thread or worker takes the job (this attempt's late finish is refused).
            too_old = time.monotonic() - self.max_job_seconds
            with self._lock:
                held = [(s.owner, s.job.id, s.since > too_old) for s in self._slots if s.job]
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
                else:
                    log.warning("worker %s lost the lease on job %s", owner, job_id)

    # ---- one job --------------------------------------------------------------------------

    def _process(self, job: Job, slot: _Slot) -> None:
        started = time.perf_counter()
        try:
            result_path, thumb_path, meta = self._generate_and_store(job, slot)
        except ProviderError as exc:
            outcome = _Outcome(exc.code, exc.message, exc.retryable, exc.retry_after)
            self._settle_error(job, slot, outcome)
            return
        except _JobReleased:
            log.info("job %s was released during shutdown; leaving it to the next worker", job.id)
            return
        except _LeaseLost:
            log.warning(
                "worker %s lost the lease on job %s; dropping its result", slot.owner, job.id
            )
            with self._lock:
                self._counts["lost"] += 1
            return
        except Exception:
            log.exception("worker %s: unexpected error on job %s", slot.owner, job.id)
            self._settle_error(job, slot, _Outcome("internal_error", UNEXPECTED_MESSAGE, True))
            return
        meta["worker_seconds"] = round(time.perf_counter() - started, 3)
        if self._was_released(slot):
            return
        try:
            finished = self.backend.jobs.finish(
                job.id,
                slot.owner,
                result_path=result_path,
                thumb_path=thumb_path,
                result_meta=meta,
            )
        except Exception:
            log.exception("worker %s: could not record job %s as done", slot.owner, job.id)
            self._settle_error(job, slot, _Outcome("internal_error", UNEXPECTED_MESSAGE, True))
            return
        with self._lock:
            self._counts["done" if finished else "lost"] += 1
        if not finished:
            log.warning(
                "worker %s finished job %s after losing its lease; the new owner's result stands",
                slot.owner,
                job.id,
            )

    def _generate_and_store(self, job: Job, slot: _Slot) -> tuple[str, str, dict[str, Any]]:
        provider = self.providers.get(job.provider)
        if provider is None or not provider.available():
            reason = provider.unavailable_reason() if provider is not None else None
            raise _Permanent(
                "provider_unavailable",
                reason or f"The provider {job.provider!r} is not available on this server.",
            )
        try:
            model = provider.model(job.model)
        except ValidationError as exc:
            raise _Permanent("model_unavailable", exc.message) from None
        if model.retired:
            raise _Permanent("model_unavailable", f"{model.id} was {model.retired}.")

        input_image = input_mime = None
        if job.kind is JobKind.EDIT:
            if not job.input_path:
                raise _Permanent("invalid_request", "This edit has no source image.")
            try:
                input_image = self.backend.blobs.get(job.input_path)
            except Exception:
                raise _Permanent(
                    "invalid_request", "The source image is no longer stored."
                ) from None
            try:
                input_mime = images.inspect_image(input_image).mime
            except images.InvalidImage as exc:
                raise _Permanent("invalid_request", f"Source image: {exc.message}") from None

        request = GenerationRequest(
            model=model.id,
            prompt=job.prompt,
            params=dict(job.params),
            user_ref=self._user_ref(job.user_id),
            input_image=input_image,
            input_mime=input_mime,
        )
        t0 = time.perf_counter()
        call = provider.edit if job.kind is JobKind.EDIT else provider.generate
        result = call(request)
        generation_seconds = time.perf_counter() - t0

        try:
            info = images.inspect_image(result.data)
        except images.InvalidImage as exc:
            log.warning("job %s: provider %s returned a bad image: %s", job.id, job.provider, exc)
            raise Transient("The provider returned an unreadable image.") from None
        result_path, thumb_path = result_paths(job, images.extension_for(info.mime))
        if self._was_released(slot):
            raise _JobReleased()
        # An attempt that may have lost its lease (stuck past it, job re-claimed) must not
        # overwrite the objects of the attempt that owns the job now: renew before writing,
        # unless the lease was taken or renewed so recently that it cannot have run out.
        lease = self.settings.worker_lease_seconds
        if time.monotonic() - slot.renewed > lease / 2:
            if job.id not in self.backend.jobs.heartbeat([job.id], slot.owner, lease):
                raise _LeaseLost()
            self._renewed(slot.owner, job.id)
        # The image write (I/O) runs while this thread makes the thumbnail (CPU).
        image_write = self._writer.submit(
            self.backend.blobs.put, result_path, result.data, info.mime
        )
        try:
            thumb = images.make_thumbnail(result.data)
            self.backend.blobs.put(thumb_path, thumb, "image/webp")
        finally:
            futures.wait([image_write])
        image_write.result()
        meta = dict(result.meta)
        meta.update(
            model=model.id,
            width=info.width,
            height=info.height,
            mime=info.mime,
            bytes=len(result.data),
            generation_seconds=round(generation_seconds, 3),
        )
        return result_path, thumb_path, meta

    def _settle_error(self, job: Job, slot: _Slot, outcome: _Outcome) -> None:
        """Requeue with backoff while attempts remain, else fail with a plain message."""
        if self._was_released(slot):
            log.info("job %s was released during shutdown; its error is not recorded", job.id)
            return
        jobs = self.backend.jobs
        try:
            if outcome.retryable and job.attempts < job.max_attempts:
                delay = backoff_seconds(
                    job.attempts,
                    base=self.backoff_base,
                    cap=self.backoff_cap,
                    retry_after=outcome.retry_after,
                    rng=self._rng,
                )
                message = outcome.message
                if outcome.code == "internal_error":
                    message = f"{message}; will retry."
                ok = jobs.requeue(
                    job.id,
                    slot.owner,
                    run_after=datetime.now(UTC) + timedelta(seconds=delay),
                    error_code=outcome.code,
                    error_message=message,
                )
                counter = "retried"
                log.info(
                    "job %s attempt %d/%d failed (%s); retry in %.1fs",
                    job.id,
                    job.attempts,
                    job.max_attempts,
                    outcome.code,
                    delay,
                )
            else:
                message = outcome.message
                if outcome.retryable:
                    message = f"Gave up after {job.attempts} attempts: {message.rstrip('.')}."
                ok = jobs.fail(job.id, slot.owner, error_code=outcome.code, error_message=message)
                counter = "failed"
                log.info("job %s failed: %s", job.id, outcome.code)
        except Exception:
            log.exception("worker %s: could not record the outcome of job %s", slot.owner, job.id)
            return
        with self._lock:
            self._counts[counter if ok else "lost"] += 1

    def _release(self, owner: str, job_id: str) -> int:
        """Hand a job back to the queue (refunding the attempt); 1 if it was still ours."""
        try:
            return self.backend.jobs.release([job_id], owner)
        except Exception:
            log.exception("worker %s could not release job %s", owner, job_id)
            return 0

    def _renewed(self, owner: str, job_id: str) -> None:
        with self._lock:
            for slot in self._slots:
                if slot.owner == owner and slot.job is not None and slot.job.id == job_id:
                    slot.renewed = time.monotonic()

    def _was_released(self, slot: _Slot) -> bool:
        """True once `stop` handed the slot's job back to the queue."""
        with self._lock:
            return slot.released

    def _user_ref(self, user_id: str) -> str:
        """A stable pseudonymous id for providers' abuse tracking (never the real id)."""
        key = (self.settings.secret_key or "image-studio").encode()
        return hmac.new(key, user_id.encode(), hashlib.sha256).hexdigest()[:32]


class _Permanent(ProviderError):
    """A job that cannot succeed whatever the retry (missing provider, model or source)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code  # type: ignore[misc]


class _JobReleased(Exception):
    """The job was handed back to the queue by `stop`; do not touch it any more."""


class _LeaseLost(Exception):
    """Another attempt owns the job now; this one's result is dropped."""


def main() -> None:
    """Headless worker: settings from env, graceful stop on SIGINT/SIGTERM."""
    from dataclasses import replace

    from core.runtime import build_runtime

    logging.basicConfig(
        level=os.environ.get("LOG_LEVEL", "INFO").upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    settings = replace(Settings.load(), worker_enabled=True)
    runtime = build_runtime(settings)
    stop = threading.Event()

    def on_signal(signum: int, _frame: object) -> None:
        if stop.is_set():
            log.warning("second signal: exiting now")
            os._exit(1)
        log.info("signal %s: stopping (grace %.0fs)", signum, settings.shutdown_grace_seconds)
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    runtime.start()
    log.info("headless worker running on the %s backend", runtime.backend.name)
    while not stop.wait(1.0):
        pass
    runtime.stop()


if __name__ == "__main__":
    main()
