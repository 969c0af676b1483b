"""Push against the real server (`streamlit run app.py`, demo provider, its own worker and
webhook dispatcher): an event stream over real HTTP with keep-alives, a reconnect with
Last-Event-ID that misses nothing, and a signed webhook to a local receiver."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from tests.api.conftest import cli
from tests.fakes.webhook_receiver import WebhookReceiver
from tests.live_server import LiveServer, launch_live_server

LIFECYCLE = ["job.queued", "job.started", "job.succeeded"]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    base = tmp_path_factory.mktemp("live-events")
    live = launch_live_server(
        base / "data",
        env={
            "DEMO_LATENCY_MS": "200",
            "EVENT_KEEPALIVE_SECONDS": "0.5",
            "WEBHOOK_ALLOW_HOSTS": "127.0.0.1",
            "WEBHOOK_POLL_SECONDS": "0.1",
        },
        log_path=base / "server.log",
    )
    yield live
    live.stop()


@pytest.fixture(scope="module")
def api(server: LiveServer) -> Iterator[httpx.Client]:
    added = cli(server.data_dir, "users", "add", "--email", "sse@example.com",
                "--password", "long enough")  # fmt: skip
    assert added.returncode == 0, added.stderr
    out = cli(server.data_dir, "tokens", "create", "--email", "sse@example.com").stdout
    token = out.split()[-1]
    with httpx.Client(
        base_url=server.url, headers={"Authorization": f"Bearer {token}"}, timeout=20
    ) as client:
        yield client


def read_events(lines: Iterator[str], count: int, seen_comments: list[str]) -> list[dict]:
    events: list[dict] = []
    current: dict = {}
    for line in lines:
        if line.startswith(":"):
            seen_comments.append(line)
        elif not line:
            if "event" in current:
                events.append(current)
                if len(events) == count:
                    return events
            current = {}
        else:
            name, _, value = line.partition(": ")
            current[name] = value
    return events


def submit(api: httpx.Client, prompt: str) -> str:
    response = api.post("/api/jobs", json={"provider": "demo", "prompt": prompt})
    assert response.status_code == 201, response.text
    return response.json()["id"]


def test_a_live_stream_keeps_alive_and_resumes_without_gaps(api: httpx.Client) -> None:
    comments: list[str] = []
    with api.stream("GET", "/api/events") as stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        assert stream.headers["x-content-type-options"] == "nosniff"
        lines = stream.iter_lines()
        assert next(lines) == "retry: 1000"
        deadline = time.monotonic() + 10
        while not any("keep-alive" in c for c in comments):  # idle: a keep-alive comes
            line = next(lines)
            if line.startswith(":"):
                comments.append(line)
            assert time.monotonic() < deadline
        first = submit(api, "one")
        events = read_events(lines, 3, comments)
    assert [e["event"] for e in events] == LIFECYCLE
    assert all(first in e["data"] for e in events)
    # disconnected: two more jobs happen meanwhile
    second, third = submit(api, "two"), submit(api, "three")
    for job_id in (second, third):
        while api.get("/api/jobs", params={"id": job_id}).json()["status"] != "done":
            time.sleep(0.1)
    with api.stream("GET", "/api/events", headers={"Last-Event-ID": events[-1]["id"]}) as again:
        missed = read_events(again.iter_lines(), 6, comments)
    assert sorted(e["event"] for e in missed) == sorted(LIFECYCLE * 2)
    assert {e["data"].split('"id":"')[1][:36] for e in missed} == {second, third}
    ids = [int(e["id"]) for e in [*events, *missed]]
    assert ids == sorted(ids) and len(set(ids)) == 9


def test_a_job_stream_ends_with_the_job(api: httpx.Client) -> None:
    job_id = submit(api, "a kite")
    with api.stream("GET", f"/api/jobs/{job_id}/events") as stream:
        body = "".join(stream.iter_text())  # returns: the server closed it after job.succeeded
    assert body.count("event: ") == 3 and "event: job.succeeded" in body


def test_the_worker_sends_a_signed_webhook(api: httpx.Client) -> None:
    receiver = WebhookReceiver()
    try:
        created = api.post("/api/webhooks", json={"url": receiver.url, "events": ["job.succeeded"]})
        assert created.status_code == 201, created.text
        receiver.secret = created.json()["secret"]
        job_id = submit(api, "a heron")
        # (an event of an earlier test's job, fanned out just after the endpoint was added, may
        # arrive first, before the test knew the secret)
        deadline = time.monotonic() + 30
        while not (mine := [r for r in receiver.received if r.body["data"]["id"] == job_id]):
            assert time.monotonic() < deadline, "no delivery for the job"
            time.sleep(0.05)
        assert mine[0].verified and mine[0].body["type"] == "job.succeeded"
        log = api.get("/api/webhooks/deliveries").json()["items"]
        assert mine[0].webhook_id in {d["id"] for d in log}
    finally:
        receiver.close()
