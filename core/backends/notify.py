"""A JobStore decorator that signals `JobChanges` after every write that changes a job, so
live views in this process wake at once (core.domain.changes). The runtime wraps the
backend's job store with it; reads pass straight through."""

from __future__ import annotations

import threading
from datetime import datetime
from typing import Any, TypeVar

from core.domain.changes import JobChanges
from core.domain.models import Job, JobPage, JobQuery, JobStatus, NewJob, QueueDepth, ReviewStatus
from core.ports import JobStore

_Changed = TypeVar("_Changed", bool, int)


class NotifyingJobStore:
    """Delegates to `inner`; calls `changes.notify` after each write that changed a row."""

    def __init__(self, inner: JobStore, changes: JobChanges) -> None:
        self.inner = inner
        self.changes = changes
        # Owners of the jobs this process claimed, so the lease-checked writes that follow
        # (by job id) wake only that user's waiters. An entry lives from claim to the attempt's end.
        self._claimed: dict[str, str] = {}
        self._claimed_lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        # Store methods outside the JobStore protocol (a backend's own extras) pass through.
        return getattr(self.inner, name)

    # ---- writes: notify ----------------------------------------------------------------------

    def create_jobs(
        self, jobs: list[NewJob], *, rate_limit_per_minute: int, daily_quota: int | None = None
    ) -> list[Job]:
        created = self.inner.create_jobs(
            jobs, rate_limit_per_minute=rate_limit_per_minute, daily_quota=daily_quota
        )
        for user_id in {job.user_id for job in created}:
            self.changes.notify(user_id)
        return created

    def claim(self, owner: str, lease_seconds: float, concurrency: int) -> Job | None:
        job = self.inner.claim(owner, lease_seconds, concurrency)
        if job is not None:
            with self._claimed_lock:
                self._claimed[job.id] = job.user_id
            self.changes.notify(job.user_id)
        return job

    def finish(
        self,
        job_id: str,
        owner: str,
        *,
        result_path: str,
        thumb_path: str | None,
        result_meta: dict[str, Any],
    ) -> bool:
        return self._settled(
            job_id,
            self.inner.finish(
                job_id,
                owner,
                result_path=result_path,
                thumb_path=thumb_path,
                result_meta=result_meta,
            ),
        )

    def fail(self, job_id: str, owner: str, *, error_code: str, error_message: str) -> bool:
        return self._settled(
            job_id,
            self.inner.fail(job_id, owner, error_code=error_code, error_message=error_message),
        )

    def requeue(
        self,
        job_id: str,
        owner: str,
        *,
        run_after: datetime,
        error_code: str,
        error_message: str,
    ) -> bool:
        return self._settled(
            job_id,
            self.inner.requeue(
                job_id,
                owner,
                run_after=run_after,
                error_code=error_code,
                error_message=error_message,
            ),
        )

    def release(self, job_ids: list[str], owner: str) -> int:
        released = self.inner.release(job_ids, owner)
        with self._claimed_lock:
            owners = {self._claimed.pop(job_id, None) for job_id in job_ids}
        if released:
            for user_id in owners:
                self.changes.notify(user_id)
        return released

    def cancel(self, job_id: str) -> bool:
        return self._signal(self.inner.cancel(job_id))

    def delete_jobs(self, job_ids: list[str]) -> int:
        return self._signal(self.inner.delete_jobs(job_ids))

    def set_review(
        self, job_ids: list[str], *, status: ReviewStatus, note: str | None, reviewer_id: str
    ) -> int:
        return self._signal(
            self.inner.set_review(job_ids, status=status, note=note, reviewer_id=reviewer_id)
        )

    def _settled(self, job_id: str, changed: bool) -> bool:
        """The end of an attempt on a job this process claimed: wake its owner's waiters."""
        with self._claimed_lock:
            user_id = self._claimed.pop(job_id, None)
        if changed:
            self.changes.notify(user_id)
        return changed

    def _signal(self, changed: _Changed) -> _Changed:
        """Notify everyone when a write by job id changed something whose owner is unknown
        here (waking every waiter costs each of them one re-read)."""
        if changed:
            self.changes.notify(None)
        return changed

    # ---- reads and leases: pass through ------------------------------------------------------

    def get_job(self, job_id: str) -> Job | None:
        return self.inner.get_job(job_id)

    def list_jobs(self, query: JobQuery) -> JobPage:
        return self.inner.list_jobs(query)

    def queue_positions(self, job_ids: list[str]) -> dict[str, int]:
        return self.inner.queue_positions(job_ids)

    def queue_depth(self) -> QueueDepth:
        return self.inner.queue_depth()

    def heartbeat(self, job_ids: list[str], owner: str, lease_seconds: float) -> set[str]:
        return self.inner.heartbeat(job_ids, owner, lease_seconds)

    def purge_candidates(
        self,
        *,
        statuses: tuple[JobStatus, ...],
        finished_before: datetime,
        user_id: str | None = None,
        exclude_review: tuple[ReviewStatus, ...] = (),
        limit: int = 500,
    ) -> list[Job]:
        return self.inner.purge_candidates(
            statuses=statuses,
            finished_before=finished_before,
            user_id=user_id,
            exclude_review=exclude_review,
            limit=limit,
        )

    def try_acquire_lease(self, name: str, owner: str, seconds: float) -> bool:
        return self.inner.try_acquire_lease(name, owner, seconds)

    def mark_generated(self, job_id: str, owner: str, lease_seconds: float) -> bool:
        return self.inner.mark_generated(job_id, owner, lease_seconds)

    def set_starred(self, job_ids: list[str], starred: bool) -> int:
        return self._signal(self.inner.set_starred(job_ids, starred))
