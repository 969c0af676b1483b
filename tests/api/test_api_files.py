"""The signed file route: the signature is the only credential, and it expires."""

from __future__ import annotations

import time
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from starlette.testclient import TestClient

from core.domain.models import Job, JobStatus
from core.runtime import Runtime
from tests.api.conftest import ApiUser, wait_for


@pytest.fixture
def done_job(client: TestClient, runtime: Runtime, alice: ApiUser, run_worker) -> Job:
    run_worker()
    response = client.post(
        "/api/jobs", json={"provider": "demo", "prompt": "a lighthouse"}, headers=alice.headers
    )
    return wait_for(runtime, response.json()["id"], {JobStatus.DONE})


def result_url(client: TestClient, who: ApiUser, job: Job) -> str:
    return client.get("/api/jobs", params={"id": job.id}, headers=who.headers).json()["result_url"]


def with_query(url: str, **changes: str) -> str:
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    query.update(changes)
    query = {k: v for k, v in query.items() if v is not None}
    return f"{parts.path}?{urlencode(query)}"


def assert_refused(response) -> None:
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "forbidden"
    assert response.headers["content-type"] == "application/json"


def test_a_signed_url_serves_the_image_without_any_cookie_or_token(
    client: TestClient, alice: ApiUser, done_job: Job
) -> None:
    response = client.get(result_url(client, alice, done_job))
    assert response.status_code == 200
    assert response.content.startswith(b"\x89PNG")
    assert response.headers["content-type"] == "image/png"


def test_head_answers_headers_only(client: TestClient, alice: ApiUser, done_job: Job) -> None:
    response = client.head(result_url(client, alice, done_job))
    assert response.status_code == 200 and response.content == b""
    assert response.headers["content-type"] == "image/png"


def test_a_tampered_signature_is_refused(client: TestClient, alice: ApiUser, done_job: Job) -> None:
    url = result_url(client, alice, done_job)
    sig = parse_qs(urlsplit(url).query)["sig"][0]
    flipped = ("0" if sig[0] != "0" else "1") + sig[1:]
    assert_refused(client.get(with_query(url, sig=flipped)))
    assert_refused(client.get(with_query(url, sig="")))


def test_a_later_expiry_with_the_old_signature_is_refused(
    client: TestClient, alice: ApiUser, done_job: Job
) -> None:
    url = result_url(client, alice, done_job)
    exp = int(parse_qs(urlsplit(url).query)["exp"][0])
    assert_refused(client.get(with_query(url, exp=str(exp + 3600))))
    assert_refused(client.get(with_query(url, exp="soon")))


def test_a_signature_does_not_open_another_path(
    client: TestClient, runtime: Runtime, alice: ApiUser, bob: ApiUser, done_job: Job
) -> None:
    url = result_url(client, alice, done_job)
    path = urlsplit(url).path
    other = path.replace(alice.user.id, bob.user.id)
    assert_refused(client.get(other + "?" + urlsplit(url).query))
    thumb = done_job.thumb_path or done_job.result_path + ".thumb"
    assert_refused(client.get(f"/api/files/{thumb}?" + urlsplit(url).query))


def test_a_signed_url_stops_working_after_it_expires(
    client: TestClient, runtime: Runtime, done_job: Job
) -> None:
    url = runtime.backend.blobs.signed_urls([done_job.result_path], ttl=1)[done_job.result_path]
    first = client.get(url)
    assert first.status_code == 200
    assert int(first.headers["cache-control"].split("=")[1]) <= 1
    exp = int(parse_qs(urlsplit(url).query)["exp"][0])
    time.sleep(max(0.0, exp - time.time()) + 1.05)
    assert_refused(client.get(url))


def test_a_signed_url_for_a_deleted_file_is_404(
    client: TestClient, runtime: Runtime, alice: ApiUser, done_job: Job
) -> None:
    url = result_url(client, alice, done_job)
    runtime.backend.blobs.delete([done_job.result_path])
    response = client.get(url)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_requests_without_a_signature_are_refused(client: TestClient, done_job: Job) -> None:
    assert_refused(client.get(f"/api/files/{done_job.result_path}"))
    assert_refused(client.get("/api/files/%2e%2e/%2e%2e/secret.key?exp=99999999999&sig=00"))
    assert_refused(client.get(f"/api/files/{done_job.result_path}?exp=99999999999&sig=%C3%9B"))
