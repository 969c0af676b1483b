"""Webhooks end to end on the local backend: the outbox written with each state change, the
dispatcher sending to a local receiver that verifies signatures with `standardwebhooks`,
retries through 500s, timeouts and Retry-After, a 410, and a crash mid-delivery."""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from core.domain.errors import NotFound, RateLimited, ValidationError
from core.domain.models import JobRequest, JobStatus
from core.domain.settings import Settings
from core.domain.webhooks import (
    MAX_ATTEMPTS,
    RETRY_AFTER_CAP_SECONDS,
    DeliveryStatus,
    WebhookConfig,
    retry_delay,
)
from core.ports import WebhookStore
from core.queue.webhooks import WebhookDispatcher, WebhookSender
from tests.fakes.webhook_receiver import Reply, WebhookReceiver
from tests.unit.conftest import Studio, make_studio, wait_until

LIFECYCLE = ["job.queued", "job.started", "job.succeeded"]


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    rec = WebhookReceiver()
    yield rec
    rec.close()


@pytest.fixture
def hooks_settings(settings: Settings) -> Settings:
    return replace(settings, rate_limit_per_minute=120).with_variables(
        WEBHOOK_ALLOW_HOSTS="127.0.0.1",
        WEBHOOK_RETRY_BASE_SECONDS="0.05",
        WEBHOOK_POLL_SECONDS="0.02",
        WEBHOOK_TIMEOUT_SECONDS="0.5",
        WEBHOOK_LEASE_SECONDS="1",
    )


@pytest.fixture
def studio(hooks_settings: Settings) -> Iterator[Studio]:
    with make_studio(hooks_settings) as studio:
        yield studio


@pytest.fixture
def store(studio: Studio) -> WebhookStore:
    assert studio.backend.webhooks is not None
    return studio.backend.webhooks


@pytest.fixture
def dispatchers(studio: Studio) -> Iterator[list[WebhookDispatcher]]:
    running: list[WebhookDispatcher] = []
    yield running
    for dispatcher in running:
        dispatcher.stop(1)


def start_dispatcher(studio: Studio, running: list[WebhookDispatcher]) -> WebhookDispatcher:
    assert studio.backend.webhooks is not None
    dispatcher = WebhookDispatcher(
        studio.backend.webhooks, WebhookConfig.from_settings(studio.settings)
    )
    dispatcher.start()
    running.append(dispatcher)
    return dispatcher


def register(studio: Studio, receiver: WebhookReceiver, events: list[str] | None = None) -> str:
    created = studio.services.webhooks.create_endpoint(studio.alice, receiver.url, events or ["*"])
    assert created.secret.startswith("whsec_")
    receiver.secret = created.secret
    return created.endpoint.id


def by_event(received: list, event: str) -> list:  # type: ignore[type-arg]
    return [r for r in received if r.body["type"] == event]


# ---- the outbox ------------------------------------------------------------------------------


def test_every_state_change_is_logged_in_the_same_transaction(studio: Studio) -> None:
    studio.worker()
    job = studio.submit()
    studio.wait_for([job.id])
    events = studio.services.webhooks.events_after(studio.alice, 0, job_id=job.id)
    assert [e.event for e in events] == LIFECYCLE
    assert [e.seq for e in events] == sorted(e.seq for e in events)


def test_a_refused_submission_logs_no_event(studio: Studio) -> None:
    limited = replace(studio.services.jobs.settings, rate_limit_per_minute=1)
    studio.services.jobs.settings = limited
    studio.submit()
    with pytest.raises(RateLimited):
        studio.submit()
    assert len(studio.services.webhooks.events_after(studio.alice, 0)) == 1


def test_a_job_claimed_again_after_its_lease_ran_out_starts_again(
    studio: Studio, store: WebhookStore
) -> None:
    job = studio.submit()
    jobs = studio.backend.jobs
    assert jobs.claim("dead-worker", 0.01, 3) is not None
    wait_until(lambda: jobs.claim("live-worker", 30, 3) is not None)
    events = store.events_after(studio.alice.id, 0, job_id=job.id)
    assert [e.event for e in events] == ["job.queued", "job.started", "job.started"]


