"""Starlette handlers for /api/* (parse → JobService → JSON). Registered by app.py.

Auth is `Authorization: Bearer <token>`, resolved by `JobService.user_for_api_token`: local
personal tokens, and in Supabase mode a Supabase access token verified by that backend's
`Accounts.resolve_api_token` (the one hook to extend for other token kinds)."""

from __future__ import annotations

import math
import time
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.convertors import Convertor, register_url_convertor
from starlette.datastructures import URLPath
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Match, NoMatchFound, Route
from starlette.types import Receive, Scope, Send

from core.domain.errors import Conflict, NotFound, ValidationError
from core.domain.images import mime_for_extension
from core.domain.models import Job, JobQuery, JobRequest, JobStatus, User
from core.runtime import get_runtime
from core.services.jobs import MAX_PAGE
from core.web.http import (
    ApiError,
    absolute_url,
    ascii_digits,
    authenticate,
    bad_request,
    endpoint,
    error_response,
    iso,
    json_response,
    read_json,
)
from core.web.openapi import openapi_document

DEFAULT_PAGE = 20
MAX_EXP_DIGITS = 12  # a signed URL's expiry in epoch seconds: 10 digits until the year 2286
_ALL_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
_CREATE_FIELDS = {"provider", "type", "prompt", "model", "params", "count"}


# ---- health and schema ----------------------------------------------------------------------


@endpoint(("GET",))
async def health(request: Request) -> Response:
    """Liveness: backend, worker state, queue depth and storage. No auth. 503 when the
    storage cannot take writes (a full disk), with the reason."""
    runtime = get_runtime()
    depth = await run_in_threadpool(runtime.service.queue_depth)
    storage_problem = await run_in_threadpool(runtime.backend.storage_problem)
    worker = runtime.worker
    return json_response(
        {
            "status": "ok" if storage_problem is None else "unavailable",
            "backend": runtime.backend.name,
            "storage": {"ok": storage_problem is None, "problem": storage_problem},
            "worker": {"alive": bool(worker is not None and getattr(worker, "alive", False))},
            "queue": {
                "queued": depth.queued,
                "processing": depth.processing,
                "oldest_queued_seconds": depth.oldest_queued_seconds,
            },
        },
        200 if storage_problem is None else 503,
    )


@endpoint(("GET",))
async def openapi(request: Request) -> Response:
    """The OpenAPI 3.1 description of this API."""
    return JSONResponse(openapi_document())


# ---- jobs -------------------------------------------------------------------------------------


@endpoint(("GET", "POST", "DELETE"))
async def jobs(request: Request) -> Response:
    """/api/jobs: POST creates, GET reads one (?id=) or lists, DELETE cancels or deletes."""
    user = await authenticate(request)
    if request.method == "POST":
        return await _create(request, user)
    if request.method == "DELETE":
        return await _delete(request, user)
    if "id" in request.query_params:
        return await _read_one(request, user)
    return await _list(request, user)


async def _create(request: Request, user: User) -> Response:
    body = await read_json(request)
    job_request, count = _parse_create(body)
    key = request.headers.get("idempotency-key")
    service = get_runtime().service

    def submit() -> list[Job]:
        jobs = service.submit(user, job_request, count=count, idempotency_key=key)
        if key is not None and not _same_request(
            jobs, service.validate_request(job_request), count
        ):
            raise Conflict("This Idempotency-Key was already used for a different request.")
        return jobs

    created = await run_in_threadpool(submit)
    first = created[0]
    payload: dict[str, Any] = {"id": first.id, "status": first.status.value}
    if len(created) > 1:
        payload["batch_id"] = first.batch_id
        payload["ids"] = [job.id for job in created]
    return json_response(payload, 201, {"Location": f"/api/jobs?id={first.id}"})


