"""Server-Sent Events for API clients (issue 15): `GET /api/jobs/{id}/events` (one job, closes
after its terminal state) and `GET /api/events` (every job of the caller).

Each event is one row of the job event log (core.domain.webhooks.JobEvent): `id:` is its `seq`,
so a client reconnecting with `Last-Event-ID` gets exactly what it missed, `event:` the event
name and `data:` the job as webhooks show it. The stream waits on the in-process change signal
(`jobs.wait_for_change`, in a thread of its own limiter so waiting streams never starve the
API's thread pool) with a short timeout as the fallback poll for changes made by other
processes (a headless worker, Supabase mode). A comment line keeps idle connections alive.

Streams are bounded per user and per server (429 past either); a slot is held from the
response's start until the connection ends."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import AsyncIterator
from functools import partial

import anyio
import anyio.to_thread
from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from core.domain.errors import NotFound, RateLimited, ValidationError
from core.domain.models import JobStatus, User
from core.domain.webhooks import WebhookConfig, job_document
from core.services import Services

MAX_LAST_EVENT_ID_DIGITS = 18
BATCH = 100


class StreamSlots:
    """Counts open streams per user and in all; `take` refuses past either cap."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._per_user: dict[str, int] = {}
        self._total = 0

    def take(self, user_id: str, config: WebhookConfig) -> None:
        with self._lock:
            if self._total >= config.streams_max:
                raise RateLimited("Too many event streams are open on this server; retry soon.", 5)
            if self._per_user.get(user_id, 0) >= config.streams_per_user:
                raise RateLimited(
                    f"You have {config.streams_per_user} event streams open already; close one.",
                    5,
                )
            self._per_user[user_id] = self._per_user.get(user_id, 0) + 1
            self._total += 1

    def give_back(self, user_id: str) -> None:
        with self._lock:
            left = self._per_user.get(user_id, 0) - 1
            if left > 0:
                self._per_user[user_id] = left
            else:
                self._per_user.pop(user_id, None)
            self._total = max(0, self._total - 1)

    @property
    def open(self) -> int:
        with self._lock:
            return self._total


SLOTS = StreamSlots()
# Waiting streams park in these threads (one each, at most the server cap), not in the
# default pool that runs the API's blocking handlers.
_WAITERS = anyio.CapacityLimiter(1000)


def parse_last_event_id(value: str | None) -> int | None:
    """The `Last-Event-ID` header: digits only, bounded; None when absent or empty."""
    if value is None or not value.strip():
        return None
    value = value.strip()
    if not value.isascii() or not value.isdigit() or len(value) > MAX_LAST_EVENT_ID_DIGITS:
        raise ValidationError("Last-Event-ID must be the id of an event this API sent.")
    return int(value)


class EventStreamResponse(StreamingResponse):
    """A text/event-stream whose stream slot is given back however the connection ends."""

    def __init__(self, content: AsyncIterator[str], user_id: str) -> None:
        super().__init__(
            content,
            media_type="text/event-stream",
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )
        self.user_id = user_id

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            SLOTS.give_back(self.user_id)


def open_stream(
    found: Services, user: User, *, job_id: str | None, last_event_id: str | None
) -> EventStreamResponse:
    """Check the request (the job is the caller's own; the header is valid), take a slot and
    return the stream. Raises NotFound, ValidationError or RateLimited (429) before anything is
    sent."""
    after = parse_last_event_id(last_event_id)
    config = found.webhooks.config
    if job_id is not None:
        job = found.jobs.get_job(user, job_id)
        if job.user_id != user.id:
            raise NotFound()
        if after is None:
            after = 0  # a job's stream starts with its whole history
    elif after is None:
        after = found.webhooks.last_event_seq(user)  # from now on
    SLOTS.take(user.id, config)
    try:
        stream = _events(found, user, after, job_id, config)
        return EventStreamResponse(stream, user.id)
    except BaseException:
        SLOTS.give_back(user.id)
        raise


async def _events(
    found: Services, user: User, after: int, job_id: str | None, config: WebhookConfig
) -> AsyncIterator[str]:
    yield f"retry: 1000\n: connected, after {after}\n\n"
    quiet_since = time.monotonic()
    ends_at = quiet_since + config.stream_max_seconds
    while time.monotonic() < ends_at:
        version = found.jobs.change_version(user)  # before the read: no change slips between
        events = await anyio.to_thread.run_sync(
            partial(found.webhooks.events_after, user, after, job_id=job_id, limit=BATCH)
        )
        for event in events:
            data = await anyio.to_thread.run_sync(
                _document, found, user, event.job_id, event.status
            )
            yield f"id: {event.seq}\nevent: {event.event}\ndata: {data}\n\n"
            after = event.seq
            if job_id is not None and event.status.finished:
                return
        if events:
            quiet_since = time.monotonic()
            continue
        idle = time.monotonic() - quiet_since
        if idle >= config.keepalive_seconds:
            yield ": keep-alive\n\n"
            quiet_since = time.monotonic()
            idle = 0.0
        timeout = min(
            config.stream_poll_seconds,
            config.keepalive_seconds - idle,
            ends_at - time.monotonic(),
        )
        await anyio.to_thread.run_sync(
            found.jobs.wait_for_change,
            user,
            version,
            max(0.01, timeout),
            limiter=_WAITERS,
            abandon_on_cancel=True,
        )


def _document(found: Services, user: User, job_id: str, status: JobStatus) -> str:
    try:
        body = job_document(found.jobs.get_job(user, job_id), status)
    except NotFound:
        body = {"id": job_id, "status": str(status)}  # deleted since
    return json.dumps(body, separators=(",", ":"))
