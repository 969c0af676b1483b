"""Edit and iterate (issue 11): turning outside images into stored inputs of a job, and letting
them go when no job needs them any more.

A job's inputs (its source image, an edit's mask, reference images) are stored under the
owner's folder as `{user_id}/inputs/{sha256}.{ext}` (core.domain.paths.input_object_path): the
same bytes are one object, shared by every job that uses them, and never another job's result
(an edit of a finished job stores a copy of its image). Deleting or purging a job removes its
inputs unless another job row still names them (JobStore.inputs_in_use)."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

from core.domain import uploads
from core.domain.errors import Conflict, NotFound, ValidationError
from core.domain.models import Job, JobKind, JobRequest, JobStatus, User
from core.domain.paths import input_object_path, is_stored_input
from core.ports import Backend
from core.providers.base import ModelInfo

log = logging.getLogger(__name__)

# Kinds that take a source image (uploaded or a finished job's result).
SOURCE_KINDS = (JobKind.EDIT, JobKind.VARIATION)


@dataclass(frozen=True)
class Inputs:
    """Outside images for one submission, before they are checked and stored."""

    image: bytes | None = None
    mask: bytes | None = None
    references: Sequence[bytes] = ()


def store(backend: Backend, user_id: str, image: uploads.PreparedImage) -> str:
    """Put a checked image into the user's inputs folder; its object path."""
    path = input_object_path(user_id, image.digest, image.ext)
    backend.blobs.put(path, image.data, image.mime)
    return path


def parent_source(backend: Backend, parent: Job) -> uploads.PreparedImage:
    """A finished job's image as an input (checked and re-encoded like an upload)."""
    if parent.status is not JobStatus.DONE or not parent.result_path:
        raise Conflict(
            "That job has no finished image yet; wait for it, then try again.",
            reason="no_finished_image",
        )
    try:
        data = backend.blobs.get(parent.result_path)
    except (NotFound, ValueError, OSError):
        raise Conflict(
            "That job's image is no longer stored.", reason="source_image_gone"
        ) from None
    return uploads.prepare_image(data, what="source image")


def prepare(
    backend: Backend,
    user: User,
    request: JobRequest,
    model: ModelInfo,
    inputs: Inputs,
    parent: Job | None,
) -> JobRequest:
    """Check the outside images against the request and the model, store them, and return
    the request naming them. Nothing is stored unless every check passes."""
    kind = JobKind(request.kind)
    source: uploads.PreparedImage | None = None
    if inputs.image is not None:
        if kind not in SOURCE_KINDS:
            raise ValidationError(
                "An image goes with an edit; attach references instead.",
                reason="image_goes_with_edit",
            )
        source = uploads.prepare_image(inputs.image, what="image")
    elif parent is not None and kind in SOURCE_KINDS:
        source = parent_source(backend, parent)
    if kind is JobKind.EDIT and source is None:
        raise ValidationError(
            "An edit needs an image: upload one or name a finished job.",
            reason="edit_needs_image",
        )
    if kind is JobKind.EDIT and not model.capabilities.edit:
        raise ValidationError(
            f"{model.label} cannot edit images.",
            reason="model_cannot_edit",
            params={"model": model.label},
        )
    mask: uploads.PreparedImage | None = None
    if inputs.mask is not None:
        if kind is not JobKind.EDIT or source is None:
            raise ValidationError(
                "A mask goes with an edit of an image.", reason="mask_goes_with_edit"
            )
        mask = uploads.prepare_mask(inputs.mask, source.size)
    if not isinstance(inputs.references, Sequence) or isinstance(inputs.references, bytes):
        raise ValidationError("References must be a list of images.", reason="references_not_list")
    limit = model.capabilities.max_input_images
    # a variation's source is the parent's image, used only by a remix: it counts for nothing
    counted = source is not None and kind is JobKind.EDIT
    wanted = len(inputs.references) + (1 if counted else 0)
    if inputs.references and kind not in (JobKind.REFERENCE, JobKind.EDIT):
        raise ValidationError(
            "Reference images go with a reference or edit request.",
            reason="references_wrong_kind",
        )
    if kind is JobKind.REFERENCE and not inputs.references:
        raise ValidationError("Attach at least one reference image.", reason="references_missing")
    if wanted > limit:
        if not limit:
            raise ValidationError(
                f"{model.label} does not take input images.",
                reason="no_input_images",
                params={"model": model.label},
            )
        raise ValidationError(
            f"{model.label} takes at most {limit} input image{'s' if limit != 1 else ''}; "
            f"this request has {wanted}.",
            reason="too_many_inputs",
            params={"model": model.label, "count": limit, "wanted": wanted},
        )
    refs = [
        uploads.prepare_image(data, what=f"reference image {i}")
        for i, data in enumerate(inputs.references, 1)
    ]
    # every check passed: store (content-addressed, so a repeated request overwrites)
    return replace(
        request,
        input_path=store(backend, user.id, source) if source is not None else None,
        mask_path=store(backend, user.id, mask) if mask is not None else None,
        reference_paths=tuple(store(backend, user.id, r) for r in refs),
        parent_id=parent.id if parent is not None else request.parent_id,
    )


def check_request_inputs(user: User, request: JobRequest) -> None:
    """Every stored input a request names is in the user's inputs folder (or, for the older
    edit path, their own folder)."""
    for path in (request.mask_path, *request.reference_paths):
        if path is not None and not is_stored_input(user.id, path):
            raise ValidationError(
                "Inputs must be your own uploaded images.", reason="inputs_not_own"
            )


def release(backend: Backend, jobs: Iterable[Job]) -> list[str]:
    """After `jobs` rows are gone: delete their stored inputs that no remaining job names.
    Returns the paths that could not be deleted (they stay in the owner's folder, which an
    account deletion empties)."""
    paths = list(
        dict.fromkeys(
            p for j in jobs for p in j.request.stored_inputs if is_stored_input(j.user_id, p)
        )
    )
    if not paths:
        return []
    try:
        unused = [p for p in paths if p not in backend.jobs.inputs_in_use(paths)]
        return backend.blobs.delete(unused) if unused else []
    except Exception as exc:  # storage trouble: the rows are gone already; report, keep going
        log.warning("could not release job inputs: %s", type(exc).__name__)
        return paths