# ---- delivery ----------------------------------------------------------------------------------


def test_a_job_lifecycle_arrives_signed_in_order(
    studio: Studio, receiver: WebhookReceiver, dispatchers: list[WebhookDispatcher]
) -> None:
    register(studio, receiver)
    start_dispatcher(studio, dispatchers)
    studio.worker()
    job = studio.submit()
    received = receiver.wait_for(3)
    assert all(r.verified for r in received)
    assert sorted(r.body["type"] for r in received) == sorted(LIFECYCLE)
    assert {r.body["data"]["id"] for r in received} == {job.id}
    done = by_event(received, "job.succeeded")[0].body["data"]
    assert done["status"] == "done" and done["prompt"] == "a lighthouse"
    assert "lease_owner" not in done and "review_note" not in done
    assert len({r.webhook_id for r in received}) == 3
    assert all(r.headers["webhook-id"].startswith("msg_") for r in received)


def test_the_event_filter_is_honoured(
    studio: Studio, receiver: WebhookReceiver, dispatchers: list[WebhookDispatcher]
) -> None:
    register(studio, receiver, ["job.succeeded", "job.failed"])
    start_dispatcher(studio, dispatchers)
    studio.worker()
    studio.wait_for([studio.submit().id])
    received = receiver.wait_for(1)
    wait_until(lambda: not studio.backend.webhooks.claim_deliveries("peek", 0, 0))  # type: ignore[union-attr]
    assert [r.body["type"] for r in received] == ["job.succeeded"]


def test_500s_and_timeouts_are_retried_until_acknowledged_with_the_same_webhook_id(
    studio: Studio,
    receiver: WebhookReceiver,
    store: WebhookStore,
    dispatchers: list[WebhookDispatcher],
) -> None:
    register(studio, receiver, ["job.queued"])
    receiver.reply(Reply(500), Reply(503), Reply(204, delay=1.0), Reply(204))
    start_dispatcher(studio, dispatchers)
    job = studio.submit()
    received = receiver.wait_for(4, timeout=15)
    assert {r.webhook_id for r in received} == {received[0].webhook_id}  # one delivery
    assert all(r.verified for r in received)
    [delivery] = store.list_deliveries(studio.alice.id)
    wait_until(lambda: store.get_delivery(delivery.id).status is DeliveryStatus.DELIVERED)  # type: ignore[union-attr]
    settled = store.get_delivery(delivery.id)
    assert settled is not None and settled.attempts == 4 and settled.last_status_code == 204
    assert settled.job_id == job.id


def test_retry_after_is_honoured(
    studio: Studio,
    receiver: WebhookReceiver,
    store: WebhookStore,
    dispatchers: list[WebhookDispatcher],
) -> None:
    register(studio, receiver, ["job.queued"])
    receiver.reply(Reply(429, {"retry-after": "120"}))
    start_dispatcher(studio, dispatchers)
    studio.submit()
    receiver.wait_for(1)
    wait_until(lambda: store.list_deliveries(studio.alice.id)[0].last_status_code == 429)
    [delivery] = store.list_deliveries(studio.alice.id)
    wait = (delivery.next_attempt_at - datetime.now(UTC)).total_seconds()
    assert delivery.status is DeliveryStatus.PENDING and 100 < wait <= 121


