"""Where a job's files live: object paths derived from the job id, and the check every stored
path passes (plain, relative, inside the user's folder)."""

from __future__ import annotations

from core.domain import images
from core.domain.models import Job


def result_paths(job: Job, ext: str) -> tuple[str, str]:
    """Object paths of a job's image and thumbnail: derived from the job id, so a retried or
    re-claimed job overwrites rather than adds."""
    return f"{job.user_id}/{job.id}.{ext}", f"{job.user_id}/{job.id}.thumb.webp"


def derived_paths(job: Job) -> list[str]:
    """Every object path an attempt at `job` may have written, whatever the image type: the
    files are written before the row records them, so a job whose `finish` never landed has
    files its row does not name."""
    paths = [result_paths(job, ext)[0] for ext in images.EXTENSIONS]
    return [*paths, result_paths(job, images.EXTENSIONS[0])[1]]


def is_own_input_path(user_id: str, path: object) -> bool:
    """True when `path` names an object inside the user's own folder (no `..` escape)."""
    return (
        isinstance(path, str)
        and path.startswith(f"{user_id}/")
        and ".." not in path.split("/")
        and "\\" not in path
    )


def job_paths(job: Job) -> list[str]:
    """Every stored object of a job: the ones its row names, and every one an attempt may have
    written before recording it (see derived_paths above)."""
    return list(dict.fromkeys([*_recorded_paths(job), *derived_paths(job)]))


def recorded_objects(job: Job) -> int:
    """How many stored objects the job's row names (what the previews count); the purge also
    removes any file an unrecorded attempt left, which the figures do not count."""
    return len(_recorded_paths(job))


def _recorded_paths(job: Job) -> list[str]:
    return [p for p in (job.result_path, job.thumb_path) if p]


MAX_PATH_LENGTH = 1024


def check_path(path: str) -> None:
    """Raise ValueError unless `path` is a plain relative object path like `user/job.png`."""
    if not isinstance(path, str) or not path or len(path) > MAX_PATH_LENGTH:
        raise ValueError("an object path is a non-empty string of at most 1024 characters")
    if "\x00" in path or "\\" in path or path.startswith("/") or ":" in path.split("/")[0]:
        raise ValueError(f"not a relative object path: {path!r}")
    parts = path.split("/")
    if any(part in ("", ".", "..") for part in parts):
        raise ValueError(f"not a plain object path: {path!r}")


# ---- stored inputs (issue 11): uploaded images, masks and references ---------------------------

INPUTS_FOLDER = "inputs"


def input_object_path(user_id: str, digest: str, ext: str) -> str:
    """Where an input image or mask is stored: in the owner's folder, named by its content
    (SHA-256), so the same upload twice is one object and several jobs can share it."""
    return f"{user_id}/{INPUTS_FOLDER}/{digest}.{ext}"


def is_stored_input(user_id: str, path: object) -> bool:
    """True for an object of the user's inputs folder (never another job's result)."""
    return is_own_input_path(user_id, path) and str(path).startswith(f"{user_id}/{INPUTS_FOLDER}/")
