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
    ) -> None:
        self.backend = backend
        self.providers = providers
        self.settings = settings
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._running: dict[str, str] = {}  # job id → name of the thread running it
        self._released: set[str] = set()
        self._threads: list[threading.Thread] = []
        self._heartbeat_thread: threading.Thread | None = None
        self._counts = {"processed": 0, "done": 0, "failed": 0, "retried": 0, "lost": 0}
        self._rng = random.Random()

    # ---- lifecycle ------------------------------------------------------------------------

    def start(self) -> None:
        """Start the job threads and the heartbeat thread."""
        if self._threads:
            return
        for i in range(max(1, self.settings.worker_concurrency)):
            thread = threading.Thread(target=self._loop, name=f"worker-{i}", daemon=True)
            self._threads.append(thread)
        self._heartbeat_thread = threading.Thread(
            target=self._heartbeat_loop, name="worker-heartbeat", daemon=True
        )
        for thread in [*self._threads, self._heartbeat_thread]:
            thread.start()
        log.info("worker %s started: %d threads", self.owner, self.settings.worker_concurrency)

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
            leftover = list(self._running)
            busy = set(self._running.values())
            self._released.update(leftover)
        released = self._release_quietly(leftover)
        # Idle threads are only claiming or waiting: let them exit before the caller closes
        # the backend under them. Busy ones stay out of the store once released.
        settle = time.monotonic() + 5
        for thread in self._threads:
            if thread.name not in busy:
                thread.join(max(0.0, settle - time.monotonic()))
        if self._heartbeat_thread is not None:
            self._heartbeat_thread.join(1.0)
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
                "running": len(self._running),
                **self._counts,
            }

    # ---- the loop -------------------------------------------------------------------------

    def _loop(self) -> None:
        while not self._stopping.is_set():
            job = self._next_job()
            if job is None:
                continue
            try:
                self._process(job)
            finally:
                with self._lock:
                    self._running.pop(job.id, None)
                    self._released.discard(job.id)
                    self._counts["processed"] += 1

    def _next_job(self) -> Job | None:
        # Clear before claiming: a submit after this point sets the flag again, so the wait
        # below cannot miss it; a submit before it is already visible to the claim.
        self._wake.clear()
        try:
            job = self.backend.jobs.claim(
                self.owner, self.settings.worker_lease_seconds, self.settings.worker_concurrency
            )
        except Exception:
            log.exception("worker %s: claim failed", self.owner)
            job = None
        if job is None:
            if not self._stopping.is_set():
                self._wake.wait(self.settings.worker_poll_seconds)
            return None
        if self._stopping.is_set():  # claimed while stopping: hand it straight back
            self._release_quietly([job.id])
            return None
        with self._lock:
            self._running[job.id] = threading.current_thread().name
        # More work may be waiting: let an idle sibling thread look at once.
        self._wake.set()
        return job

    def _heartbeat_loop(self) -> None:
        interval = max(0.05, self.settings.worker_lease_seconds / 3)
        while not self._stopping.wait(interval):
            with self._lock:
                ids = list(self._running)
            if not ids:
                continue
            try:
                held = self.backend.jobs.heartbeat(
                    ids, self.owner, self.settings.worker_lease_seconds
                )
            except Exception:
                log.exception("worker %s: heartbeat failed", self.owner)
                continue
            for job_id in set(ids) - held:
                with self._lock:
                    still_running = job_id in self._running
                if still_running:
                    log.warning("worker %s lost the lease on job %s", self.owner, job_id)

    # ---- one job --------------------------------------------------------------------------

    def _process(self, job: Job) -> None:
        started = time.perf_counter()
        try:
            result_path, thumb_path, meta = self._generate_and_store(job)
        except ProviderError as exc:
            self._settle_error(job, _Outcome(exc.code, exc.message, exc.retryable, exc.retry_after))
            return
        except _JobReleased:
            log.info("job %s was released during shutdown; leaving it to the next worker", job.id)
            return
        except Exception:
            log.exception("worker %s: unexpected error on job %s", self.owner, job.id)
            self._settle_error(job, _Outcome("internal_error", UNEXPECTED_MESSAGE, True))
            return
        meta["worker_seconds"] = round(time.perf_counter() - started, 3)
        if self._was_released(job):
            return
        try:
            finished = self.backend.jobs.finish(
                job.id,
                self.owner,
                result_path=result_path,
                thumb_path=thumb_path,
                result_meta=meta,
            )
        except Exception:
            log.exception("worker %s: could not record job %s as done", self.owner, job.id)
            self._settle_error(job, _Outcome("internal_error", UNEXPECTED_MESSAGE, True))
            return
        with self._lock:
            self._counts["done" if finished else "lost"] += 1
        if not finished:
            log.warning(
                "worker %s finished job %s after losing its lease; the new owner's result stands",
                self.owner,
                job.id,
            )

    def _generate_and_store(self, job: Job) -> tuple[str, str, dict[str, Any]]:
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
        thumb = images.make_thumbnail(result.data)
        result_path, thumb_path = result_paths(job, images.extension_for(info.mime))
        if self._was_released(job):
            raise _JobReleased()
        self.backend.blobs.put(result_path, result.data, info.mime)
        self.backend.blobs.put(thumb_path, thumb, "image/webp")
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

    def _settle_error(self, job: Job, outcome: _Outcome) -> None:
        """Requeue with backoff while attempts remain, else fail with a plain message."""
        if self._was_released(job):
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
                    self.owner,
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
                ok = jobs.fail(job.id, self.owner, error_code=outcome.code, error_message=message)
                counter = "failed"
                log.info("job %s failed: %s", job.id, outcome.code)
        except Exception:
            log.exception("worker %s: could not record the outcome of job %s", self.owner, job.id)
            return
        with self._lock:
            self._counts[counter if ok else "lost"] += 1

    def _release_quietly(self, job_ids: list[str]) -> int:
        if not job_ids:
            return 0
        try:
            released = self.backend.jobs.release(job_ids, self.owner)
        except Exception:
            log.exception("worker %s could not release %d jobs", self.owner, len(job_ids))
            return 0
        log.info("worker %s released %d unfinished jobs", self.owner, released)
        return released

    def _was_released(self, job: Job) -> bool:
        """True once `stop` handed this job back to the queue: leave it to the next worker."""
        with self._lock:
            return job.id in self._released

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