def test_410_gone_disables_the_endpoint_and_drops_its_pending_deliveries(
    studio: Studio,
    receiver: WebhookReceiver,
    store: WebhookStore,
    dispatchers: list[WebhookDispatcher],
) -> None:
    endpoint_id = register(studio, receiver, ["job.queued"])
    receiver.reply(Reply(410), Reply(410))  # both may be in flight at once
    studio.submit()
    studio.submit()
    store.fan_out()
    start_dispatcher(studio, dispatchers)
    receiver.wait_for(1)
    wait_until(lambda: store.get_endpoint(endpoint_id).disabled_at is not None)  # type: ignore[union-attr]
    wait_until(
        lambda: {d.status for d in store.list_deliveries(studio.alice.id)} == {DeliveryStatus.GONE}
    )
    studio.submit()  # a later event makes no delivery to a disabled endpoint
    wait_until(lambda: store.fan_out() == 0)
    assert len(store.list_deliveries(studio.alice.id)) == 2
    assert len(receiver.received) <= 2
    [endpoint] = studio.services.webhooks.list_endpoints(studio.alice)
    assert endpoint.disabled_reason and "410" in endpoint.disabled_reason


def test_attempts_used_up_mark_the_delivery_failed(
    studio: Studio, receiver: WebhookReceiver, store: WebhookStore
) -> None:
    register(studio, receiver, ["job.queued"])
    config = replace(WebhookConfig.from_settings(studio.settings), max_attempts=2)
    dispatcher = WebhookDispatcher(store, config)
    receiver.reply(Reply(500), Reply(500), Reply(500))
    studio.submit()
    try:
        dispatcher.run_once()
        wait_until(lambda: store.list_deliveries(studio.alice.id)[0].attempts == 1)
        wait_until(lambda: dispatcher.run_once() > 0 or False, timeout=5)
        wait_until(
            lambda: store.list_deliveries(studio.alice.id)[0].status is DeliveryStatus.FAILED
        )
    finally:
        dispatcher.stop(1)
    assert len(receiver.received) == 2


def test_a_stop_leaves_no_delivery_claimed_but_unsent(
    studio: Studio,
    receiver: WebhookReceiver,
    store: WebhookStore,
    dispatchers: list[WebhookDispatcher],
) -> None:
    """A graceful stop (a deploy) while one delivery is being sent: it finishes; the others
    were never claimed, so they count no attempt and the next dispatcher sends them at once,
    not after a lease left behind runs out."""
    settings = studio.settings.with_variables(
        WEBHOOK_THREADS="1", WEBHOOK_LEASE_SECONDS="60", WEBHOOK_TIMEOUT_SECONDS="5"
    )
    config = WebhookConfig.from_settings(settings)
    register(studio, receiver, ["job.queued"])
    receiver.reply(Reply(204, delay=0.5))
    for n in range(3):
        studio.submit(f"picture {n}")
    first = WebhookDispatcher(store, config)
    first.start()
    receiver.wait_for(1)
    first.stop(5)
    sent = [r.webhook_id for r in receiver.received]
    assert len(sent) == 1
    deliveries = store.list_deliveries(studio.alice.id)
    assert {d.id: d.attempts for d in deliveries} == {d.id: sent.count(d.id) for d in deliveries}
    dispatchers.append(second := WebhookDispatcher(store, config))
    second.start()
    assert len({r.webhook_id for r in receiver.wait_for(3, timeout=5)}) == 3


def test_a_crash_mid_delivery_resends_with_the_same_webhook_id(
    studio: Studio,
    receiver: WebhookReceiver,
    store: WebhookStore,
    dispatchers: list[WebhookDispatcher],
) -> None:
    """A dispatcher sends, the receiver acknowledges, the process dies before recording it:
    the lease runs out and the restarted dispatcher sends it again, same webhook-id. Another
    delivery claimed by the dead process and never sent is not lost either."""
    register(studio, receiver, ["job.queued"])
    first, second = studio.submit(), studio.submit()
    store.fan_out()
    claimed = store.claim_deliveries("dead-process", 0.3, 10)
    assert len(claimed) == 2
    sender = WebhookSender(WebhookConfig.from_settings(studio.settings))
    sent = sender.send(claimed[0], store.secret(claimed[0].salt))
    sender.close()
    assert sent.status_code == 204  # acknowledged, then the process died
    start_dispatcher(studio, dispatchers)  # the restart
    received = receiver.wait_for(3)
    assert all(r.verified for r in received)
    ids = [r.webhook_id for r in received]
    assert ids.count(claimed[0].id) == 2 and ids.count(claimed[1].id) == 1
    assert {r.body["data"]["id"] for r in received} == {first.id, second.id}
    wait_until(
        lambda: (
            {d.status for d in store.list_deliveries(studio.alice.id)} == {DeliveryStatus.DELIVERED}
        )
    )
    # the dead process's late answer changes nothing
    assert not store.record_attempt(
        claimed[0].id, "dead-process", status_code=500, error="x", outcome=DeliveryStatus.FAILED
    )


