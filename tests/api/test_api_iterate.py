"""POST /api/jobs with images: edits, variations and references, as multipart and as JSON with
base64. Bad input first: every case is a clear 4xx in the API's error shape and changes nothing
(no job, no stored file)."""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Iterator

import pytest
from PIL import Image
from starlette.testclient import TestClient

from core.domain.models import JobKind, JobQuery, JobStatus
from core.runtime import Runtime
from tests.api.conftest import ApiUser, wait_for

EDIT_FIELDS = {"provider": "demo", "model": "demo-poster", "prompt": "gold", "kind": "edit"}


def png(size: tuple[int, int] = (40, 30), colour: str = "navy") -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, format="PNG")
    return out.getvalue()


def mask(size: tuple[int, int] = (40, 30)) -> bytes:
    img = Image.new("L", size, 0)
    img.paste(255, (4, 4, 20, 20))
    out = io.BytesIO()
    img.save(out, format="PNG")
    return out.getvalue()


def multipart(client: TestClient, who: ApiUser, files: list, **fields: object):
    data = {k: (json.dumps(v) if isinstance(v, dict) else str(v)) for k, v in fields.items()}
    return client.post("/api/jobs", headers=who.headers, data=data, files=files)


def nothing_changed(runtime: Runtime, who: ApiUser) -> bool:
    jobs = runtime.backend.jobs.list_jobs(JobQuery(user_id=who.user.id)).items
    folder = runtime.settings.data_dir / "blobs" / who.user.id
    return not jobs and not (folder.exists() and any(folder.rglob("*.*")))


@pytest.fixture
def done_job(client: TestClient, alice: ApiUser, runtime: Runtime, run_worker) -> Iterator[str]:
    run_worker()
    created = client.post(
        "/api/jobs", headers=alice.headers, json={"provider": "demo", "prompt": "a harbour"}
    ).json()
    wait_for(runtime, created["id"], {JobStatus.DONE})
    yield created["id"]


# ---- hostile input -------------------------------------------------------------------------


def test_a_declared_body_over_the_cap_is_413_before_reading(client, alice, runtime):
    headers = {
        **alice.headers,
        "Content-Type": "multipart/form-data; boundary=x",
        "Content-Length": str(26 * 1024 * 1024),
    }
    response = client.post("/api/jobs", headers=headers, content=b"--x--\r\n")
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"
    assert nothing_changed(runtime, alice)


def test_a_file_over_20_mb_is_413(client, alice, runtime):
    big = b"\x89PNG\r\n\x1a\n" + b"\0" * (20 * 1024 * 1024)
    response = multipart(client, alice, [("image", ("a.png", big, "image/png"))], **EDIT_FIELDS)
    assert response.status_code == 413
    assert nothing_changed(runtime, alice)


def test_base64_over_20_mb_is_413_before_decoding(client, alice, runtime):
    body = {**EDIT_FIELDS, "image": "A" * (27 * 1024 * 1024 + 100)}
    response = client.post("/api/jobs", headers=alice.headers, json=body)
    assert response.status_code == 413
    assert nothing_changed(runtime, alice)


@pytest.mark.parametrize(
    ("data", "status"),
    [
        (b"GIF89a" + b"\0" * 50, 415),
        (b"<?xml version='1.0'?><svg/>", 415),
        (b"\x89PNG\r\n\x1a\n" + b"junk" * 10, 422),
    ],
)
def test_types_are_judged_by_content_not_name(client, alice, runtime, data, status):
    files = [("image", ("photo.png", data, "image/png"))]
    response = multipart(client, alice, files, **EDIT_FIELDS)
    assert response.status_code == status, response.text
    assert nothing_changed(runtime, alice)


def test_a_bomb_is_refused_from_its_header(client, alice, runtime):
    from tests.unit.test_uploads import png_header_only

    files = [("image", ("bomb.png", png_header_only(50_000, 50_000), "image/png"))]
    response = multipart(client, alice, files, **EDIT_FIELDS)
    assert response.status_code == 422 and "pixels" in response.json()["error"]["message"]
    assert nothing_changed(runtime, alice)


def test_a_mask_of_another_size_is_422(client, alice, runtime):
    files = [
        ("image", ("a.png", png(), "image/png")),
        ("mask", ("m.png", mask((10, 10)), "image/png")),
    ]
    response = multipart(client, alice, files, **EDIT_FIELDS)
    assert response.status_code == 422 and "same size" in response.json()["error"]["message"]
    assert nothing_changed(runtime, alice)


def test_more_references_than_the_model_takes_is_422(client, alice, runtime):
    refs = [
        base64.b64encode(png(colour=c)).decode() for c in ("red", "green", "blue", "gray", "tan")
    ]
    body = {**EDIT_FIELDS, "kind": "reference", "references": refs}
    response = client.post("/api/jobs", headers=alice.headers, json=body)
    assert response.status_code == 422 and "at most 4" in response.json()["error"]["message"]
    assert nothing_changed(runtime, alice)


@pytest.mark.parametrize(
    "body",
    [
        {**EDIT_FIELDS, "image": "not base64!!"},
        {**EDIT_FIELDS, "image": 42},
        {**EDIT_FIELDS, "references": "a string"},
        {**EDIT_FIELDS, "kind": "remix"},
        {**EDIT_FIELDS, "parent_id": "not-a-uuid"},
    ],
)
def test_malformed_json_fields_are_400_or_422(client, alice, runtime, body):
    response = client.post("/api/jobs", headers=alice.headers, json=body)
    assert response.status_code in (400, 422), response.text
    assert "error" in response.json()
    assert nothing_changed(runtime, alice)


