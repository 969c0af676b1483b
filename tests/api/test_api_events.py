"""Server-Sent Events: a job's stream (history, then changes, closing after the terminal
state), the caller's stream, Last-Event-ID resume without gaps, bounds (bad header, caps per
user and per server: 429), auth and privacy."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from starlette.testclient import TestClient

from core.domain.errors import RateLimited
from core.domain.models import JobStatus
from core.domain.webhooks import WebhookConfig
from core.runtime import Runtime
from core.web.events import SLOTS, StreamSlots
from tests.api.conftest import ApiUser, wait_for

Event = dict[str, str]


def parse(text: str) -> list[Event]:
    """The events of an SSE body (comments skipped)."""
    events: list[Event] = []
    for block in text.split("\n\n"):
        fields: Event = {}
        for line in block.split("\n"):
            if line and not line.startswith(":"):
                name, _, value = line.partition(": ")
                fields[name] = value
        if "event" in fields:
            events.append(fields)
    return events


def _job(client: TestClient, who: ApiUser) -> str:
    response = client.post(
        "/api/jobs", json={"provider": "demo", "prompt": "a kite"}, headers=who.headers
    )
    assert response.status_code == 201
    return response.json()["id"]


@pytest.fixture
def done_job(
    client: TestClient, runtime: Runtime, alice: ApiUser, run_worker: Callable[[], None]
) -> str:
    run_worker()
    job_id = _job(client, alice)
    wait_for(runtime, job_id, {JobStatus.DONE})
    return job_id


def test_a_jobs_stream_replays_its_history_and_ends_after_the_terminal_state(
    client: TestClient, alice: ApiUser, done_job: str
) -> None:
    response = client.get(f"/api/jobs/{done_job}/events", headers=alice.headers)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "strict-transport-security" in response.headers
    events = parse(response.text)
    assert [e["event"] for e in events] == ["job.queued", "job.started", "job.succeeded"]
    ids = [int(e["id"]) for e in events]
    assert ids == sorted(ids)
    assert '"status":"done"' in events[-1]["data"] and done_job in events[-1]["data"]
    assert response.text.startswith("retry: 1000\n")


def test_last_event_id_resumes_exactly_after_it(
    client: TestClient, alice: ApiUser, done_job: str
) -> None:
    full = parse(client.get(f"/api/jobs/{done_job}/events", headers=alice.headers).text)
    for cut in range(len(full)):
        resumed = client.get(
            f"/api/jobs/{done_job}/events",
            headers={**alice.headers, "Last-Event-ID": full[cut]["id"]},
        )
        assert parse(resumed.text) == full[cut + 1 :] or (
            cut == len(full) - 1 and parse(resumed.text) == []
        )


def test_the_callers_stream_resumes_across_jobs_without_gaps(
    client: TestClient, runtime: Runtime, alice: ApiUser, bob: ApiUser, done_job: str
) -> None:
    # without Last-Event-ID it starts from now: nothing old within its one second
    assert parse(client.get("/api/events", headers=alice.headers).text) == []
    second = _job(client, alice)
    _job(client, bob)  # someone else's job never shows
    wait_for(runtime, second, {JobStatus.DONE})
    everything = parse(
        client.get("/api/events", headers={**alice.headers, "Last-Event-ID": "0"}).text
    )
    assert [e["event"] for e in everything] == ["job.queued", "job.started", "job.succeeded"] * 2
    assert {e["data"].split('"id":"')[1][:36] for e in everything} == {done_job, second}
    middle = everything[2]["id"]
    rest = parse(client.get("/api/events", headers={**alice.headers, "Last-Event-ID": middle}).text)
    assert rest == everything[3:]


def test_another_users_job_stream_is_404(client: TestClient, bob: ApiUser, done_job: str) -> None:
    response = client.get(f"/api/jobs/{done_job}/events", headers=bob.headers)
    assert response.status_code == 404
    assert client.get("/api/jobs/not-a-uuid/events", headers=bob.headers).status_code == 404


@pytest.mark.parametrize("value", ["abc", "-1", "1.5", "9" * 19, "\u0661\u0662".encode(), "0x10"])
def test_a_bad_last_event_id_is_refused(
    client: TestClient, alice: ApiUser, value: str | bytes
) -> None:
    response = client.get("/api/events", headers={**alice.headers, "Last-Event-ID": value})
    assert response.status_code in (400, 422)
    assert set(response.json()) == {"error"}


def test_streams_need_a_token(client: TestClient) -> None:
    assert client.get("/api/events").status_code == 401
    assert client.get("/api/events", headers={"Authorization": "Bearer nope"}).status_code == 401


@pytest.fixture
def slots() -> Iterator[None]:
    yield
    assert SLOTS.open == 0  # every stream gave its slot back


def test_past_the_per_user_cap_a_stream_is_429_and_slots_come_back(
    client: TestClient, alice: ApiUser, bob: ApiUser, slots: None
) -> None:
    config = WebhookConfig()
    for _ in range(config.streams_per_user):
        SLOTS.take(alice.user.id, config)
    try:
        refused = client.get("/api/events", headers=alice.headers)
        assert refused.status_code == 429 and "retry-after" in refused.headers
        assert client.get("/api/events", headers=bob.headers).status_code == 200
    finally:
        for _ in range(config.streams_per_user):
            SLOTS.give_back(alice.user.id)
    assert client.get("/api/events", headers=alice.headers).status_code == 200


def test_the_server_cap_counts_every_user() -> None:
    slots = StreamSlots()
    config = WebhookConfig(streams_per_user=2, streams_max=3)
    slots.take("a", config)
    slots.take("a", config)
    with pytest.raises(RateLimited):
        slots.take("a", config)
    slots.take("b", config)
    with pytest.raises(RateLimited, match="server"):
        slots.take("c", config)
    slots.give_back("a")
    slots.take("c", config)
    assert slots.open == 3


def test_the_streams_are_documented(client: TestClient) -> None:
    paths = client.get("/api/openapi.json").json()["paths"]
    for path in ("/api/events", "/api/jobs/{job_id}/events"):
        ok = paths[path]["get"]["responses"]["200"]
        assert "text/event-stream" in ok["content"]
        assert "429" in paths[path]["get"]["responses"]
