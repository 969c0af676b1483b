"""The REST API: a FastAPI app mounted at /api by app.py (`api_routes()`).

Auth is `Authorization: Bearer <token>`, resolved by `accounts.user_for_api_token`: local
personal tokens, and in Supabase mode a Supabase access token verified by that backend's
`Accounts.resolve_api_token` (the one hook to extend for other token kinds).

Every failure is `{"error": {"code", "message", "reason", "params"}}` (core.web.http): ApiRoute
maps errors raised in handlers and dependencies, the app's HTTPException handler the router's
own 404 and 405. Messages stay English; `reason` and `params` let a client word them itself."""

from __future__ import annotations

import copy
import functools
import math
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Header, Query, Request, Response, Security
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from fastapi.security import HTTPBearer
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool
from starlette.convertors import Convertor, register_url_convertor
from starlette.datastructures import URLPath
from starlette.exceptions import HTTPException
from starlette.responses import HTMLResponse, JSONResponse
from starlette.routing import BaseRoute, Match, Mount, NoMatchFound
from starlette.types import Receive, Scope, Send

from core.backends.common import MAX_CURSOR_CHARS
from core.domain.errors import Conflict, StudioError
from core.domain.images import mime_for_extension
from core.domain.models import Job as DomainJob
from core.domain.models import JobKind, JobQuery, JobRequest, JobStatus, User
from core.runtime import get_runtime
from core.services import Services
from core.services.inputs import Inputs
from core.services.jobs import MAX_IDEMPOTENCY_KEY
from core.web import uploads
from core.web.events import EventStreamResponse, open_stream
from core.web.http import (
    INTERNAL_ERROR,
    ApiError,
    absolute_url,
    ascii_digits,
    authenticate,
    bearer_token,
    error_response,
    log,
    read_json,
    response_for,
)
from core.web.models import (
    BatchCreated,
    Error,
    Health,
    Job,
    JobCreate,
    JobCreated,
    JobDeleted,
    JobList,
    KindFilter,
    PageSize,
    ProviderFilter,
    QueueHealth,
    StatusFilter,
    StorageHealth,
    WorkerHealth,
    job_upload_schema,
)
from core.web.openapi import ASSETS, TITLE, build_document, swagger_page
from core.web.uploads import JSON_UPLOAD_MAX_BYTES, UPLOAD_ROUTES, is_multipart, read_multipart
from core.web.webhook_models import (
    WebhookDeleted,
    WebhookDeliveryList,
    WebhookDeliveryOut,
    WebhookEndpointCreate,
    WebhookEndpointCreated,
    WebhookEndpointList,
    WebhookEndpointOut,
    WebhookSecret,
)

PREFIX = "/api"
DEFAULT_PAGE = 20
MAX_EXP_DIGITS = 12  # a signed URL's expiry in epoch seconds: 10 digits until the year 2286
_METHOD_ORDER = ("GET", "POST", "PUT", "PATCH", "DELETE")
_NOT_FOUND = "No such API path; the API is described at /api/openapi.json."


# ---- errors ---------------------------------------------------------------------------------


class ApiRoute(APIRoute):
    """Runs a route's handler (dependencies included) so that any failure is a JSON error:
    ApiError, StudioError and invalid requests as theirs, anything else as a generic 500 that
    is logged (a handler that replies and re-raises would break the connection under uvicorn).
    A route with a body authenticates first, then reads the body within the API's bounds
    (core.web.http.read_json), before FastAPI parses and validates it."""

    def get_route_handler(self) -> Callable[[Request], Any]:
        handler = super().get_route_handler()
        reads_body = self.body_field is not None
        needs_user = _depends_on(self.dependant, current_user)

        async def guarded(request: Request) -> Response:
            try:
                if reads_body:
                    if needs_user:
                        accounts = (await services()).accounts
                        request.state.user = await run_in_threadpool(
                            authenticate, request, accounts
                        )
                    if self.operation_id in UPLOAD_ROUTES and is_multipart(request):
                        await read_multipart(request)  # edit and iterate: files
                    elif self.operation_id in UPLOAD_ROUTES:
                        await read_json(request, limit=JSON_UPLOAD_MAX_BYTES)  # base64 images
                    else:
                        await read_json(request)
                response = await handler(request)
            except (ApiError, StudioError, RequestValidationError) as exc:
                response = response_for(exc)
            except Exception:
                # The query string may hold a signature: log the path only.
                log.exception("Unhandled error in %s %s", request.method, request.url.path)
                response = error_response(500, "internal_error", INTERNAL_ERROR)
            response.headers.setdefault("Cache-Control", "no-store")
            return response

        return guarded


