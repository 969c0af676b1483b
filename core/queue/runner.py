"""One attempt at one job: the provider call, image checks, storage, and the outcome recorded
in the store — done, back to the queue with backoff, or failed. The Worker (core.queue.worker)
supplies the threads, leases and shutdown."""

from __future__ import annotations

import hashlib
import hmac
import logging
import random
import time
from collections.abc import Callable
from concurrent import futures
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from core.domain import images
from core.domain.errors import StorageFull, ValidationError
from core.domain.models import Job, JobKind
from core.domain.paths import result_paths
from core.domain.recipe import embed_recipe, job_recipe
from core.domain.settings import Settings
from core.ports import Backend
from core.providers.base import (
    GenerationRequest,
    Provider,
    ProviderError,
    Transient,
    clamp_retry_after,
)
from core.queue.inputs import InputProblem, load_inputs

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
    shorter than the provider's Retry-After (itself cut to MAX_RETRY_AFTER_SECONDS)."""
    ceiling = min(cap, base * 2 ** min(max(0, attempt - 1), 64))
    delay = (rng or random).uniform(0, ceiling)
    retry_after = clamp_retry_after(retry_after)
    if retry_after is not None and retry_after > delay:
        delay = retry_after
    return delay


class LeaseGuard(Protocol):
    """The worker's view of one claimed job's lease."""

    def released(self) -> bool:
        """True once shutdown handed the job back to the queue: touch nothing more."""
        ...

    def hold(self) -> bool:
        """True if the lease is still ours (renewing it if it could have run out)."""
        ...


@dataclass(frozen=True)
class Generated:
    """A checked image from the provider, not stored yet: what the storage step works on."""

    job: Job
    data: bytes
    mime: str
    result_path: str
    thumb_path: str
    meta: dict[str, Any]
    started: float  # perf_counter() at the attempt's start


@dataclass(frozen=True)
class _Outcome:
    code: str
    message: str
    retryable: bool
    retry_after: float | None = None