@pytest.mark.parametrize(
    ("files", "fields"),
    [
        ([("secret", ("a.png", png(), "image/png"))], EDIT_FIELDS),  # unknown file field
        ([("image", ("a.png", png(), "image/png"))] * 2, EDIT_FIELDS),  # two images
        ([("image", ("a.png", png(), "image/png"))], {**EDIT_FIELDS, "count": "x"}),
        ([("image", ("a.png", png(), "image/png"))], {**EDIT_FIELDS, "params": "{bad"}),
        ([("image", ("a.png", png(), "image/png"))], {**EDIT_FIELDS, "extra": "field"}),
    ],
)
def test_malformed_multipart_is_a_clear_4xx(client, alice, runtime, files, fields):
    response = multipart(client, alice, files, **fields)
    assert response.status_code in (400, 422), response.text
    assert nothing_changed(runtime, alice)


def test_a_parent_of_another_user_is_404_and_an_unfinished_one_409(client, alice, bob, runtime):
    bobs = client.post("/api/jobs", headers=bob.headers, json={"provider": "demo", "prompt": "b"})
    body = {**EDIT_FIELDS, "parent_id": bobs.json()["id"]}
    assert client.post("/api/jobs", headers=alice.headers, json=body).status_code == 404
    variation = {"provider": "demo", "prompt": "x", "kind": "variation"}
    variation["parent_id"] = bobs.json()["id"]
    assert client.post("/api/jobs", headers=alice.headers, json=variation).status_code == 404
    assert nothing_changed(runtime, alice)
    own = client.post("/api/jobs", headers=alice.headers, json={"provider": "demo", "prompt": "q"})
    body["parent_id"] = own.json()["id"]
    response = client.post("/api/jobs", headers=alice.headers, json=body)
    assert response.status_code == 409


# ---- what works ------------------------------------------------------------------------------


def test_a_multipart_edit_is_queued_with_its_lineage_and_done(client, alice, runtime, run_worker):
    run_worker()
    files = [("image", ("a.png", png(), "image/png")), ("mask", ("m.png", mask(), "image/png"))]
    response = multipart(client, alice, files, **EDIT_FIELDS, count=2)
    assert response.status_code == 201, response.text
    ids = response.json()["ids"]
    for job_id in ids:
        wait_for(runtime, job_id, {JobStatus.DONE})
    listed = client.get("/api/jobs", headers=alice.headers).json()["items"]
    assert {(j["kind"], j["parent_id"]) for j in listed} == {("edit", None)}
    one = client.get(f"/api/jobs?id={ids[0]}", headers=alice.headers).json()
    assert one["kind"] == "edit" and one["result_url"]


def test_a_json_edit_of_a_finished_job_and_a_variation(client, alice, runtime, done_job):
    edit = client.post(
        "/api/jobs", headers=alice.headers, json={**EDIT_FIELDS, "parent_id": done_job}
    )
    assert edit.status_code == 201, edit.text
    variation = client.post(
        "/api/jobs",
        headers=alice.headers,
        json={"provider": "demo", "prompt": "ignored", "kind": "variation", "parent_id": done_job},
    )
    assert variation.status_code == 201, variation.text
    job = runtime.backend.jobs.get_job(variation.json()["id"])
    assert job.kind is JobKind.VARIATION and job.parent_id == done_job
    assert job.prompt == "a harbour"
    shown = client.get(f"/api/jobs?id={edit.json()['id']}", headers=alice.headers).json()
    assert shown["parent_id"] == done_job and shown["kind"] == "edit"


def test_a_base64_edit_with_an_idempotency_key_replays_and_refuses_another_image(client, alice):
    body = {**EDIT_FIELDS, "image": base64.b64encode(png()).decode()}
    headers = {**alice.headers, "Idempotency-Key": "edit-1"}
    first = client.post("/api/jobs", headers=headers, json=body)
    again = client.post("/api/jobs", headers=headers, json=body)
    assert first.status_code == again.status_code == 201
    assert first.json()["id"] == again.json()["id"]
    other = {**body, "image": base64.b64encode(png(colour="red")).decode()}
    assert client.post("/api/jobs", headers=headers, json=other).status_code == 409


def test_a_plain_json_generate_keeps_its_small_body_limit_elsewhere(client, alice):
    # other routes with a body still have the 64 KB JSON limit; createJob's is larger
    response = client.post(
        "/api/jobs", headers=alice.headers, json={"provider": "demo", "prompt": "x" * 70_000}
    )
    assert response.status_code == 422  # the prompt limit, not 413


def test_get_jobs_filters_by_kind_and_the_document_names_both_bodies(client, alice, done_job):
    client.post("/api/jobs", headers=alice.headers, json={**EDIT_FIELDS, "parent_id": done_job})
    edits = client.get("/api/jobs?kind=edit", headers=alice.headers).json()["items"]
    assert [j["kind"] for j in edits] == ["edit"]
    both = client.get("/api/jobs?kind=edit,generate", headers=alice.headers).json()["items"]
    assert len(both) == 2
    assert client.get("/api/jobs?kind=remix", headers=alice.headers).status_code in (400, 422)
    document = client.get("/api/openapi.json").json()
    content = document["paths"]["/api/jobs"]["post"]["requestBody"]["content"]
    assert {"application/json", "multipart/form-data"} <= set(content)
    assert content["multipart/form-data"]["schema"]["properties"]["image"]["format"] == "binary"