def _parse_create(body: Any) -> tuple[JobRequest, int]:
    """Types are checked here (400); values by the service (422)."""
    if not isinstance(body, dict):
        raise bad_request("The body must be a JSON object.")
    unknown = sorted(set(body) - _CREATE_FIELDS)
    if unknown:
        raise ValidationError(f"Unknown field(s): {', '.join(unknown)}.")
    for name in ("provider", "prompt"):
        if name not in body:
            raise ValidationError(f"The field {name!r} is required.")
    for name in ("provider", "prompt", "type", "model"):
        value = body.get(name)
        optional = name in ("type", "model")
        if not isinstance(value, str) and not (optional and value is None):
            raise bad_request(f"The field {name!r} must be a string.")
    params = body.get("params")
    if params is not None and not isinstance(params, dict):
        raise bad_request("The field 'params' must be an object.")
    count = body.get("count", 1)
    if count is None:
        count = 1
    if isinstance(count, bool) or not isinstance(count, int):
        raise bad_request("The field 'count' must be a whole number.")
    kind = body.get("type") or "image"
    if kind != "image":
        raise ValidationError("Only jobs of type 'image' are supported.")
    request = JobRequest(
        provider=body["provider"],
        model=body.get("model") or "",
        prompt=body["prompt"],
        params=params or {},
    )
    return request, count


def _same_request(jobs: list[Job], request: JobRequest, count: int) -> bool:
    """Whether the jobs returned for an idempotency key were made from this (validated)
    request: a replay, not a reuse of the key for something else."""
    return len(jobs) == count and all(job.request == request for job in jobs)


async def _read_one(request: Request, user: User) -> Response:
    job_id = request.query_params["id"]
    service = get_runtime().service

    def load() -> tuple[Job, dict[str, str]]:
        job = service.get_job(user, job_id)
        return job, service.image_urls(user, [job], thumbs=False)

    job, urls = await run_in_threadpool(load)
    return json_response(job_json(job, urls.get(job.id)))


async def _list(request: Request, user: User) -> Response:
    query = _parse_list_query(request)
    service = get_runtime().service

    def load() -> tuple[list[Job], str | None, dict[str, str]]:
        page = service.list_jobs(user, query)
        return page.items, page.next_cursor, service.image_urls(user, page.items, thumbs=False)

    items, next_cursor, urls = await run_in_threadpool(load)
    return json_response(
        {
            "items": [job_json(job, urls.get(job.id)) for job in items],
            "next_cursor": next_cursor,
        }
    )


def _parse_list_query(request: Request) -> JobQuery:
    params = request.query_params
    raw_limit = params.get("limit")
    limit = DEFAULT_PAGE
    if raw_limit is not None:
        digits = raw_limit.strip()
        if not ascii_digits(digits):
            raise bad_request("limit must be a whole number.")
        # Length first: int() of thousands of digits is slow, then refused.
        if len(digits.lstrip("0")) > len(str(MAX_PAGE)) or not 1 <= int(digits) <= MAX_PAGE:
            raise ValidationError(f"limit must be between 1 and {MAX_PAGE}.")
        limit = int(digits)
    statuses: list[JobStatus] = []
    for raw in _multi(params.getlist("status")):
        try:
            statuses.append(JobStatus(raw))
        except ValueError:
            known = ", ".join(s.value for s in JobStatus)
            raise ValidationError(f"Unknown status {raw!r}. Choose from: {known}.") from None
    providers = _multi(params.getlist("provider"))
    known_providers = get_runtime().service.providers
    for name in providers:
        if name not in known_providers:
            known = ", ".join(sorted(known_providers))
            raise ValidationError(f"Unknown provider {name!r}. Choose from: {known}.")
    return JobQuery(
        statuses=tuple(dict.fromkeys(statuses)),
        providers=tuple(dict.fromkeys(providers)),
        limit=limit,
        cursor=params.get("cursor") or None,
    )


def _multi(values: list[str]) -> list[str]:
    """`?status=a&status=b` and `?status=a,b` alike."""
    return [part.strip() for value in values for part in value.split(",") if part.strip()]


async def _delete(request: Request, user: User) -> Response:
    job_id = request.query_params.get("id")
    if not job_id:
        raise bad_request("Name the job: DELETE /api/jobs?id=<id>.")
    service = get_runtime().service

    def act() -> dict[str, Any]:
        job = service.get_job(user, job_id)
        # By status only: whether this user may act on the job is the service's call.
        if job.status is JobStatus.QUEUED:
            try:
                canceled = service.cancel(user, job.id)
                return {"id": canceled.id, "status": canceled.status.value, "deleted": False}
            except Conflict:
                job = service.get_job(user, job.id)  # picked up meanwhile: fall through
        service.delete(user, job.id)
        return {"id": job.id, "status": job.status.value, "deleted": True}

    return json_response(await run_in_threadpool(act))


