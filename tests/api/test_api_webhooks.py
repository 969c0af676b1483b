"""The webhook API: register, list, delete, the delivery log and resend, the per-job
webhook_url and secret, their bounds and privacy, and a delivery verified end to end."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace

import pytest
from starlette.testclient import TestClient

from core.domain.settings import Settings
from core.runtime import Runtime
from tests.api.conftest import ApiUser
from tests.fakes.webhook_receiver import WebhookReceiver


@pytest.fixture
def api_settings(settings: Settings) -> Settings:
    return replace(settings, worker_enabled=False, rate_limit_per_minute=1000).with_variables(
        WEBHOOK_ALLOW_HOSTS="127.0.0.1", WEBHOOK_POLL_SECONDS="0.05"
    )


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    rec = WebhookReceiver()
    yield rec
    rec.close()


def _create(client: TestClient, who: ApiUser, url: str, events: object = ("*",)) -> dict:
    response = client.post(
        "/api/webhooks",
        json={"url": url, "events": list(events)},
        headers=who.headers,  # type: ignore[call-overload]
    )
    assert response.status_code == 201, response.text
    return response.json()


def test_register_list_and_delete(
    client: TestClient, alice: ApiUser, bob: ApiUser, receiver: WebhookReceiver
) -> None:
    created = _create(client, alice, receiver.url, ["job.succeeded"])
    assert created["secret"].startswith("whsec_") and created["events"] == ["job.succeeded"]
    listed = client.get("/api/webhooks", headers=alice.headers).json()["items"]
    assert [e["id"] for e in listed] == [created["id"]]
    assert "secret" not in listed[0]
    assert client.get("/api/webhooks", headers=bob.headers).json()["items"] == []
    gone = client.delete(f"/api/webhooks?id={created['id']}", headers=bob.headers)
    assert gone.status_code == 404
    ok = client.delete(f"/api/webhooks?id={created['id']}", headers=alice.headers)
    assert ok.json() == {"id": created["id"], "deleted": True}
    assert client.get("/api/webhooks", headers=alice.headers).json()["items"] == []


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"url": "http://127.0.0.2/x"}, 422),
        ({"url": "https://169.254.169.254/latest"}, 422),
        ({"url": "https://[::1]/x"}, 422),
        ({"url": "https://10.0.0.1/x"}, 422),
        ({"url": "http://example.com/x"}, 422),
        ({"url": "https://example.com/" + "x" * 2100}, 422),
        ({"url": 12}, 400),
        ({"url": "https://example.com", "events": ["job.exploded"]}, 422),
        ({"url": "https://example.com", "events": []}, 422),
        ({"url": "https://example.com", "events": "job.queued"}, 400),
        ({"url": "https://example.com", "secret": "mine"}, 422),
    ],
)
def test_bad_endpoints_are_refused_and_nothing_is_stored(
    client: TestClient, alice: ApiUser, body: dict, status: int
) -> None:
    response = client.post("/api/webhooks", json=body, headers=alice.headers)
    assert response.status_code == status, response.text
    assert set(response.json()) == {"error"}
    assert client.get("/api/webhooks", headers=alice.headers).json()["items"] == []


def test_webhook_routes_need_a_token(client: TestClient) -> None:
    for method, path in [
        ("GET", "/api/webhooks"),
        ("POST", "/api/webhooks"),
        ("GET", "/api/webhooks/deliveries"),
        ("POST", "/api/webhooks/secret"),
        ("POST", "/api/webhooks/deliveries/msg_x/resend"),
    ]:
        assert client.request(method, path, json={}).status_code == 401


def test_a_delivery_is_logged_and_resent(
    client: TestClient,
    runtime: Runtime,
    alice: ApiUser,
    bob: ApiUser,
    receiver: WebhookReceiver,
    run_worker: Callable[[], None],
) -> None:
    receiver.secret = _create(client, alice, receiver.url, ["job.succeeded"])["secret"]
    run_worker()
    job = client.post(
        "/api/jobs", json={"provider": "demo", "prompt": "a fox"}, headers=alice.headers
    )
    assert job.status_code == 201
    [first] = receiver.wait_for(1, timeout=20)
    assert first.verified and first.body["data"]["id"] == job.json()["id"]
    log = client.get("/api/webhooks/deliveries", headers=alice.headers).json()["items"]
    assert [d["id"] for d in log] == [first.webhook_id]
    assert client.get("/api/webhooks/deliveries", headers=bob.headers).json()["items"] == []
    path = f"/api/webhooks/deliveries/{first.webhook_id}/resend"
    assert client.post(path, headers=bob.headers).status_code == 404
    again = client.post(path, headers=alice.headers)
    assert again.status_code == 200 and again.json()["status"] == "pending"
    second = receiver.wait_for(2)[1]
    assert second.webhook_id == first.webhook_id and second.verified


def test_a_jobs_webhook_url_needs_the_per_job_secret(
    client: TestClient, alice: ApiUser, receiver: WebhookReceiver, run_worker: Callable[[], None]
) -> None:
    body = {"provider": "demo", "prompt": "a fox", "webhook_url": receiver.url}
    refused = client.post("/api/jobs", json=body, headers=alice.headers)
    assert refused.status_code == 422 and "secret" in refused.json()["error"]["message"]
    assert client.get("/api/jobs", headers=alice.headers).json()["items"] == []
    secret = client.post("/api/webhooks/secret", headers=alice.headers).json()["secret"]
    assert secret.startswith("whsec_")
    receiver.secret = secret
    bad = client.post(
        "/api/jobs", json={**body, "webhook_url": "https://10.1.1.1/"}, headers=alice.headers
    )
    assert bad.status_code == 422
    run_worker()
    created = client.post("/api/jobs", json=body, headers=alice.headers)
    assert created.status_code == 201
    received = receiver.wait_for(3, timeout=20)
    assert all(r.verified for r in received)
    assert {r.body["type"] for r in received} == {"job.queued", "job.started", "job.succeeded"}


def test_the_webhook_routes_are_documented(client: TestClient) -> None:
    paths = client.get("/api/openapi.json").json()["paths"]
    assert {"post", "get", "delete"} <= set(paths["/api/webhooks"])
    assert "get" in paths["/api/webhooks/deliveries"]
    assert "post" in paths["/api/webhooks/deliveries/{delivery_id}/resend"]
    assert "post" in paths["/api/webhooks/secret"]
