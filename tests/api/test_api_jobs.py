"""/api/jobs in-process: the submit → poll → fetch flow, idempotency, listing, cancel/delete and
isolation between users."""

from __future__ import annotations

import io
import uuid

import pytest
from PIL import Image
from starlette.testclient import TestClient

from core.domain.models import JobStatus
from core.runtime import Runtime
from tests.api.conftest import ApiUser, wait_for

JOB_FIELDS = {
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
}


def submit(client: TestClient, who: ApiUser, **body: object) -> dict:
    payload = {"provider": "demo", "type": "image", "prompt": "a red kite", **body}
    response = client.post("/api/jobs", json=payload, headers=who.headers)
    assert response.status_code == 201, response.text
    return response.json()


def test_submitted_job_is_generated_and_its_result_url_serves_the_image(
    client: TestClient, runtime: Runtime, alice: ApiUser, run_worker
) -> None:
    run_worker()
    created = submit(client, alice, params={"aspect_ratio": "16:9", "quality": "draft"})
    assert created["status"] == "queued" and set(created) == {"id", "status"}
    assert uuid.UUID(created["id"])

    wait_for(runtime, created["id"], {JobStatus.DONE})
    job = client.get("/api/jobs", params={"id": created["id"]}, headers=alice.headers).json()

    assert set(job) >= JOB_FIELDS
    assert job["status"] == "done" and job["error"] is None and job["attempts"] == 1
    assert job["params"] == {"aspect_ratio": "16:9", "quality": "draft"}
    assert job["created_at"].endswith("Z") and job["finished_at"] >= job["started_at"]
    assert job["result_url"].startswith("/api/files/")  # no PUBLIC_URL: relative

    image = client.get(job["result_url"])  # no token: the signature is the credential
    assert image.status_code == 200
    assert image.headers["content-type"] == "image/png"
    assert image.headers["x-content-type-options"] == "nosniff"
    cache = image.headers["cache-control"]
    assert cache.startswith("private, max-age=")
    assert 0 < int(cache.split("=")[1]) <= runtime.settings.signed_url_ttl
    picture = Image.open(io.BytesIO(image.content))
    assert picture.size[0] > picture.size[1]  # 16:9


def test_created_jobs_have_a_location_and_no_json_answer_is_cached(
    client: TestClient, alice: ApiUser
) -> None:
    response = client.post(
        "/api/jobs", json={"provider": "demo", "prompt": "a kite"}, headers=alice.headers
    )
    assert response.status_code == 201
    assert response.headers["location"] == f"/api/jobs?id={response.json()['id']}"
    one = client.get(response.headers["location"], headers=alice.headers)
    assert one.json()["id"] == response.json()["id"]
    for answer in (response, one, client.get("/api/jobs", headers=alice.headers)):
        assert answer.headers["cache-control"] == "no-store"
        assert answer.headers["content-type"] == "application/json"


def test_a_queued_job_has_no_result_url_yet(client: TestClient, alice: ApiUser) -> None:
    job_id = submit(client, alice)["id"]
    job = client.get("/api/jobs", params={"id": job_id}, headers=alice.headers).json()
    assert job["status"] == "queued" and job["result_url"] is None
    assert job["started_at"] is None and job["finished_at"] is None


def test_a_failed_job_reports_the_providers_reason(
    client: TestClient, runtime: Runtime, alice: ApiUser, run_worker
) -> None:
    run_worker()
    job_id = submit(client, alice, prompt="a kite [fail:safety]")["id"]
    wait_for(runtime, job_id, {JobStatus.FAILED})
    job = client.get("/api/jobs", params={"id": job_id}, headers=alice.headers).json()
    assert job["status"] == "failed" and job["result_url"] is None
    assert job["error"]["code"] and "blocked" in job["error"]["message"]


def test_count_queues_a_batch_and_returns_every_id(
    client: TestClient, runtime: Runtime, alice: ApiUser
) -> None:
    created = submit(client, alice, count=3)
    assert len(created["ids"]) == 3 and created["id"] == created["ids"][0]
    jobs = [runtime.backend.jobs.get_job(i) for i in created["ids"]]
    assert {job.batch_id for job in jobs} == {created["batch_id"]}
    assert all(job.status is JobStatus.QUEUED for job in jobs)


