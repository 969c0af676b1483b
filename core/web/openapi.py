"""The OpenAPI 3.1 description of /api/*. Hand-written and kept true by tests (every route is
described, every documented response matches what the handlers send, and schemathesis fuzzes
the API against it)."""

from __future__ import annotations

import copy
from typing import Any

from core.backends.common import MAX_CURSOR_CHARS
from core.domain.models import JobStatus
from core.providers.registry import provider_names
from core.services.jobs import MAX_COUNT, MAX_IDEMPOTENCY_KEY, MAX_PAGE
from core.web.http import MAX_BODY_BYTES

_TIMESTAMP = {"type": ["string", "null"], "format": "date-time"}


def _error(description: str, headers: dict[str, Any] | None = None) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }
    if headers:
        response["headers"] = headers
    return response


_UNAUTHORIZED = _error(
    "Missing, malformed, invalid or revoked bearer token.",
    {"WWW-Authenticate": {"schema": {"type": "string"}}},
)
_NOT_FOUND = _error("No such job, or one the caller may not see (indistinguishable).")
_BAD_REQUEST = _error("Malformed request: invalid JSON, wrong types, bad query parameter.")
_UNPROCESSABLE = _error("Validation failed (unknown provider/model/option, bad prompt...).")
_SERVER = _error("Unexpected server error (details are logged, never returned).")
_STORAGE_FULL = _error("`storage_full`: the server's disk is full; nothing was saved.")
_ID_PARAM = {
    "name": "id",
    "in": "query",
    "required": True,
    "description": "The job id (a UUID).",
    "schema": {"type": "string"},
}

_SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {
                "type": "object",
                "required": ["code", "message"],
                "properties": {
                    "code": {"type": "string", "description": "Stable machine-readable code."},
                    "message": {"type": "string", "description": "Plain words for people."},
                },
            }
        },
    },
    "JobCreate": {
        "type": "object",
        "required": ["provider", "prompt"],
        "additionalProperties": False,
        "properties": {
            "provider": {
                "type": "string",
                "description": "A provider of the registry (the enum is filled in per process).",
                "examples": ["demo"],
            },
            "type": {"type": "string", "enum": ["image"], "default": "image"},
            "prompt": {"type": "string", "minLength": 1, "examples": ["a lighthouse at dusk"]},
            "model": {
                "type": ["string", "null"],
                "description": (
                    "A model id of the provider; its default when omitted. From a model's "
                    "shutdown date (UTC) it is refused with 422: 'MODEL shut down on DATE; use "
                    "REPLACEMENT.'"
                ),
            },
            "params": {
                "type": ["object", "null"],
                "description": (
                    "Common options the model supports: aspect_ratio, quality, image_size, "
                    "seed, negative_prompt, style, background, output_format."
                ),
            },
            "count": {
                "type": ["integer", "null"],
                "minimum": 1,
                "maximum": MAX_COUNT,
                "default": 1,
                "description": "How many images (one job each, one batch).",
            },
        },
    },
    "JobCreated": {
        "type": "object",
        "required": ["id", "status"],
        "properties": {
            "id": {"type": "string", "format": "uuid"},
            "status": {"$ref": "#/components/schemas/JobStatus"},
            "batch_id": {"type": "string", "format": "uuid", "description": "When count > 1."},
            "ids": {
                "type": "array",
                "items": {"type": "string", "format": "uuid"},
                "description": "Every job of the batch, when count > 1.",
            },
        },
    },
    "JobStatus": {"type": "string", "enum": [s.value for s in JobStatus]},
    "Job": {
        "type": "object",
        "required": [
            "id",
            "status",
            "result_url",
            "created_at",
            "provider",
            "model",
            "prompt",
            "params",
            "error",
            "started_at",
            "finished_at",
            "attempts",
        ],
        "properties": {
            "id": {"type": "string", "format": "uuid"},
            "status": {"$ref": "#/components/schemas/JobStatus"},
            "result_url": {
                "type": ["string", "null"],
                "format": "uri-reference",
                "description": "A fresh, expiring signed URL of the image once done; else null. "
                "Local backend: on PUBLIC_URL when it is set, else relative to this server.",
            },
            "created_at": {"type": "string", "format": "date-time"},
            "provider": {"type": "string"},
            "model": {"type": "string"},
            "prompt": {"type": "string"},
            "params": {"type": "object"},
            "error": {
                "description": "Why the job failed (status failed), else null.",
                "oneOf": [
                    {"type": "null"},
                    {
                        "type": "object",
                        "required": ["code", "message"],
                        "properties": {
                            "code": {"type": "string"},
                            "message": {"type": "string"},
                        },
                    },
                ],
            },
            "started_at": _TIMESTAMP,
            "finished_at": _TIMESTAMP,
            "attempts": {"type": "integer", "minimum": 0},
            "batch_id": {"type": ["string", "null"]},
        },
    },
    "JobList": {
        "type": "object",
        "required": ["items", "next_cursor"],
        "properties": {
            "items": {"type": "array", "items": {"$ref": "#/components/schemas/Job"}},
            "next_cursor": {
                "type": ["string", "null"],
                "description": "Pass as `cursor` for the next page; null on the last page.",
            },
        },
    },
    "JobDeleted": {
        "type": "object",
        "required": ["id", "status", "deleted"],
        "properties": {
            "id": {"type": "string", "format": "uuid"},
            "status": {"$ref": "#/components/schemas/JobStatus"},
            "deleted": {
                "type": "boolean",
                "description": "false: a queued job was canceled; true: row and files deleted.",
            },
        },
    },
    "Health": {
        "type": "object",
        "required": ["status", "backend", "storage", "worker", "queue"],
        "properties": {
            "status": {"type": "string", "enum": ["ok", "unavailable"]},
            "backend": {"type": "string", "enum": ["local", "supabase"]},
            "storage": {
                "type": "object",
                "required": ["ok", "problem"],
                "properties": {
                    "ok": {"type": "boolean"},
                    "problem": {"type": ["string", "null"]},
                },
            },
            "worker": {
                "type": "object",
                "required": ["alive"],
                "properties": {"alive": {"type": "boolean"}},
            },
            "queue": {
                "type": "object",
                "required": ["queued", "processing", "oldest_queued_seconds"],
                "properties": {
                    "queued": {"type": "integer", "minimum": 0},
                    "processing": {"type": "integer", "minimum": 0},
                    "oldest_queued_seconds": {"type": ["number", "null"]},
                },
            },
        },
    },
}