def test_a_worker_restart_mid_lifecycle_loses_no_event(
    studio: Studio, receiver: WebhookReceiver, dispatchers: list[WebhookDispatcher]
) -> None:
    register(studio, receiver)
    receiver.reply(*[Reply(500)] * 3)
    dispatcher = start_dispatcher(studio, dispatchers)
    jobs = [studio.submit(f"picture {n}") for n in range(3)]
    receiver.wait_for(2)
    dispatcher.stop(1)  # the worker process stops (or dies) mid-delivery
    dispatchers.remove(dispatcher)
    studio.worker()
    studio.wait_for([j.id for j in jobs])
    start_dispatcher(studio, dispatchers)  # and comes back
    wait_until(lambda: len({r.webhook_id for r in receiver.acknowledged()}) == 9, timeout=15)
    acknowledged = receiver.acknowledged()
    per_job = {j.id: sorted(r.body["type"] for r in acknowledged if r.body["data"]["id"] == j.id)
               for j in jobs}  # fmt: skip
    assert all(types == sorted(LIFECYCLE) for types in per_job.values())
    # duplicates, if any, carry a webhook-id seen before
    assert len({r.webhook_id for r in receiver.received}) == 9


def test_a_jobs_own_webhook_url_is_signed_with_the_accounts_secret(
    studio: Studio, receiver: WebhookReceiver, dispatchers: list[WebhookDispatcher]
) -> None:
    request = JobRequest(provider="fake", model="demo-pattern", prompt="a fox")
    with pytest.raises(ValidationError, match="secret"):
        studio.services.jobs.submit(studio.alice, request, webhook_url=receiver.url)
    assert studio.services.webhooks.events_after(studio.alice, 0) == []  # nothing queued
    receiver.secret = studio.services.webhooks.rotate_job_secret(studio.alice)
    with pytest.raises(ValidationError, match="internal"):
        studio.services.jobs.submit(studio.alice, request, webhook_url="https://10.0.0.1/x")
    start_dispatcher(studio, dispatchers)
    studio.worker()
    [job] = studio.services.jobs.submit(studio.alice, request, webhook_url=receiver.url)
    received = receiver.wait_for(3)
    assert all(r.verified for r in received)
    assert {r.body["data"]["id"] for r in received} == {job.id}
    assert studio.job(job.id).status is JobStatus.DONE


def test_endpoints_and_deliveries_are_private(
    studio: Studio, receiver: WebhookReceiver, store: WebhookStore
) -> None:
    endpoint_id = register(studio, receiver)
    studio.submit()
    store.fan_out()
    [delivery] = store.list_deliveries(studio.alice.id)
    hooks = studio.services.webhooks
    assert hooks.list_endpoints(studio.bob) == []
    assert hooks.deliveries(studio.bob) == []
    with pytest.raises(NotFound):
        hooks.delete_endpoint(studio.bob, endpoint_id)
    with pytest.raises(NotFound):
        hooks.resend(studio.bob, delivery.id)
    with pytest.raises(NotFound):
        hooks.deliveries(studio.bob, endpoint_id=endpoint_id)
    assert hooks.events_after(studio.bob, 0) == []
    hooks.delete_endpoint(studio.alice, endpoint_id)
    assert store.get_delivery(delivery.id).status is DeliveryStatus.GONE  # type: ignore[union-attr]


