"""The API's request and response bodies and its checked query and header types, as pydantic
models: FastAPI validates with them and generates the OpenAPI document from them.

Types are checked here (a wrong JSON type is a 400); values mostly by the service (422). The
custom errors below (`int_parsing`, `out_of_range`) carry the context that
core.web.http.invalid_request turns into plain words."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal
from uuid import UUID

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictInt,
    StrictStr,
    WithJsonSchema,
)
from pydantic_core import PydanticCustomError

from core.domain.models import Job as DomainJob
from core.domain.models import JobKind, JobStatus
from core.providers.registry import provider_names
from core.services.jobs import MAX_COUNT, MAX_PAGE
from core.web.http import ascii_digits


def bounded_int(low: int, high: int, *, from_text: bool = False) -> Any:
    """A whole number in [low, high], documented as minimum/maximum and refused as
    `out_of_range` (so that the message can name both bounds). With `from_text` (a query
    parameter) a string of ASCII digits only is read, and never converted when it has more
    digits than `high`."""

    def parse(value: Any) -> Any:
        if not isinstance(value, str):
            return value
        digits = value.strip()
        if not ascii_digits(digits):
            raise PydanticCustomError("int_parsing", "not a whole number")
        # Length first: int() of thousands of digits is slow, then refused anyway.
        return high + 1 if len(digits.lstrip("0")) > len(str(high)) else int(digits)

    def check(value: int) -> int:
        if not low <= value <= high:
            raise PydanticCustomError(
                "out_of_range", "not between {low} and {high}", {"low": low, "high": high}
            )
        return value

    checked = Annotated[
        StrictInt,
        AfterValidator(check),
        WithJsonSchema({"type": "integer", "minimum": low, "maximum": high}),
    ]
    return Annotated[checked, BeforeValidator(parse)] if from_text else checked


def _split_commas(value: Any) -> Any:
    """`?status=a&status=b` and `?status=a,b` alike."""
    if isinstance(value, list | tuple):
        return [part.strip() for item in value for part in str(item).split(",") if part.strip()]
    return value


def _as_utc(moment: datetime) -> datetime:
    """Naive datetimes are taken as UTC; every time is sent as RFC 3339 in UTC ('Z')."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


if TYPE_CHECKING:  # the checker sees plain types; pydantic sees the registry's names and bounds
    ProviderName = str
    Count = int
    PageSize = int
else:
    ProviderName = Literal[provider_names()]
    Count = bounded_int(1, MAX_COUNT)
    PageSize = bounded_int(1, MAX_PAGE, from_text=True)
UtcDatetime = Annotated[datetime, AfterValidator(_as_utc)]
StatusFilter = Annotated[tuple[JobStatus, ...], BeforeValidator(_split_commas)]
ProviderFilter = Annotated[tuple[ProviderName, ...], BeforeValidator(_split_commas)]
KindFilter = Annotated[tuple[JobKind, ...], BeforeValidator(_split_commas)]  # edit and iterate


# ---- bodies ----------------------------------------------------------------------------------


JobKindName = Literal["generate", "edit", "variation", "reference", "compare"]
# base64 of a 20 MB file, a little over; the decoded size is checked again (20 MB)
Base64Image = Annotated[StrictStr, Field(min_length=1, max_length=28 * 1024 * 1024)]


class ErrorDetail(BaseModel):
    code: str = Field(description="Stable machine-readable code: the kind of error.")
    message: str = Field(description="Plain words for people, always in English.")
    reason: str = Field(
        default="",
        description=(
            "Stable name of this particular message (the studio's own UI words it in the "
            "user's language from this); the same as `code` when there is nothing finer."
        ),
    )
    params: dict[str, str | int | float] = Field(
        default_factory=dict,
        description="The values the message was built from (e.g. `minutes`, `limit`).",
    )


class Error(BaseModel):
    """Every error the API answers: `{"error": {"code", "message", "reason", "params"}}`."""

    error: ErrorDetail


class JobCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    provider: ProviderName = Field(examples=["demo"])
    type: Literal["image"] | None = "image"
    prompt: StrictStr = Field(min_length=1, examples=["a lighthouse at dusk"])
    model: StrictStr | None = Field(
        None,
        description=(
            "A model id of the provider; its default when omitted. From a model's shutdown date "
            "(UTC) it is refused with 422: 'MODEL shut down on DATE; use REPLACEMENT.'"
        ),
    )
    params: dict[str, Any] | None = Field(
        None,
        description=(
            "Common options the model supports: aspect_ratio, quality, image_size, seed, "
            "negative_prompt, style, background, output_format."
        ),
    )
    count: Count | None = Field(1, description="How many images (one job each, one batch).")
    webhook_url: StrictStr | None = Field(
        None,
        max_length=2000,
        description=(
            "Also send this job's events here (https://, signed with your per-job webhook "
            "secret: POST /api/webhooks/secret first)."
        ),
    )

    # ---- edit and iterate (issue 11); in multipart bodies, image/mask/references are files
    kind: JobKindName | None = Field(
        None,
        description=(
            "generate (default), edit (an image with an optional mask), variation (new seeds of "
            "`parent_id`: its prompt and options are used), reference (guided by `references`) "
            "or compare (a generate recorded as part of a comparison)."
        ),
    )
    parent_id: UUID | None = Field(
        None,
        description="One of your finished jobs to edit or vary (404 if not yours, 409 if not "
        "finished).",
    )
    image: Base64Image | None = Field(
        None, description="An edit's image: PNG, JPEG or WebP as base64, at most 20 MB decoded."
    )
    mask: Base64Image | None = Field(
        None,
        description="An edit's mask as base64 PNG the image's size: white (opaque, light) = "
        "change, black or transparent = keep.",
    )
    references: list[Base64Image] | None = Field(
        None,
        max_length=16,
        description="Reference images as base64 (at most the model's limit).",
    )


class JobCreated(BaseModel):
    id: UUID
    status: JobStatus


class BatchCreated(JobCreated):
    """count > 1: the first job's id and status, and every job of the batch."""

    batch_id: UUID
    ids: list[UUID]


class JobFailure(BaseModel):
    code: str
    message: str


class Job(BaseModel):
    """The API's view of a job. `id`, `status`, `result_url` and `created_at` are the original
    system's contract and keep their names and meanings."""

    id: UUID
    status: JobStatus
    result_url: str | None = Field(
        description=(
            "A fresh, expiring signed URL of the image once done; else null. Local backend: on "
            "PUBLIC_URL when it is set, else relative to this server."
        ),
        json_schema_extra={"format": "uri-reference"},
    )
    created_at: UtcDatetime
    provider: str
    model: str
    prompt: str
    params: dict[str, Any]
    error: JobFailure | None = Field(description="Why the job failed (status failed), else null.")
    started_at: UtcDatetime | None
    finished_at: UtcDatetime | None
    attempts: int = Field(ge=0)
    batch_id: UUID | None = None
    kind: JobKindName = Field("generate", description="Where the job came from (lineage).")
    parent_id: UUID | None = Field(None, description="The job it was made from, if any.")

    @classmethod
    def of(cls, job: DomainJob, result_url: str | None) -> Job:
        failed = job.status is JobStatus.FAILED
        return cls(
            id=job.id,
            status=job.status,
            result_url=result_url,
            created_at=job.created_at,
            provider=job.provider,
            model=job.model,
            prompt=job.prompt,
            params=job.params,
            error=(
                JobFailure(code=job.error_code or "failed", message=job.error_message or "Failed.")
                if failed
                else None
            ),
            started_at=job.started_at,
            finished_at=job.finished_at,
            attempts=job.attempts,
            batch_id=job.batch_id,
            kind=job.kind.value,
            parent_id=job.parent_id,
        )


class JobList(BaseModel):
    items: list[Job]
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page; null on the last page."
    )


class JobDeleted(BaseModel):
    id: UUID
    status: JobStatus
    deleted: bool = Field(
        description="false: a queued job was canceled; true: row and files deleted."
    )


class StorageHealth(BaseModel):
    ok: bool
    problem: str | None


class WorkerHealth(BaseModel):
    alive: bool


class QueueHealth(BaseModel):
    queued: int = Field(ge=0)
    processing: int = Field(ge=0)
    oldest_queued_seconds: float | None


class Health(BaseModel):
    status: Literal["ok", "unavailable"]
    backend: Literal["local", "supabase"]
    storage: StorageHealth
    worker: WorkerHealth
    queue: QueueHealth


# ---- edit and iterate (issue 11): the multipart form of createJob --------------------------------


def job_upload_schema() -> dict[str, Any]:
    """The multipart/form-data body of createJob: JobCreate's text fields (params as a JSON
    string) and the image files. Documented in the OpenAPI beside the JSON body."""
    binary = {"type": "string", "format": "binary"}
    return {
        "type": "object",
        "required": ["provider", "prompt"],
        "properties": {
            "provider": {"type": "string", "enum": list(provider_names())},
            "prompt": {"type": "string", "minLength": 1},
            "model": {"type": "string"},
            "params": {"type": "string", "description": "Options as a JSON object."},
            "count": {"type": "integer", "minimum": 1, "maximum": MAX_COUNT},
            "kind": {"type": "string", "enum": ["generate", "edit", "variation", "reference"]},
            "parent_id": {"type": "string", "format": "uuid"},
            "image": {**binary, "description": "PNG, JPEG or WebP, at most 20 MB."},
            "mask": {**binary, "description": "PNG the image's size: white = change."},
            "references": {"type": "array", "items": binary, "maxItems": 16},
        },
        "additionalProperties": False,
    }
