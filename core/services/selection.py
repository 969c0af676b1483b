"""A selection of one's own images in the gallery (issue 12): one zip of them, written entry by
entry to a spooled temporary file (memory holds at most SPOOL_BYTES of it, the rest goes to
disk) with a size cap checked before anything is read, and deleting them together."""

from __future__ import annotations

import json
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO

from core.domain.errors import AuthRequired, Conflict, StudioError
from core.domain.models import Job, JobStatus
from core.ports import BlobStore
from core.services.your_data import job_record

# The images of one zip, together. The Streamlit UI hands the finished zip to Streamlit as bytes
# (its download button takes no stream), so this also bounds that copy.
ZIP_CAP_BYTES = 100 * 1024 * 1024
SPOOL_BYTES = 8 * 1024 * 1024  # past this the zip being written moves to a temporary file
CHUNK = 64 * 1024


def _mb(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MB"


def zip_name(job: Job) -> str:
    """The image's name inside the zip: time, provider and the start of the id (unique)."""
    path = job.result_path or ""
    leaf = path.rsplit("/", 1)[-1]
    ext = leaf.rsplit(".", 1)[-1] if "." in leaf else "png"
    stamp = job.created_at.strftime("%Y%m%d-%H%M%S")
    return f"images/{stamp}-{job.provider}-{job.id[:8]}.{ext}"


def zippable(jobs: list[Job]) -> list[Job]:
    """The jobs of a selection that have an image."""
    return [j for j in jobs if j.status is JobStatus.DONE and j.result_path]


def image_size(blobs: BlobStore, job: Job) -> int:
    known = job.result_meta.get("bytes")
    if isinstance(known, int) and not isinstance(known, bool) and known >= 0:
        return known
    size = blobs.size(job.result_path or "")
    return size or 0


def too_big(total: int, cap: int) -> Conflict:
    return Conflict(
        f"These images come to {_mb(total)}; one zip holds at most {_mb(cap)}. "
        "Select fewer images and download them in several zips.",
        reason="zip_too_large",
        params={"size": _mb(total), "cap": _mb(cap)},
    )


def check_zip(
    blobs: BlobStore, jobs: list[Job], *, cap: int = ZIP_CAP_BYTES
) -> tuple[list[Job], int]:
    """(the jobs with an image, their recorded size in bytes); Conflict when there are none or
    they come to more than `cap`. Reads no image."""
    images = zippable(jobs)
    if not images:
        raise Conflict("None of the selected jobs has an image yet.", reason="zip_no_images")
    total = sum(image_size(blobs, j) for j in images)
    if total > cap:
        raise too_big(total, cap)
    return images, total


def write_zip(blobs: BlobStore, jobs: list[Job], *, cap: int = ZIP_CAP_BYTES) -> IO[bytes]:
    """A zip of the images of `jobs` and a jobs.json describing them, rewound and ready to read.
    Refuses (Conflict, nothing read) when no job has an image or their sizes add up past `cap`;
    an image larger than its recorded size still cannot take the zip past the cap."""
    images, _total = check_zip(blobs, jobs, cap=cap)
    out = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)  # noqa: SIM115 - returned open
    try:
        written = 0
        with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            records = [job_record(j) | {"files": [zip_name(j)]} for j in images]
            archive.writestr("jobs.json", json.dumps(records, ensure_ascii=False, indent=1))
            for job in images:
                data = blobs.get(job.result_path or "")
                written += len(data)
                if written > cap:
                    raise too_big(written, cap)
                info = zipfile.ZipInfo(zip_name(job), date_time=job.created_at.timetuple()[:6])
                info.compress_type = zipfile.ZIP_STORED  # images are compressed already
                with archive.open(info, "w") as entry:
                    for start in range(0, len(data), CHUNK):
                        entry.write(data[start : start + CHUNK])
                del data
        out.seek(0)
        return out
    except BaseException:
        out.close()
        raise


@dataclass(frozen=True)
class Deleted:
    """What deleting a selection did: how many went, and why the others stayed."""

    deleted: int
    kept: list[tuple[str, str]]  # (job id, the reason in words)


def delete_each(jobs: list[Job], delete_one: Callable[[str], None]) -> Deleted:
    """Delete every job with `delete_one(job_id)`; one that cannot go (being generated, its
    file not deleted) is kept with the reason, and the others still go."""
    deleted = 0
    kept: list[tuple[str, str]] = []
    for job in jobs:
        try:
            delete_one(job.id)
        except AuthRequired:
            raise
        except StudioError as exc:
            kept.append((job.id, str(exc)))
        else:
            deleted += 1
    return Deleted(deleted=deleted, kept=kept)