def test_the_endpoint_count_and_event_names_are_bounded(
    studio: Studio, receiver: WebhookReceiver
) -> None:
    hooks = studio.services.webhooks
    for bad in ([], ["job.exploded"], "job.queued", [1], ["*"] * 10):
        with pytest.raises(ValidationError):
            hooks.create_endpoint(studio.alice, receiver.url, bad)
    for _ in range(10):
        hooks.create_endpoint(studio.alice, receiver.url, ["job.failed"])
    with pytest.raises(ValidationError, match="10 webhook endpoints"):
        hooks.create_endpoint(studio.alice, receiver.url, ["job.failed"])


def test_resend_sends_again_with_the_same_webhook_id(
    studio: Studio,
    receiver: WebhookReceiver,
    store: WebhookStore,
    dispatchers: list[WebhookDispatcher],
) -> None:
    register(studio, receiver, ["job.queued"])
    start_dispatcher(studio, dispatchers)
    studio.submit()
    [first] = receiver.wait_for(1)
    wait_until(lambda: store.list_deliveries(studio.alice.id)[0].status is DeliveryStatus.DELIVERED)
    again = studio.services.webhooks.resend(studio.alice, first.webhook_id)
    assert again.status is DeliveryStatus.PENDING and again.attempts == 0
    second = receiver.wait_for(2)[1]
    assert second.webhook_id == first.webhook_id and second.verified


# ---- the schedule ------------------------------------------------------------------------------


def test_the_retry_schedule_spans_about_a_day_with_jitter() -> None:
    longest = sum(retry_delay(n, rng=lambda: 1.0) for n in range(1, MAX_ATTEMPTS))
    shortest = sum(retry_delay(n, rng=lambda: 0.0) for n in range(1, MAX_ATTEMPTS))
    assert 20 * 3600 <= longest <= 36 * 3600
    assert shortest == pytest.approx(longest / 2)
    rng = random.Random(7)
    delays = {retry_delay(3, rng=rng.random) for _ in range(20)}
    assert len(delays) == 20 and all(45 <= d <= 90 for d in delays)


def test_retry_after_wins_when_longer_and_is_capped() -> None:
    assert retry_delay(1, retry_after=600, rng=lambda: 1.0) == 600
    assert retry_delay(1, retry_after=10**9, rng=lambda: 1.0) == RETRY_AFTER_CAP_SECONDS
    assert retry_delay(5, retry_after=1, rng=lambda: 1.0) == 810


def test_deleting_an_account_deletes_its_webhooks_and_event_log(
    studio: Studio, receiver: WebhookReceiver, store: WebhookStore
) -> None:
    endpoint_id = register(studio, receiver)
    studio.services.webhooks.rotate_job_secret(studio.bob)
    job = studio.submit()
    studio.submit(user=studio.bob)
    store.fan_out()
    assert store.list_deliveries(studio.alice.id)
    studio.services.jobs.delete(studio.alice, job.id)
    studio.backend.accounts.delete_user(studio.alice.id)
    assert store.list_deliveries(studio.alice.id) == []
    assert store.get_endpoint(endpoint_id) is None
    assert store.events_after(studio.alice.id, 0) == []
    assert store.account_salt(studio.bob.id) is not None  # nobody else's
    assert len(store.events_after(studio.bob.id, 0)) == 1


def test_an_endpoint_gets_only_events_after_it_was_added(
    studio: Studio, receiver: WebhookReceiver, store: WebhookStore
) -> None:
    studio.submit()  # before the endpoint: not sent to it, even if fanned out later
    register(studio, receiver, ["job.queued"])
    later = studio.submit()
    store.fan_out()
    assert [d.job_id for d in store.list_deliveries(studio.alice.id)] == [later.id]