def _depends_on(dependant: Any, call: Callable[..., Any]) -> bool:
    return any(d.call is call or _depends_on(d, call) for d in dependant.dependencies)


async def _http_error(request: Request, exc: HTTPException) -> Response:
    """The router's own refusals (no such path, method not allowed) in the API's shape."""
    if exc.status_code == 404:
        return error_response(404, "not_found", _NOT_FOUND)
    if exc.status_code == 405:
        allowed = ", ".join(_allowed_methods(request.app, request.scope))
        allowed = allowed or (exc.headers or {}).get("Allow", "GET")
        return error_response(
            405, "method_not_allowed", f"Use {allowed} on this path.", {"Allow": allowed}
        )
    return error_response(exc.status_code, "http_error", str(exc.detail), exc.headers)


def _allowed_methods(app: FastAPI, scope: Scope) -> list[str]:
    """Every method some route of this path answers (GET, POST, DELETE order; HEAD unlisted)."""
    methods: set[str] = set()
    for route in app.router.routes:
        if isinstance(route, APIRoute) and route.matches(scope)[0] is not Match.NONE:
            methods |= route.methods or set()
    return [method for method in _METHOD_ORDER if method in methods]


def _errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The documented error responses, all in the Error shape."""
    return {status: {"model": Error, **_ERROR_DOCS[status]} for status in statuses}


_ERROR_DOCS: dict[int, dict[str, Any]] = {
    400: {"description": "Malformed request: invalid JSON, wrong types, bad query parameter."},
    401: {
        "description": "Missing, malformed, invalid or revoked bearer token.",
        "headers": {"WWW-Authenticate": {"schema": {"type": "string"}}},
    },
    403: {"description": "Not allowed (the account may not submit jobs)."},
    404: {"description": "No such job, or one the caller may not see (indistinguishable)."},
    408: {"description": "The body did not arrive within BODY_READ_TIMEOUT."},
    409: {"description": "The job's state or the Idempotency-Key's first request says no."},
    413: {"description": "The body is too large."},
    415: {"description": "The body is not JSON."},
    422: {"description": "Validation failed (unknown provider/model/option, bad prompt...)."},
    429: {
        "description": "Rate limit or daily quota reached.",
        "headers": {"Retry-After": {"schema": {"type": "integer"}}},
    },
    500: {"description": "Unexpected server error (details are logged, never returned)."},
    503: {"description": "`storage_full`: the server's disk is full; nothing was saved."},
}


# ---- dependencies ---------------------------------------------------------------------------


async def services() -> Services:
    """The one door from the API to the services."""
    return get_runtime().services


class _Bearer(HTTPBearer):
    """The bearer token by this API's rules (core.web.http.bearer_token); documented as the
    `bearer` security scheme."""

    async def __call__(self, request: Request) -> str:  # type: ignore[override]
        return bearer_token(request)


_bearer = _Bearer(scheme_name="bearer", auto_error=False)


def current_user(
    request: Request, token: Annotated[str, Security(_bearer)], found: ServicesDep
) -> User:
    """The caller (ApiRoute may have looked it up before reading the body)."""
    user = getattr(request.state, "user", None)
    return user if user is not None else authenticate(request, found.accounts)


ServicesDep = Annotated[Services, Depends(services)]
UserDep = Annotated[User, Depends(current_user)]


# ---- the app --------------------------------------------------------------------------------

api = FastAPI(
    title=TITLE,
    openapi_url=None,  # served by the `openapi` route: documented, and under /api
    docs_url=None,  # served by the `docs` route, from local files
    redoc_url=None,
    redirect_slashes=False,  # /api/jobs/ is no path, not a redirect
    exception_handlers={HTTPException: _http_error},
)
# On the app's own router (not an included one): its routes are the ApiRoutes themselves.
router = api.router
router.route_class = ApiRoute


def get(path: str, **options: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """A GET route and its HEAD twin (FastAPI adds no HEAD to GET routes; undocumented)."""

    def register(endpoint: Callable[..., Any]) -> Callable[..., Any]:
        router.add_api_route(path, endpoint, methods=["GET"], **options)
        twin = {k: v for k, v in options.items() if k != "operation_id"}
        router.add_api_route(
            path, endpoint, methods=["HEAD"], **{**twin, "include_in_schema": False}
        )
        return endpoint

    return register


@get(
    "/health",
    operation_id="health",
    summary="Liveness, backend, worker state, queue depth and storage.",
    response_model=Health,
    responses={
        200: {"description": "Up."},
        503: {
            "model": Health,
            "description": "Up, but the storage cannot take writes (a full disk): "
            "`storage.problem` says what is wrong.",
        },
        **_errors(500),
    },
)
def health(response: Response, found: ServicesDep) -> Health:
    """No auth. 503 when the storage cannot take writes (a full disk), with the reason."""
    depth = found.jobs.queue_depth()
    problem = found.jobs.storage_problem()
    if problem is not None:
        response.status_code = 503
    return Health(
        status="ok" if problem is None else "unavailable",
        backend=found.admin.backend_name(),
        storage=StorageHealth(ok=problem is None, problem=problem),
        worker=WorkerHealth(alive=found.admin.background().worker_alive),
        queue=QueueHealth(
            queued=depth.queued,
            processing=depth.processing,
            oldest_queued_seconds=depth.oldest_queued_seconds,
        ),
    )


@get(
    "/openapi.json",
    operation_id="openapi",
    summary="This document.",
    response_model=dict[str, Any],
    responses={200: {"description": "OpenAPI 3.1."}},
)
async def openapi() -> JSONResponse:
    return JSONResponse(_document())


@get("/docs", include_in_schema=False, response_class=HTMLResponse)
async def docs(request: Request) -> HTMLResponse:
    """Swagger UI, every file from this server."""
    return swagger_page(request.scope.get("root_path", "").rstrip("/"))


# ---- jobs -----------------------------------------------------------------------------------


@router.post(
    "/jobs",
    operation_id="createJob",
    summary="Queue an image job (count > 1: a batch of copies).",
    status_code=201,
    response_model=JobCreated | BatchCreated,
    responses={
        201: {
            "description": "Queued (or, for a repeated Idempotency-Key, the existing jobs with "
            "their current status).",
            "headers": {"Location": {"schema": {"type": "string"}}},
        },
        **_errors(400, 401, 403, 404, 408, 409, 413, 415, 422, 429, 500, 503),
    },
    openapi_extra={
        "requestBody": {
            "content": {"multipart/form-data": {"schema": job_upload_schema()}},
            "description": "JSON, or multipart/form-data with image files (edit and iterate; "
            "docs/edit-and-iterate.md). Files over 20 MB are 413, types other than PNG, JPEG "
            "or WebP (by content) 415.",
        }
    },
)
def create_job(
    body: JobCreate,
    http: Request,
    response: Response,
    user: UserDep,
    found: ServicesDep,
    idempotency_key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            min_length=1,
            max_length=MAX_IDEMPOTENCY_KEY,
            description="The same user and key return the jobs made the first time instead of "
            "queueing again.",
        ),
    ] = None,
) -> JobCreated:
    request = JobRequest(
        provider=body.provider, model=body.model or "", prompt=body.prompt, params=body.params or {}
    )
    count = 1 if body.count is None else body.count
    iteration = uploads.wants_iteration(body, http)
    if iteration:  # edit and iterate: the service checks a repeated key itself
        image, mask, references = uploads.inputs_of(body, http)
        request = replace(
            request,
            kind=JobKind(body.kind or ("edit" if image is not None else "generate")),
            parent_id=str(body.parent_id) if body.parent_id is not None else None,
        )
        images = Inputs(image=image, mask=mask, references=references)
        jobs = found.jobs.submit_iteration(
            user,
            request,
            images=images,
            count=count,
            idempotency_key=idempotency_key,
            webhook_url=body.webhook_url,
        )
    else:
        jobs = found.jobs.submit(
            user,
            request,
            count=count,
            idempotency_key=idempotency_key,
            webhook_url=body.webhook_url,
        )
    if (
        idempotency_key is not None
        and not iteration
        and not _same_request(jobs, found.jobs.validate_request(request), count)
    ):
        raise Conflict("This Idempotency-Key was already used for a different request.")
    first = jobs[0]
    response.headers["Location"] = f"{PREFIX}/jobs?id={first.id}"
    if len(jobs) > 1:
        ids = [job.id for job in jobs]
        return BatchCreated(id=first.id, status=first.status, batch_id=first.batch_id, ids=ids)
    return JobCreated(id=first.id, status=first.status)


def _same_request(jobs: list[DomainJob], request: JobRequest, count: int) -> bool:
    """Whether the jobs returned for an idempotency key were made from this (validated)
    request: a replay, not a reuse of the key for something else."""
    return len(jobs) == count and all(job.request == request for job in jobs)


@get(
    "/jobs",
    operation_id="getJobs",
    summary="With `id`: one job. Without: the caller's jobs, newest first.",
    response_model=Job | JobList,
    responses={
        200: {"description": "A job (with `id`) or a page of jobs."},
        **_errors(400, 401, 404, 422, 500),
    },
)
def get_jobs(
    user: UserDep,
    found: ServicesDep,
    id: Annotated[str | None, Query(description="The job id (a UUID).")] = None,
    limit: Annotated[PageSize, Query()] = DEFAULT_PAGE,
    cursor: Annotated[
        str | None,
        Query(description="The `next_cursor` of the previous page.", max_length=MAX_CURSOR_CHARS),
    ] = None,
    status: Annotated[
        StatusFilter, Query(description="Filter; repeat or comma-separate for several.")
    ] = (),
    provider: Annotated[
        ProviderFilter, Query(description="Filter; repeat or comma-separate for several.")
    ] = (),
    kind: Annotated[
        KindFilter,
        Query(description="Lineage kind filter (generate, edit, variation, reference, compare)."),
    ] = (),
) -> Job | JobList:
    if id is not None:
        job = found.jobs.get_job(user, id)
        urls = found.jobs.image_urls(user, [job], thumbs=False)
        return _job(job, urls)
    query = JobQuery(
        statuses=tuple(dict.fromkeys(status)),
        providers=tuple(dict.fromkeys(provider)),
        kinds=tuple(dict.fromkeys(kind)),
        limit=limit,
        cursor=cursor or None,
    )
    page = found.jobs.list_jobs(user, query)
    urls = found.jobs.image_urls(user, page.items, thumbs=False)
    return JobList(items=[_job(job, urls) for job in page.items], next_cursor=page.next_cursor)


def _job(job: DomainJob, urls: dict[str, str]) -> Job:
    url = urls.get(job.id)
    return Job.of(job, absolute_url(url) if url else None)


@router.delete(
    "/jobs",
    operation_id="deleteJob",
    summary="Cancel a queued job, or delete a finished one (row and files).",
    response_model=JobDeleted,
    responses={
        200: {"description": "Canceled or deleted."},
        **_errors(400, 401, 404, 409, 500, 503),
    },
)
def delete_job(
    user: UserDep,
    found: ServicesDep,
    id: Annotated[str, Query(description="The job id (a UUID).")],
) -> JobDeleted:
    job = found.jobs.get_job(user, id)
    # By status only: whether this user may act on the job is the service's call.
    if job.status is JobStatus.QUEUED:
        try:
            canceled = found.jobs.cancel(user, job.id)
            return JobDeleted(id=canceled.id, status=canceled.status, deleted=False)
        except Conflict:
            job = found.jobs.get_job(user, job.id)  # picked up meanwhile: fall through
    found.jobs.delete(user, job.id)
    return JobDeleted(id=job.id, status=job.status, deleted=True)


# ---- signed files (local backend) -----------------------------------------------------------


class _FilePath(Convertor[str]):
    """Like Starlette's `path`, but never empty: /api/files/ is no file."""

    regex = r".+"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("filepath", _FilePath())