def job_json(job: Job, result_url: str | None) -> dict[str, Any]:
    """The API's view of a job. `id`, `status`, `result_url` and `created_at` are the original
    system's contract and keep their names and meanings."""
    failed = job.status is JobStatus.FAILED
    return {
        "id": job.id,
        "status": job.status.value,
        "result_url": absolute_url(result_url) if result_url else None,
        "created_at": iso(job.created_at),
        "provider": job.provider,
        "model": job.model,
        "prompt": job.prompt,
        "params": job.params,
        "error": (
            {"code": job.error_code or "failed", "message": job.error_message or "Failed."}
            if failed
            else None
        ),
        "started_at": iso(job.started_at),
        "finished_at": iso(job.finished_at),
        "attempts": job.attempts,
        "batch_id": job.batch_id,
    }


# ---- signed files (local backend) -------------------------------------------------------------


@endpoint(("GET",))
async def files(request: Request) -> Response:
    """A stored image behind an expiring HMAC-signed URL; no cookie or token needed."""
    path = request.path_params["path"]
    blobs = get_runtime().backend.blobs
    verify = getattr(blobs, "verify_signed_path", None)
    exp_raw = request.query_params.get("exp", "")
    sig = request.query_params.get("sig", "")
    invalid = ApiError(403, "forbidden", "This link is invalid or has expired.")
    if verify is None:
        raise ApiError(404, "not_found", "No such file.")
    if not ascii_digits(exp_raw) or len(exp_raw) > MAX_EXP_DIGITS or not sig:
        raise invalid
    exp = int(exp_raw)
    if not verify(path, exp, sig):  # also refuses an expired link
        raise invalid
    remaining = exp - time.time()
    try:
        data = await run_in_threadpool(blobs.get, path)
    except (NotFound, ValueError):
        raise ApiError(404, "not_found", "No such file.") from None
    ext = path.rsplit(".", 1)[-1].lower() if "." in path else ""
    return Response(
        data,
        media_type=mime_for_extension(ext) or "application/octet-stream",
        headers={
            "Cache-Control": f"private, max-age={max(0, math.floor(remaining))}",
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "default-src 'none'; sandbox",
            "Content-Disposition": "inline",
        },
    )


class _AnyPath(Convertor[str]):
    """Like Starlette's `path`, but also across control characters, so that no file path
    falls through to a non-JSON 404."""

    regex = r"[\s\S]+"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("anypath", _AnyPath())


class ApiNotFound(BaseRoute):
    """Every other HTTP path under /api (the prefix in any case: /API/jobs too) answers the
    API's JSON 404, never the Streamlit page that the app serves for unknown paths."""

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if scope["type"] == "http" and _is_api_path(_route_path(scope)):
            return Match.FULL, {}
        return Match.NONE, {}

    def url_path_for(self, name: str, /, **path_params: Any) -> URLPath:
        raise NoMatchFound(name, path_params)

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = error_response(
            404, "not_found", "No such API path; the API is described at /api/openapi.json."
        )
        await response(scope, receive, send)


def _route_path(scope: Scope) -> str:
    """The path without the app's root_path (as Starlette's routes match it)."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    return path[len(root) :] if root and path.startswith(root) else path


def _is_api_path(path: str) -> bool:
    lowered = path.lower()
    return lowered == "/api" or lowered.startswith("/api/")


def api_routes() -> list[BaseRoute]:
    """Every /api/* route, the JSON 404 for the rest of /api last."""
    # Every method reaches the handlers, which answer 405 in the API's JSON error shape.
    return [
        Route("/api/health", health, methods=_ALL_METHODS),
        Route("/api/openapi.json", openapi, methods=_ALL_METHODS),
        Route("/api/jobs", jobs, methods=_ALL_METHODS),
        Route("/api/files/{path:anypath}", files, methods=_ALL_METHODS),
        ApiNotFound(),
    ]
