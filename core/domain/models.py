"""Plain data types shared by every part of the studio."""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


class Role(enum.StrEnum):
    USER = "user"
    REVIEWER = "reviewer"
    ADMIN = "admin"


class JobStatus(enum.StrEnum):
    QUEUED = "queued"
    PROCESSING = "processing"
    DONE = "done"
    FAILED = "failed"
    CANCELED = "canceled"

    @property
    def finished(self) -> bool:
        return self in (JobStatus.DONE, JobStatus.FAILED, JobStatus.CANCELED)


class ReviewStatus(enum.StrEnum):
    UNREVIEWED = "unreviewed"
    APPROVED = "approved"
    REJECTED = "rejected"
    FLAGGED = "flagged"


class JobKind(enum.StrEnum):
    """Where a job came from (its lineage kind). Only EDIT sends a source image and mask to the
    provider's edit call; the others generate, VARIATION and REFERENCE with input images."""

    GENERATE = "generate"
    EDIT = "edit"
    VARIATION = "variation"
    REFERENCE = "reference"
    COMPARE = "compare"


@dataclass(frozen=True)
class User:
    """A signed-in person. `access_token` is a backend credential (Supabase JWT), never stored."""

    id: str
    email: str
    role: Role = Role.USER
    disabled: bool = False
    created_at: datetime | None = None
    daily_quota: int | None = None
    access_token: str | None = field(default=None, repr=False, compare=False)
    language: str | None = None  # the UI language chosen in the profile (policy.LANGUAGES)

    @property
    def is_reviewer(self) -> bool:
        return self.role in (Role.REVIEWER, Role.ADMIN)

    @property
    def is_admin(self) -> bool:
        return self.role is Role.ADMIN


@dataclass(frozen=True)
class JobRequest:
    """What a person asks for: one image. `params` holds the common parameters
    (aspect_ratio, quality, image_size, seed, negative_prompt, style, background, output_format)."""

    provider: str
    model: str
    prompt: str
    params: dict[str, Any] = field(default_factory=dict)
    kind: JobKind = JobKind.GENERATE
    input_path: str | None = None
    # lineage and inputs (issue 11): the job this one was made from, the stored mask of an
    # edit (internal convention: see core.domain.uploads) and the stored reference images
    parent_id: str | None = None
    mask_path: str | None = None
    reference_paths: tuple[str, ...] = ()

    @property
    def stored_inputs(self) -> list[str]:
        """Every stored input object the request names (source, mask, references)."""
        return [p for p in (self.input_path, self.mask_path, *self.reference_paths) if p]


@dataclass(frozen=True)
class NewJob:
    """A row about to be inserted (ids and timestamps are chosen by the caller)."""

    id: str
    user_id: str
    request: JobRequest
    batch_id: str
    max_attempts: int
    idempotency_key: str | None = None


@dataclass(frozen=True)
class Job:
    """One image request and everything that happened to it."""

    id: str
    user_id: str
    provider: str
    model: str
    kind: JobKind
    prompt: str
    params: dict[str, Any]
    status: JobStatus
    attempts: int
    max_attempts: int
    created_at: datetime
    updated_at: datetime
    run_after: datetime
    batch_id: str | None = None
    input_path: str | None = None
    lease_owner: str | None = None
    lease_expires_at: datetime | None = None
    error_code: str | None = None
    error_message: str | None = None
    result_path: str | None = None
    thumb_path: str | None = None
    result_meta: dict[str, Any] = field(default_factory=dict)
    review_status: ReviewStatus = ReviewStatus.UNREVIEWED
    review_note: str | None = None
    reviewed_by: str | None = None
    reviewed_at: datetime | None = None
    idempotency_key: str | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    parent_id: str | None = None
    mask_path: str | None = None
    reference_paths: tuple[str, ...] = ()
    starred: bool = False  # a favourite of its owner (issue 12)

    @property
    def request(self) -> JobRequest:
        return JobRequest(
            provider=self.provider,
            model=self.model,
            prompt=self.prompt,
            params=dict(self.params),
            kind=self.kind,
            input_path=self.input_path,
            parent_id=self.parent_id,
            mask_path=self.mask_path,
            reference_paths=self.reference_paths,
        )


@dataclass(frozen=True)
class JobQuery:
    """Filters and keyset pagination for listing jobs. `user_id=None` means every user's jobs."""

    user_id: str | None = None
    statuses: tuple[JobStatus, ...] = ()
    providers: tuple[str, ...] = ()
    models: tuple[str, ...] = ()
    review_statuses: tuple[ReviewStatus, ...] = ()
    text: str | None = None
    batch_id: str | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None
    oldest_first: bool = False
    limit: int = 24
    cursor: str | None = None
    kinds: tuple[JobKind, ...] = ()  # lineage kinds (edit and iterate); empty = all
    starred: bool = False  # only the owner's favourites (issue 12)


@dataclass(frozen=True)
class JobPage:
    items: list[Job]
    next_cursor: str | None = None


@dataclass(frozen=True)
class QueueDepth:
    queued: int
    processing: int
    oldest_queued_seconds: float | None


@dataclass(frozen=True)
class ApiToken:
    id: str
    user_id: str
    name: str
    created_at: datetime
    last_used_at: datetime | None = None
    revoked: bool = False


def is_uuid(value: object) -> bool:
    """True for a string that parses as a UUID (every job and user id is one)."""
    if not isinstance(value, str):
        return False
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


@dataclass(frozen=True)
class SessionInfo:
    """One signed-in browser of a user, as the Account page lists it. `id` is an opaque handle
    for revoking it, never the session's secret; `current` marks the session asking."""

    id: str
    created_at: datetime
    last_seen_at: datetime | None
    user_agent: str | None
    current: bool = False
