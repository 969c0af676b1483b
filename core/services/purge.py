"""Deleting old jobs and their files: shared by the admin page, the hourly sweeper and the CLI.

Files go first and rows second, in bounded batches, so a crash or a failed delete never leaves a
row pointing at a missing file or a file without its row. A job whose files could not be deleted
keeps its row and is tried again by the next run. Only one purge runs at a time across every
process: each run holds the `purge` lease in the database and renews it between batches.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from core.domain.errors import Conflict, ValidationError
from core.domain.models import Job, JobStatus, ReviewStatus
from core.domain.paths import job_paths, recorded_objects
from core.domain.settings import Settings
from core.ports import PurgeSummary, SweepRun
from core.services import inputs

if TYPE_CHECKING:
    from core.ports import AdminStore, Backend, BlobStore

log = logging.getLogger(__name__)

PURGE_LEASE = "purge"
PURGE_LEASE_SECONDS = 120.0
DEFAULT_BATCH = 200
# Paths per storage delete call (Supabase Storage takes at most 1000 per request).
DELETE_CHUNK = 500
MAX_ERRORS_KEPT = 20

Progress = Callable[[int, int], None]  # (jobs handled so far, jobs expected)


class PurgeBusy(Conflict):
    """Another process holds the purge lease."""

    def __init__(self) -> None:
        super().__init__("Another purge or sweep is running; try again in a minute.")


@dataclass(frozen=True)
class PurgeCriteria:
    """Which jobs go: finished with one of `statuses` before an absolute cutoff (fixed when
    the criteria are made, so a preview and the purge that follows it agree)."""

    statuses: tuple[JobStatus, ...]
    finished_before: datetime
    user_id: str | None = None
    exclude_review: tuple[ReviewStatus, ...] = ()

    def describe(self) -> str:
        who = f" of user {self.user_id}" if self.user_id else ""
        kept = f", keeping {', '.join(r.value for r in self.exclude_review)}"
        return (
            f"{'/'.join(s.value for s in self.statuses)} jobs{who} finished before "
            f"{self.finished_before:%Y-%m-%d %H:%M} UTC"
            f"{kept if self.exclude_review else ''}"
        )


@dataclass
class PurgeReport:
    """What a purge did."""

    deleted_jobs: int = 0
    deleted_objects: int = 0
    deleted_bytes: int = 0
    kept_job_ids: list[str] = field(default_factory=list)  # a file delete failed: row kept
    batches: int = 0
    seconds: float = 0.0
    errors: list[str] = field(default_factory=list)

    @property
    def kept_jobs(self) -> int:
        return len(self.kept_job_ids)

    # The names the CLI prints (the same as a dry run's PurgeSummary).
    @property
    def jobs(self) -> int:
        return self.deleted_jobs

    @property
    def objects(self) -> int:
        return self.deleted_objects

    @property
    def bytes(self) -> int:
        return self.deleted_bytes

    @property
    def failed_jobs(self) -> list[str]:
        return self.kept_job_ids

    def add_error(self, message: str) -> None:
        if len(self.errors) < MAX_ERRORS_KEPT:
            self.errors.append(message)


def make_criteria(
    statuses: Iterable[JobStatus | str],
    older_than_seconds: float,
    *,
    user_id: str | None = None,
    exclude_review: Iterable[ReviewStatus | str] = (),
    now: datetime | None = None,
) -> PurgeCriteria:
    """Validated criteria from an age: finished statuses only, a non-negative age."""
    if isinstance(older_than_seconds, bool) or not isinstance(older_than_seconds, int | float):
        raise ValidationError("The age must be a number of seconds.", reason="purge_age_type")
    if older_than_seconds < 0:
        raise ValidationError("The age must be zero or more.", reason="purge_age_negative")
    now = now or datetime.now(UTC)
    return criteria_before(
        statuses,
        now - timedelta(seconds=float(older_than_seconds)),
        user_id=user_id,
        exclude_review=exclude_review,
    )


def criteria_before(
    statuses: Iterable[JobStatus | str],
    finished_before: datetime,
    *,
    user_id: str | None = None,
    exclude_review: Iterable[ReviewStatus | str] = (),
) -> PurgeCriteria:
    """Validated criteria from an absolute cutoff."""
    try:
        chosen = tuple(dict.fromkeys(JobStatus(s) for s in statuses))
        excluded = tuple(dict.fromkeys(ReviewStatus(r) for r in exclude_review))
    except ValueError as exc:
        raise ValidationError(
            f"Unknown status: {exc}", reason="unknown_status", params={"detail": str(exc)}
        ) from None
    if not chosen:
        raise ValidationError("Choose at least one status to purge.", reason="purge_no_status")
    unfinished = [s.value for s in chosen if not s.finished]
    if unfinished:
        raise ValidationError(
            "Only finished jobs (done, failed, canceled) can be purged, "
            f"not {', '.join(unfinished)}.",
            reason="purge_unfinished",
            params={"statuses": ", ".join(unfinished)},
        )
    if finished_before.tzinfo is None:
        finished_before = finished_before.replace(tzinfo=UTC)
    return PurgeCriteria(
        statuses=chosen,
        finished_before=finished_before,
        user_id=user_id or None,
        exclude_review=excluded,
    )


def retention_criteria(settings: Settings, now: datetime | None = None) -> list[PurgeCriteria]:
    """The sweeper's rules: done after RETENTION_DONE; failed and canceled after
    RETENTION_FAILED."""
    now = now or datetime.now(UTC)
    return [
        make_criteria([JobStatus.DONE], settings.retention_done, now=now),
        make_criteria([JobStatus.FAILED, JobStatus.CANCELED], settings.retention_failed, now=now),
    ]


def process_owner(label: str = "purge") -> str:
    """A lease owner unique to this process and call."""
    return f"{label}:{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def job_bytes(job: Job) -> int:
    """The image bytes recorded for a job (what previews and reports count)."""
    value = job.result_meta.get("bytes") if job.result_meta else None
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0


def admin_store(backend: Backend) -> AdminStore:
    if backend.admin is None:
        raise Conflict(f"The {backend.name} backend does not support the admin tools yet.")
    return backend.admin


def preview(backend: Backend, criteria: PurgeCriteria | Iterable[PurgeCriteria]) -> PurgeSummary:
    """How many jobs, objects and recorded bytes a purge with these criteria would delete."""
    jobs = size = objects = 0
    for c in _as_list(criteria):
        summary = admin_store(backend).purge_summary(
            statuses=c.statuses,
            finished_before=c.finished_before,
            user_id=c.user_id,
            exclude_review=c.exclude_review,
        )
        jobs += summary.jobs
        size += summary.bytes
        objects += summary.objects
    return PurgeSummary(jobs=jobs, bytes=size, objects=objects)


def purge(
    backend: Backend,
    criteria: PurgeCriteria | Iterable[PurgeCriteria],
    *,
    owner: str | None = None,
    batch_size: int = DEFAULT_BATCH,
    progress: Progress | None = None,
    expected: int | None = None,
    stop: threading.Event | None = None,
) -> PurgeReport:
    """Delete every job matching `criteria`: files first, then rows, `batch_size` jobs at a
    time, holding the purge lease. `stop` ends the run between batches (process shutdown).
    Raises PurgeBusy if another process is purging."""
    if batch_size < 1:
        raise ValidationError("The batch size must be at least 1.")
    criteria = _as_list(criteria)
    owner = owner or process_owner()
    jobs = backend.jobs
    if not jobs.try_acquire_lease(PURGE_LEASE, owner, PURGE_LEASE_SECONDS):
        raise PurgeBusy()
    report = PurgeReport()
    started = time.perf_counter()
    try:
        if expected is None and progress is not None and backend.admin is not None:
            expected = preview(backend, criteria).jobs
        for c in criteria:
            if not _purge_one(backend, c, owner, batch_size, report, progress, expected or 0, stop):
                break
    finally:
        jobs.try_acquire_lease(PURGE_LEASE, owner, 0)  # release: it expires now
        report.seconds = time.perf_counter() - started
    return report


def _purge_one(
    backend: Backend,
    c: PurgeCriteria,
    owner: str,
    batch_size: int,
    report: PurgeReport,
    progress: Progress | None,
    expected: int,
    stop: threading.Event | None,
) -> bool:
    """Purge one set of criteria; False when the run must stop (lease lost, shutdown)."""
    jobs, blobs = backend.jobs, backend.blobs
    kept: set[str] = set()  # kept this run; the query still returns them, skip them
    while True:
        batch = [
            j
            for j in jobs.purge_candidates(
                statuses=c.statuses,
                finished_before=c.finished_before,
                user_id=c.user_id,
                exclude_review=c.exclude_review,
                limit=batch_size + len(kept),
            )
            if j.id not in kept
        ]
        if not batch:
            return True
        report.batches += 1
        paths = {job.id: job_paths(job) for job in batch}
        try:
            failed_paths = delete_files(blobs, [p for ps in paths.values() for p in ps])
        except Exception as exc:  # storage unreachable: keep every row, the next run retries
            log.warning("purge: file delete failed: %s", type(exc).__name__)
            failed_paths = {p for ps in paths.values() for p in ps}
            report.add_error(f"File delete failed ({type(exc).__name__}).")
        gone: list[Job] = []
        for job in batch:
            bad = [p for p in paths[job.id] if p in failed_paths]
            if bad:
                kept.add(job.id)
                report.kept_job_ids.append(job.id)
                report.add_error(f"Could not delete {bad[0]}; job {job.id} kept for the next run.")
            else:
                gone.append(job)
        if gone:
            report.deleted_jobs += jobs.delete_jobs([j.id for j in gone])
            for path in inputs.release(backend, gone)[:3]:
                report.add_error(f"Could not delete the input {path}; it stays in its folder.")
            report.deleted_objects += sum(recorded_objects(j) for j in gone)
            report.deleted_bytes += sum(job_bytes(j) for j in gone)
        if progress is not None:
            done = report.deleted_jobs + report.kept_jobs
            progress(done, max(expected, done))
        if not gone:
            return True  # every file in the batch failed: storage trouble, stop here
        if stop is not None and stop.is_set():
            report.add_error("Stopped early: the process is shutting down.")
            return False
        if not jobs.try_acquire_lease(PURGE_LEASE, owner, PURGE_LEASE_SECONDS):
            report.add_error("Lost the purge lease; stopped early.")
            return False


def run_recorded(
    backend: Backend,
    criteria: PurgeCriteria | Iterable[PurgeCriteria],
    *,
    trigger: str,
    owner: str | None = None,
    batch_size: int = DEFAULT_BATCH,
    progress: Progress | None = None,
    expected: int | None = None,
    stop: threading.Event | None = None,
) -> tuple[PurgeReport, SweepRun]:
    """`purge`, then record the run (shown on the admin page). Raises PurgeBusy unrecorded."""
    owner = owner or process_owner(trigger)
    started_at = datetime.now(UTC)
    report = purge(
        backend,
        criteria,
        owner=owner,
        batch_size=batch_size,
        progress=progress,
        expected=expected,
        stop=stop,
    )
    run = SweepRun(
        id=str(uuid.uuid4()),
        trigger=trigger,
        owner=owner,
        started_at=started_at,
        finished_at=datetime.now(UTC),
        deleted_jobs=report.deleted_jobs,
        deleted_bytes=report.deleted_bytes,
        kept_jobs=report.kept_jobs,
        errors=tuple(report.errors),
    )
    if backend.admin is not None:
        backend.admin.record_sweep(run)
    return report, run


def sweep_expired(backend: Backend, settings: Settings, *, trigger: str = "cli") -> PurgeReport:
    """One retention sweep now (the CLI's `sweep`), recorded. Raises PurgeBusy while another
    purge or sweep runs."""
    return run_recorded(backend, retention_criteria(settings), trigger=trigger)[0]


def _as_list(criteria: PurgeCriteria | Iterable[PurgeCriteria]) -> list[PurgeCriteria]:
    return [criteria] if isinstance(criteria, PurgeCriteria) else list(criteria)


def delete_files(blobs: BlobStore, paths: list[str]) -> set[str]:
    """Delete in chunks that object stores accept in one request; the paths that failed."""
    failed: set[str] = set()
    for start in range(0, len(paths), DELETE_CHUNK):
        failed.update(blobs.delete(paths[start : start + DELETE_CHUNK]))
    return failed