_DOCUMENT: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {
        "title": "Image Studio API",
        "version": "1.0.0",
        "description": (
            "Queue image generation jobs and poll for their results. Every error is "
            '`{"error": {"code", "message"}}`. Authenticate with `Authorization: Bearer '
            "<token>` (a personal API token from the Account page or `python -m core tokens "
            "create`; with the Supabase backend also a Supabase access token)."
        ),
    },
    "components": {
        "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        "schemas": _SCHEMAS,
    },
    "security": [{"bearer": []}],
    "paths": {
        "/api/jobs": {
            "post": {
                "operationId": "createJob",
                "summary": "Queue an image job (count > 1: a batch of copies).",
                "parameters": [
                    {
                        "name": "Idempotency-Key",
                        "in": "header",
                        "required": False,
                        "description": "The same user and key return the jobs made the first "
                        "time instead of queueing again.",
                        "schema": {
                            "type": "string",
                            "minLength": 1,
                            "maxLength": MAX_IDEMPOTENCY_KEY,
                        },
                    }
                ],
                "requestBody": {
                    "required": True,
                    "description": f"At most {MAX_BODY_BYTES} bytes.",
                    "content": {
                        "application/json": {"schema": {"$ref": "#/components/schemas/JobCreate"}}
                    },
                },
                "responses": {
                    "201": {
                        "description": "Queued (or, for a repeated Idempotency-Key, the "
                        "existing jobs with their current status).",
                        "headers": {"Location": {"schema": {"type": "string"}}},
                        "content": {
                            "application/json": {
                                "schema": {"$ref": "#/components/schemas/JobCreated"}
                            }
                        },
                    },
                    "400": _BAD_REQUEST,
                    "401": _UNAUTHORIZED,
                    "403": _error("The account may not submit jobs."),
                    "409": _error("The Idempotency-Key was used for a different request."),
                    "408": _error("The body did not arrive within BODY_READ_TIMEOUT."),
                    "413": _error(f"The body is over {MAX_BODY_BYTES} bytes."),
                    "415": _error("The body is not JSON."),
                    "422": _UNPROCESSABLE,
                    "429": _error(
                        "Rate limit or daily quota reached.",
                        {"Retry-After": {"schema": {"type": "integer"}}},
                    ),
                    "500": _SERVER,
                    "503": _STORAGE_FULL,
                },
            },
            "get": {
                "operationId": "getJobs",
                "summary": "With `id`: one job. Without: the caller's jobs, newest first.",
                "parameters": [
                    {**_ID_PARAM, "required": False},
                    {
                        "name": "limit",
                        "in": "query",
                        "schema": {
                            "type": "integer",
                            "minimum": 1,
                            "maximum": MAX_PAGE,
                            "default": 20,
                        },
                    },
                    {
                        "name": "cursor",
                        "in": "query",
                        "description": "The `next_cursor` of the previous page.",
                        "schema": {"type": "string", "maxLength": MAX_CURSOR_CHARS},
                    },
                    {
                        "name": "status",
                        "in": "query",
                        "description": "Filter; repeat or comma-separate for several.",
                        "schema": {"$ref": "#/components/schemas/JobStatus"},
                    },
                    {
                        "name": "provider",
                        "in": "query",
                        "description": "Filter; repeat or comma-separate for several.",
                        "schema": {"type": "string"},
                    },
                ],
                "responses": {
                    "200": {
                        "description": "A job (with `id`) or a page of jobs.",
                        "content": {
                            "application/json": {
                                "schema": {
                                    "oneOf": [
                                        {"$ref": "#/components/schemas/Job"},
                                        {"$ref": "#/components/schemas/JobList"},
                                    ]
                                }
                            }
                        },
                    },
                    "400": _BAD_REQUEST,
                    "401": _UNAUTHORIZED,
                    "404": _NOT_FOUND,
                    "422": _UNPROCESSABLE,
                    "500": _SERVER,
                },
            },
            "delete": {
                "operationId": "deleteJob",
                "summary": "Cancel a queued job, or delete a finished one (row and files).",
                "parameters": [_ID_PARAM],
                "responses": {
                    "200": {
                        "description": "Canceled or deleted.",
                        "content": {
                            "application/json": {
                                "schema": {"$ref": "#/components/schemas/JobDeleted"}
                            }
                        },
                    },
                    "400": _BAD_REQUEST,
                    "401": _UNAUTHORIZED,
                    "404": _NOT_FOUND,
                    "409": _error("The job is being generated; delete it once finished."),
                    "500": _SERVER,
                    "503": _STORAGE_FULL,
                },
            },
        },
        "/api/health": {
            "get": {
                "operationId": "health",
                "summary": "Liveness, backend, worker state, queue depth and storage.",
                "security": [],
                "responses": {
                    "200": {
                        "description": "Up.",
                        "content": {
                            "application/json": {"schema": {"$ref": "#/components/schemas/Health"}}
                        },
                    },
                    "503": {
                        "description": "Up, but the storage cannot take writes (a full disk): "
                        "`storage.problem` says what is wrong.",
                        "content": {
                            "application/json": {"schema": {"$ref": "#/components/schemas/Health"}}
                        },
                    },
                    "500": _SERVER,
                },
            }
        },
        "/api/openapi.json": {
            "get": {
                "operationId": "openapi",
                "summary": "This document.",
                "security": [],
                "responses": {
                    "200": {
                        "description": "OpenAPI 3.1.",
                        "content": {"application/json": {"schema": {"type": "object"}}},
                    }
                },
            }
        },
        "/api/files/{path}": {
            "get": {
                "operationId": "getFile",
                "summary": "A stored image behind a signed, expiring URL (local backend).",
                "description": "The URLs come from `result_url`; no token is needed.",
                "security": [],
                "parameters": [
                    {"name": "path", "in": "path", "required": True, "schema": {"type": "string"}},
                    {"name": "exp", "in": "query", "required": True, "schema": {"type": "integer"}},
                    {"name": "sig", "in": "query", "required": True, "schema": {"type": "string"}},
                ],
                "responses": {
                    "200": {
                        "description": "The image.",
                        "headers": {"Cache-Control": {"schema": {"type": "string"}}},
                        "content": {
                            "image/png": {},
                            "image/jpeg": {},
                            "image/webp": {},
                            "image/gif": {},
                            "application/octet-stream": {},
                        },
                    },
                    "403": _error("The signature is invalid or has expired."),
                    "404": _error("No such file."),
                    "500": _SERVER,
                },
            }
        },
    },
}


def openapi_document() -> dict[str, Any]:
    """A fresh copy of the document (callers may not mutate the shared one), with the
    provider enum of the registry (installed provider plugins included)."""
    document = copy.deepcopy(_DOCUMENT)
    provider = document["components"]["schemas"]["JobCreate"]["properties"]["provider"]
    provider["enum"] = list(provider_names())
    provider["description"] = f"One of: {', '.join(provider_names())}."
    return document