@get(
    "/files/{path:filepath}",
    operation_id="getFile",
    summary="A stored image behind a signed, expiring URL (local backend).",
    description="The URLs come from `result_url`; no token is needed.",
    response_class=Response,
    responses={
        200: {
            "description": "The image.",
            "headers": {"Cache-Control": {"schema": {"type": "string"}}},
            "content": {
                media: {}
                for media in (
                    "image/png",
                    "image/jpeg",
                    "image/webp",
                    "image/gif",
                    "application/octet-stream",
                )
            },
        },
        403: {"model": Error, "description": "The signature is invalid or has expired."},
        404: {"model": Error, "description": "No such file."},
        **_errors(500),
    },
)
def get_file(
    path: str,
    found: ServicesDep,
    exp: Annotated[str, Query(description="Expiry, in seconds since the epoch.")] = "",
    sig: Annotated[str, Query(description="The URL's signature.")] = "",
) -> Response:
    """A stored image; the signature is the only credential, and it expires."""
    if not ascii_digits(exp) or len(exp) > MAX_EXP_DIGITS or not sig:
        raise ApiError(403, "forbidden", "This link is invalid or has expired.")
    data = found.jobs.signed_file(path, int(exp), sig)  # also refuses an expired link
    remaining = int(exp) - time.time()
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


