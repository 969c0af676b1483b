"""Edit and iterate in the API (issue 11): reading `POST /api/jobs` when it carries images.

Two forms, one validation. JSON may hold base64 images (`image`, `mask`, `references`) and so
gets a larger body limit than other JSON (JSON_UPLOAD_MAX_BYTES). A `multipart/form-data` body
(files `image`, `mask`, `references`; text fields as in JSON, `params` as a JSON string) is
parsed here within bounds and turned into the same JSON fields, so the route's pydantic model
(JobCreate) validates both; the file bytes travel in `request.state.uploads`.

Bounds, each checked as early as it can be: a declared Content-Length over
UPLOAD_BODY_MAX_BYTES is refused (413) before a byte is read, and a body streamed past it as
soon as it goes over; each file over core.domain.uploads.MAX_UPLOAD_BYTES (20 MB) is 413 from
its size before its bytes are read (Starlette spools file parts to a temporary file past 1 MB,
so memory holds at most one accepted file at a time while it is checked); at most
MAX_FILES files and MAX_FIELDS fields, each text field at most MAX_FIELD_BYTES."""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, field
from typing import Any

from starlette.datastructures import Headers, UploadFile
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException
from starlette.requests import Request
from starlette.types import Message

from core.domain.uploads import MAX_UPLOAD_BYTES
from core.web.http import ApiError, ascii_digits, bad_request

MAX_FILES = 18  # image, mask and up to 16 references
MAX_FIELDS = 16
MAX_FIELD_BYTES = 64 * 1024
# the files and the fields of one request: a 20 MB image, its mask and a little more
UPLOAD_BODY_MAX_BYTES = 25 * 1024 * 1024
# base64 makes 4 bytes of every 3
JSON_UPLOAD_MAX_BYTES = UPLOAD_BODY_MAX_BYTES * 4 // 3 + 64 * 1024
FILE_FIELDS = ("image", "mask", "references")
_MB = 1024 * 1024


@dataclass
class Uploads:
    """The files of a multipart request, checked for size, not yet for content."""

    image: bytes | None = None
    mask: bytes | None = None
    references: list[bytes] = field(default_factory=list)


def is_multipart(request: Request) -> bool:
    media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    return media == "multipart/form-data"


def too_large(limit: int) -> ApiError:
    return ApiError(413, "payload_too_large", f"The body is over {limit // _MB} MB.")


def check_declared_length(request: Request, limit: int) -> None:
    """413 from Content-Length alone, before the body is read."""
    declared = request.headers.get("content-length")
    if declared is None:
        return
    declared = declared.strip()
    if not ascii_digits(declared):
        raise bad_request("Content-Length is not a number.")
    if len(declared.lstrip("0")) > len(str(limit)) or int(declared) > limit:
        raise too_large(limit)


async def read_multipart(request: Request) -> None:
    """Parse a multipart job request within the bounds above; leave the text fields as the
    request's JSON body (for the route's model) and the files in `request.state.uploads`."""
    check_declared_length(request, UPLOAD_BODY_MAX_BYTES)
    params = request.headers.get("content-type", "").split(";")[1:]
    if not any(p.strip().lower().startswith("boundary=") and p.strip()[9:] for p in params):
        raise bad_request("A multipart body needs a boundary in its Content-Type.")
    counted = Request(request.scope, receive=_counting(request, UPLOAD_BODY_MAX_BYTES))
    try:
        form = await counted.form(
            max_files=MAX_FILES, max_fields=MAX_FIELDS, max_part_size=MAX_FIELD_BYTES
        )
    except MultiPartException as exc:
        raise bad_request(f"The multipart body could not be read: {exc.message}") from None
    except HTTPException as exc:  # Starlette's wrapping of the same parser errors
        raise bad_request(f"The multipart body could not be read: {exc.detail}") from None
    try:
        fields: dict[str, Any] = {}
        uploads = Uploads()
        for name, value in form.multi_items():
            key = name.removesuffix("[]")
            if isinstance(value, UploadFile):
                if key not in FILE_FIELDS:
                    raise bad_request(f"Unknown file field {name!r}; send image, mask, references.")
                data = await _read_file(value)
                if key == "references":
                    uploads.references.append(data)
                elif getattr(uploads, key) is not None:
                    raise bad_request(f"Send one {key} file.")
                else:
                    setattr(uploads, key, data)
            else:
                if key in FILE_FIELDS:
                    raise bad_request(f"{key} must be a file part.")
                if key in fields:
                    raise bad_request(f"The field {key!r} is given twice.")
                fields[key] = _field_value(key, value)
    finally:
        await form.close()
    body = json.dumps(fields).encode()
    # The route's model reads the JSON body: hand it the fields as JSON (content type included,
    # which is what FastAPI looks at).
    headers = [(k, v) for k, v in request.scope["headers"] if k != b"content-type"]
    request.scope["headers"] = [*headers, (b"content-type", b"application/json")]
    request._headers = Headers(scope=request.scope)
    request._body = body
    request._json = fields
    request.state.uploads = uploads


