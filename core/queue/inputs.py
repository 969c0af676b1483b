"""Reading a job's stored inputs for its provider call (issue 11): the source image, the mask
and the reference images, each checked again (the row may not have come through the services)."""

from __future__ import annotations

from dataclasses import dataclass

from core.domain import images
from core.domain.models import Job, JobKind
from core.domain.paths import is_own_input_path
from core.ports import BlobStore


class InputProblem(Exception):
    """A job's inputs cannot be used; `message` is in plain words (the job fails with it)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class LoadedInputs:
    image: bytes | None = None
    mime: str | None = None
    mask: bytes | None = None
    references: tuple[tuple[bytes, str], ...] = ()


def load_inputs(blobs: BlobStore, job: Job) -> LoadedInputs:
    """The job's stored inputs as bytes. InputProblem when one is missing, not the owner's or
    not an image we accept."""
    if job.kind is JobKind.EDIT and not job.input_path:
        raise InputProblem("This edit has no source image.")
    image = mime = mask = None
    if job.input_path:
        image, mime = _read(blobs, job, job.input_path, "The source image")
    if job.mask_path:
        mask, _ = _read(blobs, job, job.mask_path, "The mask")
    refs = tuple(
        _read(blobs, job, path, f"Reference image {i}")
        for i, path in enumerate(job.reference_paths, 1)
    )
    return LoadedInputs(image=image, mime=mime, mask=mask, references=refs)


def _read(blobs: BlobStore, job: Job, path: str, what: str) -> tuple[bytes, str]:
    if not is_own_input_path(job.user_id, path):
        raise InputProblem(f"{what} must be one of your own.")
    try:
        data = blobs.get(path)
    except Exception:
        raise InputProblem(f"{what} is no longer stored.") from None
    try:
        return data, images.inspect_image(data).mime
    except images.InvalidImage as exc:
        raise InputProblem(f"{what}: {exc.message}") from None
