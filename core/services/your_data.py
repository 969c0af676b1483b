"""A person's own data: the export (a zip streamed entry by entry, so memory stays bounded
whatever the number of jobs) and the deletion of an account (files first, then rows)."""

from __future__ import annotations

import json
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import IO, Any

from core.domain.errors import Conflict
from core.domain.models import Job, JobQuery, JobStatus, User
from core.domain.paths import job_paths
from core.domain.policy import DELETE_WHILE_GENERATING, last_admin_not_deleted
from core.ports import Backend
from core.services import purge as purging

PAGE = 200  # jobs per keyset page
CHUNK = 64 * 1024  # bytes handed to the HTTP response at a time


@dataclass(frozen=True)
class ExportSummary:
    """What an export holds: jobs, image files and their total size in bytes."""

    jobs: int
    files: int
    bytes: int


def every_job_of(backend: Backend, user_id: str) -> Iterator[Job]:
    """Every job of the user, oldest first, one keyset page in memory at a time."""
    cursor: str | None = None
    while True:
        page = backend.jobs.list_jobs(
            JobQuery(user_id=user_id, oldest_first=True, limit=PAGE, cursor=cursor)
        )
        yield from page.items
        if not page.next_cursor or not page.items:
            return
        cursor = page.next_cursor


def export_files(job: Job) -> list[tuple[str, str]]:
    """(stored path, name in the zip) of a job's files: its image, thumbnail and input."""
    stamp = job.created_at.strftime("%Y%m%d-%H%M%S")
    base = f"{stamp}-{job.provider}-{job.id[:8]}"
    out: list[tuple[str, str]] = []
    for path, folder, suffix in (
        (job.result_path, "images", ""),
        (job.thumb_path, "thumbnails", ".thumb"),
        (job.input_path, "inputs", ".input"),
        (job.mask_path, "inputs", ".mask"),
        *((path, "inputs", f".reference{i}") for i, path in enumerate(job.reference_paths, 1)),
    ):
        if path:
            ext = path.rsplit(".", 1)[-1] if "." in path.rsplit("/", 1)[-1] else "bin"
            out.append((path, f"{folder}/{base}{suffix}.{ext}"))
    return out


def summary(backend: Backend, user: User) -> ExportSummary:
    jobs = files = size = 0
    for job in every_job_of(backend, user.id):
        jobs += 1
        for path, _name in export_files(job):
            known = job.result_meta.get("bytes") if path == job.result_path else None
            length = known if isinstance(known, int) else backend.blobs.size(path)
            if length is not None:
                files += 1
                size += length
    return ExportSummary(jobs=jobs, files=files, bytes=size)


def job_record(job: Job) -> dict[str, Any]:
    """A job as jobs.json lists it."""

    def when(value: datetime | None) -> str | None:
        return value.isoformat() if value else None

    return {
        "id": job.id,
        "kind": job.kind.value,
        "prompt": job.prompt,
        "provider": job.provider,
        "model": job.model,
        "params": job.params,
        "status": job.status.value,
        "review_status": job.review_status.value,
        "batch_id": job.batch_id,
        "created_at": when(job.created_at),
        "started_at": when(job.started_at),
        "finished_at": when(job.finished_at),
        "error_code": job.error_code,
        "error_message": job.error_message,
        "files": [name for _path, name in export_files(job)],
    }


class _Sink:
    """A write-only, unseekable file for ZipFile: what is written waits in `parts` until the
    generator hands it on (zipfile then writes data descriptors, so nothing is rewound)."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []

    def write(self, data: bytes, /) -> int:
        self.parts.append(bytes(data))
        return len(data)

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass

    def drain(self) -> Iterator[bytes]:
        parts, self.parts = self.parts, []
        yield from parts


def export_zip(backend: Backend, user: User) -> Iterator[bytes]:
    """The user's zip, produced as it is read: jobs.json first (written a page of jobs at a
    time), then every file, read one at a time. A file gone meanwhile is skipped."""
    sink = _Sink()
    with zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        with archive.open("jobs.json", "w", force_zip64=True) as entry:
            entry.write(b"[")
            first = True
            for job in every_job_of(backend, user.id):
                prefix = b"\n" if first else b",\n"
                first = False
                entry.write(prefix + json.dumps(job_record(job), ensure_ascii=False).encode())
                yield from sink.drain()
            entry.write(b"\n]\n")
        yield from sink.drain()
        for job in every_job_of(backend, user.id):
            for path, name in export_files(job):
                try:
                    data = backend.blobs.get(path)
                except Exception:
                    continue
                info = zipfile.ZipInfo(name, date_time=job.created_at.timetuple()[:6])
                info.compress_type = zipfile.ZIP_STORED  # images are compressed already
                _write_entry(archive, info, data)
                del data
                yield from sink.drain()
    yield from sink.drain()


def _write_entry(archive: zipfile.ZipFile, info: zipfile.ZipInfo, data: bytes) -> None:
    entry: IO[bytes]
    with archive.open(info, "w") as entry:
        for start in range(0, len(data), CHUNK):
            entry.write(data[start : start + CHUNK])


def erase_user(backend: Backend, target: User) -> None:
    """Delete an account: cancel its queued jobs, delete every file of it (the ones its jobs
    name, then whatever is left in its folder), then its rows in one step. The last enabled
    admin is refused before anything is touched (and again, atomically, by the store)."""
    if _generating(backend, target.id):
        raise Conflict(DELETE_WHILE_GENERATING, reason="delete_while_generating")
    if target.is_admin and not target.disabled:
        admins = [u for u in backend.accounts.list_users() if u.is_admin and not u.disabled]
        if len(admins) <= 1:
            raise last_admin_not_deleted()
    if backend.admin is not None:
        purging.admin_store(backend).cancel_user_jobs(target.id)
    batch: list[str] = []
    failed: set[str] = set()
    for job in every_job_of(backend, target.id):
        if job.status is JobStatus.PROCESSING:
            raise Conflict(DELETE_WHILE_GENERATING, reason="delete_while_generating")
        batch.extend(job_paths(job))
        if job.input_path:
            batch.append(job.input_path)
        if len(batch) >= purging.DELETE_CHUNK:
            failed |= purging.delete_files(backend.blobs, batch)
            batch = []
    failed |= purging.delete_files(backend.blobs, batch)
    failed.update(backend.blobs.delete_folder(target.id))
    if failed:
        raise Conflict(
            "Some stored files could not be deleted; nothing else was. Try again.",
            reason="files_not_deleted",
        )
    backend.accounts.delete_user(target.id)


def _generating(backend: Backend, user_id: str) -> bool:
    """Whether one of the user's jobs is being generated now (one indexed query)."""
    query = JobQuery(user_id=user_id, statuses=(JobStatus.PROCESSING,), limit=1)
    return bool(backend.jobs.list_jobs(query).items)