def test_a_repeated_idempotency_key_returns_the_first_jobs(
    client: TestClient, runtime: Runtime, alice: ApiUser
) -> None:
    headers = {**alice.headers, "Idempotency-Key": "order-17"}
    body = {"provider": "demo", "prompt": "a red kite", "count": 2}
    first = client.post("/api/jobs", json=body, headers=headers)
    again = client.post("/api/jobs", json=body, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.json()["ids"] == first.json()["ids"]
    listed = client.get("/api/jobs", headers=alice.headers).json()["items"]
    assert len(listed) == 2


@pytest.mark.parametrize(
    "change",
    [{"prompt": "two"}, {"params": {"seed": 7}}, {"count": 2}, {"model": "demo-poster"}],
)
def test_an_idempotency_key_reused_for_another_request_is_refused(
    client: TestClient, alice: ApiUser, change: dict
) -> None:
    headers = {**alice.headers, "Idempotency-Key": "k1"}
    body = {"provider": "demo", "prompt": "one", "params": {"seed": 1}}
    assert client.post("/api/jobs", json=body, headers=headers).status_code == 201
    other = client.post("/api/jobs", json={**body, **change}, headers=headers)
    assert other.status_code == 409
    assert other.json()["error"]["code"] == "conflict"
    assert len(client.get("/api/jobs", headers=alice.headers).json()["items"]) == 1
    replay = client.post("/api/jobs", json={**body, "prompt": " one "}, headers=headers)
    assert replay.status_code == 201


def test_idempotency_keys_are_per_user(client: TestClient, alice: ApiUser, bob: ApiUser) -> None:
    body = {"provider": "demo", "prompt": "same"}
    a = client.post("/api/jobs", json=body, headers={**alice.headers, "Idempotency-Key": "k"})
    b = client.post("/api/jobs", json=body, headers={**bob.headers, "Idempotency-Key": "k"})
    assert a.json()["id"] != b.json()["id"]


def test_listing_pages_through_own_jobs_newest_first(
    client: TestClient, alice: ApiUser, bob: ApiUser
) -> None:
    mine = [submit(client, alice, prompt=f"kite {i}")["id"] for i in range(5)]
    submit(client, bob)
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = client.get("/api/jobs", params=params, headers=alice.headers).json()
        assert len(page["items"]) <= 2
        seen += [item["id"] for item in page["items"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == list(reversed(mine))
    assert pages == 3


def test_listing_filters_by_status_and_provider(client: TestClient, alice: ApiUser) -> None:
    ids = [submit(client, alice)["id"] for _ in range(3)]
    client.delete("/api/jobs", params={"id": ids[0]}, headers=alice.headers)

    def listed(**params: str) -> list[str]:
        response = client.get("/api/jobs", params=params, headers=alice.headers)
        assert response.status_code == 200, response.text
        return [item["id"] for item in response.json()["items"]]

    assert listed(status="canceled") == [ids[0]]
    assert set(listed(status="queued,canceled")) == set(ids)
    assert set(listed(provider="demo", status="queued")) == set(ids[1:])
    assert listed(provider="openai") == []


def test_delete_cancels_a_queued_job_then_deletes_it(
    client: TestClient, runtime: Runtime, alice: ApiUser
) -> None:
    job_id = submit(client, alice)["id"]
    first = client.delete("/api/jobs", params={"id": job_id}, headers=alice.headers)
    assert first.status_code == 200
    assert first.json() == {"id": job_id, "status": "canceled", "deleted": False}
    assert runtime.backend.jobs.get_job(job_id).status is JobStatus.CANCELED

    second = client.delete("/api/jobs", params={"id": job_id}, headers=alice.headers)
    assert second.json() == {"id": job_id, "status": "canceled", "deleted": True}
    assert runtime.backend.jobs.get_job(job_id) is None
    gone = client.get("/api/jobs", params={"id": job_id}, headers=alice.headers)
    assert gone.status_code == 404


def test_deleting_a_done_job_removes_its_files_and_link(
    client: TestClient, runtime: Runtime, alice: ApiUser, run_worker
) -> None:
    run_worker()
    job_id = submit(client, alice)["id"]
    done = wait_for(runtime, job_id, {JobStatus.DONE})
    url = client.get("/api/jobs", params={"id": job_id}, headers=alice.headers).json()["result_url"]
    assert runtime.backend.blobs.size(done.result_path)

    response = client.delete("/api/jobs", params={"id": job_id}, headers=alice.headers)
    assert response.json() == {"id": job_id, "status": "done", "deleted": True}
    assert runtime.backend.blobs.size(done.result_path) is None
    assert done.thumb_path is None or runtime.backend.blobs.size(done.thumb_path) is None
    assert client.get(url).status_code == 404


def test_an_admins_delete_of_another_users_queued_job_cancels_it_first(
    client: TestClient, runtime: Runtime, make_user
) -> None:
    admin = make_user("admin@example.com")  # the first account is the admin
    owner = make_user("owner@example.com")
    assert admin.user.is_admin and not owner.user.is_admin
    job_id = submit(client, owner)["id"]

    first = client.delete("/api/jobs", params={"id": job_id}, headers=admin.headers)
    assert first.json() == {"id": job_id, "status": "canceled", "deleted": False}
    assert runtime.backend.jobs.get_job(job_id).status is JobStatus.CANCELED
    second = client.delete("/api/jobs", params={"id": job_id}, headers=admin.headers)
    assert second.json() == {"id": job_id, "status": "canceled", "deleted": True}
    assert runtime.backend.jobs.get_job(job_id) is None


def test_a_job_being_generated_cannot_be_deleted(
    client: TestClient, runtime: Runtime, alice: ApiUser
) -> None:
    job_id = submit(client, alice)["id"]
    claimed = runtime.backend.jobs.claim("test-worker", 60, 3)
    assert claimed is not None and claimed.id == job_id
    response = client.delete("/api/jobs", params={"id": job_id}, headers=alice.headers)
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "conflict"
    assert runtime.backend.jobs.get_job(job_id).status is JobStatus.PROCESSING


def test_another_users_job_is_indistinguishable_from_a_missing_one(
    client: TestClient, runtime: Runtime, alice: ApiUser, bob: ApiUser
) -> None:
    job_id = submit(client, alice)["id"]
    missing = str(uuid.uuid4())
    for method in ("GET", "DELETE"):
        theirs = client.request(method, "/api/jobs", params={"id": job_id}, headers=bob.headers)
        unknown = client.request(method, "/api/jobs", params={"id": missing}, headers=bob.headers)
        assert theirs.status_code == unknown.status_code == 404
        assert theirs.json() == unknown.json()
    assert client.get("/api/jobs", headers=bob.headers).json()["items"] == []
    assert runtime.backend.jobs.get_job(job_id).status is JobStatus.QUEUED


def test_a_revoked_token_stops_working(
    client: TestClient, runtime: Runtime, alice: ApiUser
) -> None:
    assert client.get("/api/jobs", headers=alice.headers).status_code == 200
    token = runtime.services.accounts.list_api_tokens(alice.user)[0]
    assert token.last_used_at is not None
    runtime.services.accounts.revoke_api_token(alice.user, token.id)
    response = client.get("/api/jobs", headers=alice.headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")


def test_a_disabled_users_token_stops_working(
    client: TestClient, runtime: Runtime, alice: ApiUser, bob: ApiUser
) -> None:
    # alice, the first account, is the only admin and cannot be disabled
    runtime.backend.accounts.set_disabled(bob.user.id, True)
    assert client.get("/api/jobs", headers=bob.headers).status_code == 401
    assert client.get("/api/jobs", headers=alice.headers).status_code == 200


def test_a_user_whose_account_row_is_gone_cannot_submit(
    client: TestClient, runtime: Runtime, alice: ApiUser
) -> None:
    session = runtime.services.accounts.sign_in(
        "alice@example.com", "correct horse battery"
    ).session_token
    conn = runtime.backend.db.conn
    # as `sqlite3 studio.db "DELETE FROM users ..."` would: without foreign keys, so the
    # account's sessions and API tokens stay behind
    conn.execute("PRAGMA foreign_keys = OFF")
    try:
        conn.execute("DELETE FROM users WHERE id = ?", (alice.user.id,))
    finally:
        conn.execute("PRAGMA foreign_keys = ON")
    assert conn.execute("SELECT COUNT(*) FROM api_tokens").fetchone()[0] == 1
    assert conn.execute("SELECT COUNT(*) FROM sessions").fetchone()[0] >= 1

    body = {"provider": "demo", "type": "image", "prompt": "a red kite"}
    response = client.post("/api/jobs", json=body, headers=alice.headers)

    assert response.status_code == 401
    assert runtime.services.accounts.user_for_session(session) is None
    assert conn.execute("SELECT COUNT(*) FROM jobs").fetchone()[0] == 0


def test_health_needs_no_token_and_reports_the_queue(client: TestClient, alice: ApiUser) -> None:
    submit(client, alice)
    health = client.get("/api/health")
    assert health.status_code == 200
    body = health.json()
    assert body["backend"] == "local" and body["queue"]["queued"] == 1
    assert body["worker"] == {"alive": False}


def test_health_reports_a_running_worker(client: TestClient, run_worker) -> None:
    run_worker()
    assert client.get("/api/health").json()["worker"] == {"alive": True}