api.mount("/docs/assets", StaticFiles(directory=ASSETS), name="docs-assets")


@functools.cache
def _document() -> dict[str, Any]:
    return build_document(api.routes, PREFIX)


def openapi_document() -> dict[str, Any]:
    """The OpenAPI document, paths under /api (a copy: callers may change it)."""
    return copy.deepcopy(_document())


# ---- mounting -------------------------------------------------------------------------------


class ApiNotFound(BaseRoute):
    """Every other HTTP path under /api (the prefix in any case: /API/jobs too, and bare /api)
    answers the API's JSON 404, never the Streamlit page that the app serves for unknown
    paths."""

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if scope["type"] == "http" and _is_api_path(_route_path(scope)):
            return Match.FULL, {}
        return Match.NONE, {}

    def url_path_for(self, name: str, /, **path_params: Any) -> URLPath:
        raise NoMatchFound(name, path_params)

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        await error_response(404, "not_found", _NOT_FOUND)(scope, receive, send)


def _route_path(scope: Scope) -> str:
    """The path without the app's root_path (as Starlette's routes match it)."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    return path[len(root) :] if root and path.startswith(root) else path


def _is_api_path(path: str) -> bool:
    lowered = path.lower()
    return lowered == PREFIX or lowered.startswith(PREFIX + "/")


def api_routes() -> list[BaseRoute]:
    """The API app at /api, then the JSON 404 for the rest of /api."""
    return [Mount(PREFIX, app=api), ApiNotFound()]


# ---- webhooks (issue 15) --------------------------------------------------------------------


@router.post(
    "/webhooks",
    operation_id="createWebhookEndpoint",
    summary="Register a webhook endpoint (URL + event filter); its secret is shown once.",
    status_code=201,
    response_model=WebhookEndpointCreated,
    responses={201: {"description": "Registered."}, **_errors(400, 401, 413, 415, 422, 500, 503)},
)
def create_webhook_endpoint(
    body: WebhookEndpointCreate, user: UserDep, found: ServicesDep
) -> WebhookEndpointCreated:
    created = found.webhooks.create_endpoint(user, body.url, list(body.events))
    out = WebhookEndpointOut.of(created.endpoint)
    return WebhookEndpointCreated(**out.model_dump(), secret=created.secret)


@get(
    "/webhooks",
    operation_id="listWebhookEndpoints",
    summary="The caller's webhook endpoints.",
    response_model=WebhookEndpointList,
    responses={
        200: {"description": "Every endpoint (secrets are never shown again)."},
        **_errors(401, 500, 503),
    },
)
def list_webhook_endpoints(user: UserDep, found: ServicesDep) -> WebhookEndpointList:
    items = found.webhooks.list_endpoints(user)
    return WebhookEndpointList(items=[WebhookEndpointOut.of(e) for e in items])


@router.delete(
    "/webhooks",
    operation_id="deleteWebhookEndpoint",
    summary="Delete a webhook endpoint (its pending deliveries are dropped).",
    response_model=WebhookDeleted,
    responses={200: {"description": "Deleted."}, **_errors(400, 401, 404, 422, 500, 503)},
)
def delete_webhook_endpoint(
    user: UserDep,
    found: ServicesDep,
    id: Annotated[str, Query(description="The endpoint id (a UUID).", max_length=64)],
) -> WebhookDeleted:
    found.webhooks.delete_endpoint(user, id)
    return WebhookDeleted(id=id, deleted=True)


@get(
    "/webhooks/deliveries",
    operation_id="listWebhookDeliveries",
    summary="The delivery log, newest first: status, attempts, last response code.",
    response_model=WebhookDeliveryList,
    responses={200: {"description": "Deliveries."}, **_errors(400, 401, 404, 422, 500, 503)},
)
def list_webhook_deliveries(
    user: UserDep,
    found: ServicesDep,
    endpoint_id: Annotated[
        str | None, Query(description="Only this endpoint's deliveries.", max_length=64)
    ] = None,
    limit: Annotated[PageSize, Query()] = DEFAULT_PAGE,
) -> WebhookDeliveryList:
    items = found.webhooks.deliveries(user, endpoint_id=endpoint_id, limit=limit)
    return WebhookDeliveryList(items=[WebhookDeliveryOut.of(d) for d in items])


@router.post(
    "/webhooks/deliveries/{delivery_id}/resend",
    operation_id="resendWebhookDelivery",
    summary="Send a delivery again now (same webhook-id, attempts from zero).",
    response_model=WebhookDeliveryOut,
    responses={200: {"description": "Pending again."}, **_errors(401, 404, 422, 500, 503)},
)
def resend_webhook_delivery(
    delivery_id: str, user: UserDep, found: ServicesDep
) -> WebhookDeliveryOut:
    return WebhookDeliveryOut.of(found.webhooks.resend(user, delivery_id))


@router.post(
    "/webhooks/secret",
    operation_id="rotateWebhookSecret",
    summary="A new signing secret for your jobs' own webhook_url (shown once).",
    response_model=WebhookSecret,
    responses={
        200: {"description": "The new secret; the old one signs nothing new."},
        **_errors(401, 500, 503),
    },
)
def rotate_webhook_secret(user: UserDep, found: ServicesDep) -> WebhookSecret:
    return WebhookSecret(secret=found.webhooks.rotate_job_secret(user))


# ---- event streams (issue 15) ---------------------------------------------------------------

_STREAM_DOC: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "`text/event-stream`: `id:` (the event's sequence number: send it back "
        "as `Last-Event-ID` to resume without gaps), `event:` (job.queued, job.started, "
        "job.succeeded, job.failed, job.canceled) and `data:` (the job as JSON). A `: "
        "keep-alive` comment every 15 s; the stream ends after EVENT_STREAM_MAX_SECONDS (1 h).",
        "content": {"text/event-stream": {"schema": {"type": "string"}}},
    },
}
LastEventId = Annotated[
    str | None,
    Header(
        alias="Last-Event-ID",
        max_length=32,
        description="Resume after this event id (what the stream's last `id:` said).",
    ),
]


@router.get(
    "/events",
    operation_id="streamEvents",
    summary="Server-Sent Events for every job of the caller, from now (or Last-Event-ID) on.",
    response_class=EventStreamResponse,
    status_code=200,
    responses={**_STREAM_DOC, **_errors(401, 422, 429, 500, 503)},
)
def stream_events(user: UserDep, found: ServicesDep, last_event_id: LastEventId = None) -> Response:
    return open_stream(found, user, job_id=None, last_event_id=last_event_id)


@router.get(
    "/jobs/{job_id}/events",
    operation_id="streamJobEvents",
    summary="Server-Sent Events for one job: its history, then each change; ends when it ends.",
    response_class=EventStreamResponse,
    status_code=200,
    responses={**_STREAM_DOC, **_errors(401, 404, 422, 429, 500, 503)},
)
def stream_job_events(
    job_id: str, user: UserDep, found: ServicesDep, last_event_id: LastEventId = None
) -> Response:
    return open_stream(found, user, job_id=job_id, last_event_id=last_event_id)