class JobRunner:
    """Runs claimed jobs. `run` never raises: every outcome ends up in the store (or is
    deliberately left to the lease, when the job is no longer this attempt's)."""

    def __init__(
        self,
        backend: Backend,
        providers: dict[str, Provider],
        settings: Settings,
        *,
        writer: futures.Executor,
        backoff_base: float = BACKOFF_BASE_SECONDS,
        backoff_cap: float = BACKOFF_CAP_SECONDS,
    ) -> None:
        self.backend = backend
        self.providers = providers
        self.settings = settings
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self._writer = writer
        self._rng = random.Random()

    def run(
        self,
        job: Job,
        owner: str,
        guard: LeaseGuard,
        *,
        store_in: Callable[[Generated], bool] | None = None,
    ) -> str:
        """One attempt as lease holder `owner`. Returns what happened: "done", "retried",
        "failed", "lost" (another attempt owns the job now) or "released" (shutdown).

        With `store_in` (the worker's generation slots), this thread does only the generation:
        once the provider's image is checked, the job is marked generated (it leaves the
        claim's concurrency cap; the lease is checked and extended) and handed to `store_in`,
        which runs `store` elsewhere; the result is then "generated". `store_in` returns False
        when the job was released meanwhile ("released")."""
        started = time.perf_counter()
        try:
            generated = self._generate(job, guard, started, mark=store_in is not None, owner=owner)
        except ProviderError as exc:
            outcome = _Outcome(exc.code, exc.message, exc.retryable, exc.retry_after)
            return self._settle_error(job, owner, guard, outcome)
        except _JobReleased:
            log.info("job %s was released during shutdown; leaving it to the next worker", job.id)
            return "released"
        except _LeaseLost:
            log.warning("worker %s lost the lease on job %s; dropping its result", owner, job.id)
            return "lost"
        except Exception:
            log.exception("worker %s: unexpected error on job %s", owner, job.id)
            outcome = _Outcome("internal_error", UNEXPECTED_MESSAGE, True)
            return self._settle_error(job, owner, guard, outcome)
        if store_in is None:
            return self.store(generated, owner, guard)
        return "generated" if store_in(generated) else "released"

    def store(self, generated: Generated, owner: str, guard: LeaseGuard) -> str:
        """The rest of an attempt after the provider call: `store_result`, then the job
        recorded done ("done means stored": never before both objects are written). Returns
        the outcome like `run`; never raises."""
        job = generated.job
        try:
            thumb_path = self.store_result(generated)
        except StorageFull as exc:  # the image could not be written: try again later
            outcome = _Outcome(exc.code, exc.message, True)
            return self._settle_error(job, owner, guard, outcome)
        except Exception:
            log.exception("worker %s: could not store the result of job %s", owner, job.id)
            outcome = _Outcome("internal_error", UNEXPECTED_MESSAGE, True)
            return self._settle_error(job, owner, guard, outcome)
        meta = dict(generated.meta)
        meta["worker_seconds"] = round(time.perf_counter() - generated.started, 3)
        if guard.released():
            return "released"
        try:
            finished = self.backend.jobs.finish(
                job.id,
                owner,
                result_path=generated.result_path,
                thumb_path=thumb_path,
                result_meta=meta,
            )
        except Exception:
            log.exception("worker %s: could not record job %s as done", owner, job.id)
            outcome = _Outcome("internal_error", UNEXPECTED_MESSAGE, True)
            return self._settle_error(job, owner, guard, outcome)
        if not finished:
            log.warning(
                "worker %s finished job %s after losing its lease; the new owner's result stands",
                owner,
                job.id,
            )
            return "lost"
        log.info(
            "job %s done: %s/%s in %.2fs (attempt %d)",
            job.id,
            job.provider,
            job.model,
            meta["worker_seconds"],
            job.attempts,
        )
        return "done"

    def store_result(self, generated: Generated) -> str:
        """The storage step: the image and its WebP thumbnail written to the blob store.
        Everything done to a generated image before the job is recorded done belongs here.
        Returns the thumbnail's path."""
        image_write = self._writer.submit(
            self.backend.blobs.put, generated.result_path, generated.data, generated.mime
        )
        # The image write (I/O) runs while this thread makes the thumbnail (CPU).
        try:
            thumb = images.make_thumbnail(generated.data)
            self.backend.blobs.put(generated.thumb_path, thumb, "image/webp")
        finally:
            futures.wait([image_write])
        image_write.result()
        return generated.thumb_path

    def _generate(
        self, job: Job, guard: LeaseGuard, started: float, *, mark: bool, owner: str
    ) -> Generated:
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
        # A job queued before its model's shutdown date fails with the reason, unpaid.
        if provider.is_shut_down(model):
            raise _Permanent("model_unavailable", model.shutdown_message())
        # The row may not have come through JobsService (a direct database call): check it
        # again as a submission would be, before anything is paid for.
        try:
            params = provider.validate(model.id, job.prompt, job.params)
        except ValidationError as exc:
            raise _Permanent("invalid_request", exc.message) from None

        try:
            loaded = load_inputs(self.backend.blobs, job)
        except InputProblem as exc:
            raise _Permanent("invalid_request", exc.message) from None

        request = GenerationRequest(
            model=model.id,
            prompt=job.prompt,
            params=params,
            user_ref=self._user_ref(job.user_id),
            request_id=job.id,
            input_image=loaded.image,
            input_mime=loaded.mime,
            mask=loaded.mask,
            references=loaded.references,
        )
        t0 = time.perf_counter()
        call = {JobKind.EDIT: provider.edit, JobKind.VARIATION: provider.vary}.get(
            job.kind, provider.generate
        )
        result = call(request)
        generation_seconds = time.perf_counter() - t0

        try:
            info = images.inspect_image(result.data)
        except images.InvalidImage as exc:
            log.warning("job %s: provider %s returned a bad image: %s", job.id, job.provider, exc)
            raise Transient("The provider returned an unreadable image.") from None
        result_path, thumb_path = result_paths(job, images.extension_for(info.mime))
        if guard.released():
            raise _JobReleased()
        # An attempt that lost its lease (stuck past it, job re-claimed) must not overwrite
        # the objects of the attempt that owns the job now. Marking the job generated checks
        # the lease (and extends it) in the same write.
        if mark:
            lease = self.settings.worker_lease_seconds
            if not self.backend.jobs.mark_generated(job.id, owner, lease):
                raise _LeaseLost()
        elif not guard.hold():
            raise _LeaseLost()
        # The recipe travels inside the image (chunks inserted, provider bytes kept).
        stored = embed_recipe(result.data, info.mime, job_recipe(job))
        meta = dict(result.meta)
        meta.update(
            model=model.id,
            width=info.width,
            height=info.height,
            mime=info.mime,
            bytes=len(stored),
            generation_seconds=round(generation_seconds, 3),
        )
        return Generated(
            job=job,
            data=stored,
            mime=info.mime,
            result_path=result_path,
            thumb_path=thumb_path,
            meta=meta,
            started=started,
        )

    def _settle_error(self, job: Job, owner: str, guard: LeaseGuard, outcome: _Outcome) -> str:
        """Requeue with backoff while attempts remain, else fail with a plain message. If that
        raises, the attempt is ended anyway (see end_attempt): never left holding its lease."""
        if guard.released():
            log.info("job %s was released during shutdown; its error is not recorded", job.id)
            return "released"
        try:
            return self._record_error(job, owner, outcome)
        except Exception:
            log.exception("worker %s: could not record the outcome of job %s", owner, job.id)
        return self._end_attempt(job, owner, replace(outcome, retry_after=None))

    def end_attempt(self, job: Job, owner: str) -> str:
        """End an attempt that broke outside the recorded outcomes (a bug): requeue it with
        plain backoff while attempts remain, else fail it. Lease-checked; never raises."""
        return self._end_attempt(job, owner, _Outcome("internal_error", UNEXPECTED_MESSAGE, True))

    def _end_attempt(self, job: Job, owner: str, outcome: _Outcome) -> str:
        """The second try at recording `outcome`, with no provider-supplied figure in it. Only
        when the store refuses this too is the job left to its lease running out."""
        try:
            return self._record_error(job, owner, outcome)
        except Exception:
            log.exception(
                "worker %s: could not end the attempt at job %s; it is retried once its lease "
                "runs out",
                owner,
                job.id,
            )
            return "lost"

    def _record_error(self, job: Job, owner: str, outcome: _Outcome) -> str:
        """Write the outcome: "retried", "failed", or "lost" when the lease is not ours."""
        jobs = self.backend.jobs
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
                owner,
                run_after=datetime.now(UTC) + timedelta(seconds=delay),
                error_code=outcome.code,
                error_message=message,
            )
            log.info(
                "job %s attempt %d/%d failed (%s); retry in %.1fs",
                job.id,
                job.attempts,
                job.max_attempts,
                outcome.code,
                delay,
            )
            return "retried" if ok else "lost"
        message = outcome.message
        if outcome.retryable:
            message = f"Gave up after {job.attempts} attempts: {message.rstrip('.')}."
        ok = jobs.fail(job.id, owner, error_code=outcome.code, error_message=message)
        log.info("job %s failed: %s", job.id, outcome.code)
        return "failed" if ok else "lost"

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
    """The job was handed back to the queue by shutdown; do not touch it any more."""


class _LeaseLost(Exception):
    """Another attempt owns the job now; this one's result is dropped."""
