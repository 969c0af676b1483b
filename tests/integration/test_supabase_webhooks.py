"""Webhooks in Supabase mode: the same dispatcher, through the gateway, on real PostgreSQL:
signed deliveries of a job's lifecycle reach a local receiver (verified with
`standardwebhooks`), through a 500 and a dispatcher restart, and the delivery log and resend
work through PostgREST."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from core.domain.models import JobRequest
from core.domain.settings import Settings
from core.domain.webhooks import DeliveryStatus, WebhookConfig
from core.ports import Backend
from core.providers.demo import DemoProvider
from core.queue.webhooks import WebhookDispatcher
from core.queue.worker import Worker
from core.services import build_services
from tests.constants import PASSWORD
from tests.fakes.webhook_receiver import Reply, WebhookReceiver
from tests.integration.supabase_factory import make_supabase_backend

LIFECYCLE = ["job.queued", "job.started", "job.succeeded"]


@pytest.fixture
def hooks_settings(settings: Settings) -> Settings:
    return replace(settings, secret_key="k" * 40).with_variables(
        WEBHOOK_ALLOW_HOSTS="127.0.0.1",
        WEBHOOK_RETRY_BASE_SECONDS="0.05",
        WEBHOOK_POLL_SECONDS="0.05",
        # A graceful stop leaves no lease behind, so none has to run out here; a short lease
        # would let a slow send on a busy machine be claimed and sent twice.
        WEBHOOK_LEASE_SECONDS="60",
    )


@pytest.fixture
def backend(hooks_settings: Settings, tmp_path: Path) -> Iterator[Backend]:
    yield from make_supabase_backend(hooks_settings, tmp_path)


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    rec = WebhookReceiver()
    yield rec
    rec.close()


def _wait(condition: Callable[[], bool], timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


def test_a_lifecycle_is_delivered_signed_through_a_500_and_a_restart(
    backend: Backend, hooks_settings: Settings, receiver: WebhookReceiver
) -> None:
    assert backend.webhooks is not None
    backend.accounts.sign_up("admin@example.com", PASSWORD, admin_emails=frozenset())
    ann = backend.accounts.sign_up("ann@example.com", PASSWORD, admin_emails=frozenset()).user
    services = build_services(backend, {"demo": DemoProvider()}, hooks_settings)
    created = services.webhooks.create_endpoint(ann, receiver.url, ["*"])
    receiver.secret = created.secret
    receiver.reply(Reply(500))
    config = WebhookConfig.from_settings(hooks_settings)
    first = WebhookDispatcher(backend.webhooks, config)
    first.start()
    worker = Worker(backend, services.jobs.providers, hooks_settings)
    worker.start()
    try:
        [job] = services.jobs.submit(
            ann, JobRequest(provider="demo", model="demo-pattern", prompt="a fox")
        )
        receiver.wait_for(1)
        first.stop(1)  # the process stops after the first (failed) attempt
        second = WebhookDispatcher(backend.webhooks, config)
        second.start()
        try:
            _wait(lambda: len({r.webhook_id for r in receiver.acknowledged()}) == 3)
        finally:
            second.stop(1)
    finally:
        worker.stop(0)
    acknowledged = receiver.acknowledged()
    assert all(r.verified for r in receiver.received)
    assert sorted(r.body["type"] for r in acknowledged) == sorted(LIFECYCLE)
    assert {r.body["data"]["id"] for r in acknowledged} == {job.id}
    log = services.webhooks.deliveries(ann)
    assert {d.status for d in log} == {DeliveryStatus.DELIVERED}
    retried = [d for d in log if d.attempts == 2]
    assert len(retried) == 1 and retried[0].last_status_code == 204
    again = services.webhooks.resend(ann, log[0].id)
    assert again.status is DeliveryStatus.PENDING and again.attempts == 0
    events = services.webhooks.events_after(ann, 0, job_id=job.id)
    assert [e.event for e in events] == LIFECYCLE
    assert services.webhooks.last_event_seq(ann) == events[-1].seq
