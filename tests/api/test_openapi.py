"""The OpenAPI document stays true: it describes exactly the routes served, real responses match
its schemas, and schemathesis fuzzing (bounded) finds no 5xx and no schema mismatch."""

from __future__ import annotations

import uuid
from typing import Any

import jsonschema
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from starlette.routing import Route
from starlette.testclient import TestClient

from core.domain.models import JobStatus
from core.runtime import Runtime
from core.web.api import ApiNotFound, api_routes
from core.web.openapi import openapi_document
from tests.api.conftest import ApiUser, make_app, wait_for

DOCUMENT = openapi_document()


def validate(instance: Any, schema: dict[str, Any]) -> None:
    """Validate against a schema from the document, resolving its #/components refs."""
    root = {**schema, "components": DOCUMENT["components"]}
    jsonschema.Draft202012Validator(
        root, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    ).validate(instance)


def response_schema(path: str, method: str, status: int) -> dict[str, Any]:
    response = DOCUMENT["paths"][path][method]["responses"][str(status)]
    return response["content"]["application/json"]["schema"]


def test_the_document_is_openapi_3_1_and_served_as_json(client: TestClient) -> None:
    response = client.get("/api/openapi.json")
    assert response.status_code == 200
    assert response.json() == DOCUMENT
    assert DOCUMENT["openapi"].startswith("3.1")
    jsonschema.Draft202012Validator.check_schema({"$defs": DOCUMENT["components"]["schemas"]})


def test_every_route_is_documented_and_every_documented_path_is_served() -> None:
    *routes, fallback = api_routes()
    served = {route.path.replace("{path:anypath}", "{path}") for route in routes}
    assert all(isinstance(route, Route) for route in routes)
    assert isinstance(fallback, ApiNotFound)  # the JSON 404 for the rest of /api
    assert served == set(DOCUMENT["paths"])


def test_documented_methods_are_the_only_ones_accepted(client: TestClient, alice: ApiUser) -> None:
    for path, operations in DOCUMENT["paths"].items():
        url = path.replace("{path}", "u/j.png")
        for method in ("get", "post", "put", "patch", "delete"):
            status = client.request(method.upper(), url, headers=alice.headers).status_code
            assert (status == 405) == (method not in operations), (method, path, status)


def test_real_responses_match_the_documented_schemas(
    client: TestClient, runtime: Runtime, alice: ApiUser, run_worker
) -> None:
    run_worker()
    created = client.post(
        "/api/jobs",
        json={"provider": "demo", "prompt": "a kite", "count": 2},
        headers=alice.headers,
    )
    validate(created.json(), response_schema("/api/jobs", "post", 201))
    job_id = created.json()["id"]
    wait_for(runtime, job_id, {JobStatus.DONE})
    for params in ({"id": job_id}, {"limit": 1}, {}):
        got = client.get("/api/jobs", params=params, headers=alice.headers)
        validate(got.json(), response_schema("/api/jobs", "get", 200))
    deleted = client.delete("/api/jobs", params={"id": job_id}, headers=alice.headers)
    validate(deleted.json(), response_schema("/api/jobs", "delete", 200))
    validate(client.get("/api/health").json(), response_schema("/api/health", "get", 200))
    missing = client.get("/api/jobs", params={"id": str(uuid.uuid4())}, headers=alice.headers)
    validate(missing.json(), response_schema("/api/jobs", "get", 404))


# ---- fuzzing --------------------------------------------------------------------------------

schema = schemathesis.openapi.from_asgi("/api/openapi.json", make_app())


@pytest.fixture
def fuzz_user(runtime: Runtime, make_user) -> ApiUser:
    return make_user("fuzz@example.com")


@schema.parametrize()
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_the_api_conforms_to_its_openapi_document(case, fuzz_user: ApiUser) -> None:
    case.call_and_validate(
        headers=fuzz_user.headers,
        checks=[
            not_a_server_error,
            status_code_conformance,
            content_type_conformance,
            response_headers_conformance,
            response_schema_conformance,
        ],
    )