async def _read_file(upload: UploadFile) -> bytes:
    size = upload.size
    if size is not None and size > MAX_UPLOAD_BYTES:
        raise ApiError(
            413, "payload_too_large", f"Each file must be at most {MAX_UPLOAD_BYTES // _MB} MB."
        )
    await upload.seek(0)
    return await upload.read(MAX_UPLOAD_BYTES + 1)


def _field_value(key: str, value: str) -> Any:
    """Text fields as their JSON types: params is a JSON object, count an integer."""
    if key == "params":
        try:
            parsed = json.loads(value, parse_constant=_reject)
        except (ValueError, RecursionError):
            raise bad_request("params must be a JSON object.") from None
        return parsed
    if key == "count":
        if not ascii_digits(value.strip()) or len(value.strip()) > 3:
            raise bad_request("count must be a whole number.")
        return int(value.strip())
    return value


def _reject(name: str) -> Any:
    raise ValueError(name)


def _counting(request: Request, limit: int) -> Any:
    """The request's receive, refusing the body once it goes past `limit` bytes."""
    seen = 0
    receive = request.receive

    async def counting() -> Message:
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > limit:
                raise too_large(limit)
        return message

    return counting


# ---- the route's part --------------------------------------------------------------------------


def wants_iteration(body: Any, request: Request) -> bool:
    """Whether a createJob body is an edit, variation, reference or compare (or carries files)."""
    uploads = getattr(request.state, "uploads", None)
    return bool(
        (body.kind not in (None, "generate"))
        or body.parent_id is not None
        or body.image is not None
        or body.mask is not None
        or body.references
        or (uploads is not None and (uploads.image or uploads.mask or uploads.references))
    )


def inputs_of(body: Any, request: Request) -> tuple[bytes | None, bytes | None, list[bytes]]:
    """The images of a createJob request: the multipart files, or the JSON's base64 decoded
    (413 past 20 MB from the text's length, before decoding; 400 for bad base64)."""
    uploads: Uploads | None = getattr(request.state, "uploads", None)
    if uploads is not None:
        if body.image is not None or body.mask is not None or body.references:
            raise bad_request("Send images either as files or as base64 fields, not both.")
        return uploads.image, uploads.mask, uploads.references
    image = _decode(body.image, "image")
    mask = _decode(body.mask, "mask")
    refs = [_decode(r, "reference") or b"" for r in body.references or []]
    return image, mask, refs


def _decode(text: str | None, what: str) -> bytes | None:
    if text is None:
        return None
    if len(text) * 3 // 4 > MAX_UPLOAD_BYTES + 2:
        raise ApiError(
            413, "payload_too_large", f"The {what} is over {MAX_UPLOAD_BYTES // _MB} MB."
        )
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise bad_request(f"The {what} is not valid base64.") from None


# The routes whose body may carry images (ApiRoute reads them with the bounds above).
UPLOAD_ROUTES = frozenset({"createJob"})
