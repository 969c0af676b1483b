"""The webhook dispatcher: threads of its own in the worker process (never a generation slot)
that fan the job event log out into deliveries and send them, signed per Standard Webhooks.

At least once: a delivery is leased while it is being sent and settled afterwards; a crash
leaves the lease to run out and the next dispatcher (this process restarted, or another one)
sends it again with the same `webhook-id`. Retries back off exponentially with jitter over about
a day and honour Retry-After; a 410 Gone disables the endpoint.

SSRF: every connection resolves the host itself, refuses it when any address is loopback,
private, link-local (cloud metadata), shared or reserved (unless WEBHOOK_ALLOW_HOSTS permits
it) and connects to the very address it checked, so a DNS answer cannot change in between.
Redirects are never followed; proxies from the environment are not used.
"""

from __future__ import annotations

import logging
import os
import socket
import ssl
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from concurrent import futures
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpcore
import httpx
from standardwebhooks.webhooks import Webhook

from core.domain.errors import ValidationError
from core.domain.webhooks import (
    AddressPolicy,
    DeliveryStatus,
    WebhookConfig,
    WebhookDelivery,
    allowed_addresses,
    check_url,
    parse_retry_after,
    retry_delay,
)
from core.ports import WebhookStore

log = logging.getLogger(__name__)

Resolver = Callable[[str, int], Iterable[str]]
USER_AGENT = "image-studio-webhooks/1"


class RefusedAddress(httpcore.ConnectError):
    """The host resolved to an address deliveries may not reach."""


def system_resolver(host: str, port: int) -> list[str]:
    """Every address the system resolver gives for `host`."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


class GuardedNetwork(httpcore.SyncBackend):
    """httpcore's socket backend with the address check at connect time."""

    def __init__(self, policy: AddressPolicy, resolver: Resolver = system_resolver) -> None:
        self.policy = policy
        self.resolver = resolver

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        try:
            addresses = list(self.resolver(host, port))
        except (OSError, UnicodeError) as exc:
            raise httpcore.ConnectError(f"cannot resolve the host ({type(exc).__name__})") from None
        good, bad = allowed_addresses(addresses, self.policy)
        if bad or not good:
            raise RefusedAddress("the host resolves to an internal address; refused")
        return super().connect_tcp(good[0], port, timeout, local_address, socket_options)


class GuardedTransport(httpx.HTTPTransport):
    """An httpx transport whose connections go through GuardedNetwork. (httpx builds its
    pool in its constructor with no way to pass a network backend, so it is replaced here.)"""

    def __init__(self, policy: AddressPolicy, resolver: Resolver = system_resolver) -> None:
        super().__init__(retries=0)
        self._pool = httpcore.ConnectionPool(
            ssl_context=ssl.create_default_context(),
            max_connections=20,
            max_keepalive_connections=10,
            keepalive_expiry=5.0,
            http1=True,
            http2=False,
            retries=0,
            network_backend=GuardedNetwork(policy, resolver),
        )


@dataclass(frozen=True)
class Attempt:
    status_code: int | None
    error: str | None
    retry_after: float | None = None


class WebhookSender:
    """Sends one signed delivery and reports what came back."""

    def __init__(self, config: WebhookConfig, resolver: Resolver = system_resolver) -> None:
        self.config = config
        self.client = httpx.Client(
            transport=GuardedTransport(config.policy, resolver),
            timeout=httpx.Timeout(config.timeout),
            follow_redirects=False,
            trust_env=False,
        )

    def headers(self, delivery: WebhookDelivery, secret: str, now: datetime) -> dict[str, str]:
        signature = Webhook(secret).sign(delivery.id, now, delivery.payload)
        return {
            "content-type": "application/json",
            "user-agent": USER_AGENT,
            "webhook-id": delivery.id,
            "webhook-timestamp": str(int(now.timestamp())),
            "webhook-signature": signature,
        }

    def send(self, delivery: WebhookDelivery, secret: str) -> Attempt:
        try:
            check_url(delivery.url, self.config.policy)
        except ValidationError as exc:
            return Attempt(None, f"refused: {exc}")
        now = datetime.now(UTC)
        started = time.monotonic()
        try:
            with self.client.stream(
                "POST",
                delivery.url,
                content=delivery.payload.encode(),
                headers=self.headers(delivery, secret, now),
            ) as response:
                # The receiver's body is not read: only the status and Retry-After matter.
                retry_after = parse_retry_after(response.headers.get("retry-after"), now)
                code = response.status_code
        except httpx.TimeoutException:
            return Attempt(None, f"timed out after {time.monotonic() - started:.0f} s")
        except httpx.HTTPError as exc:
            if isinstance(exc.__cause__, RefusedAddress):  # httpx wraps httpcore's errors
                return Attempt(None, f"refused: {exc.__cause__}")
            if isinstance(exc, httpx.ConnectError):  # no address in these messages
                return Attempt(None, f"could not connect: {str(exc)[:120]}")
            return Attempt(None, f"{type(exc).__name__}: the request failed")
        return Attempt(code, None if 200 <= code < 300 else f"HTTP {code}", retry_after)

    def close(self) -> None:
        self.client.close()


def settle(
    delivery: WebhookDelivery, attempt: Attempt, config: WebhookConfig, now: datetime
) -> tuple[DeliveryStatus, datetime | None]:
    """What an attempt's answer means for the delivery: done, gone, failed or retry at."""
    if attempt.status_code is not None and 200 <= attempt.status_code < 300:
        return DeliveryStatus.DELIVERED, None
    if attempt.status_code == 410:
        return DeliveryStatus.GONE, None
    if delivery.attempts >= config.max_attempts:
        return DeliveryStatus.FAILED, None
    delay = retry_delay(delivery.attempts, retry_after=attempt.retry_after, base=config.retry_base)
    return DeliveryStatus.PENDING, now + timedelta(seconds=delay)


class WebhookDispatcher:
    """Fan-out and sending on `config.threads` threads of its own, polling every
    `config.poll_seconds` (woken early by `wake`)."""

    def __init__(
        self,
        store: WebhookStore,
        config: WebhookConfig,
        *,
        owner: str | None = None,
        resolver: Resolver = system_resolver,
    ) -> None:
        self.store = store
        self.config = config
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}:hooks:{uuid.uuid4().hex[:8]}"
        self.sender = WebhookSender(config, resolver)
        self._pool = futures.ThreadPoolExecutor(config.threads, thread_name_prefix="webhook")
        self._busy = 0
        self._busy_lock = threading.Lock()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self.sent = 0  # attempts made (for stats and the benchmark)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="webhook-dispatch", daemon=True)
        self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop taking deliveries; those being sent finish and are settled. Only a delivery
        being sent is ever claimed, so none is left leased but unsent (a crash still leaves
        its lease to run out, and the delivery is sent again with the same webhook-id)."""
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
        self._pool.shutdown(wait=True)
        self.sender.close()

    def run_once(self) -> int:
        """Fan out and start sending what is due; how many deliveries were started."""
        try:
            while self.store.fan_out() >= 200:
                pass
            with self._busy_lock:  # a claim counts an attempt: claim only what starts now
                free = self.config.threads - self._busy
            claimed = self.store.claim_deliveries(self.owner, self.config.lease_seconds, free)
        except Exception:
            log.exception("webhook dispatch: the store failed; trying again")
            return 0
        for delivery in claimed:
            with self._busy_lock:
                self._busy += 1
            self._pool.submit(self._deliver, delivery)
        return len(claimed)

    def _loop(self) -> None:
        while not self._stopping.is_set():
            started = self.run_once()
            if not started:
                self._wake.wait(self.config.poll_seconds)
                self._wake.clear()

    def _deliver(self, delivery: WebhookDelivery) -> None:
        try:
            attempt = self.sender.send(delivery, self.store.secret(delivery.salt))
            self.sent += 1
            outcome, next_at = settle(delivery, attempt, self.config, datetime.now(UTC))
            self.store.record_attempt(
                delivery.id,
                self.owner,
                status_code=attempt.status_code,
                error=attempt.error,
                outcome=outcome,
                next_attempt_at=next_at,
            )
            if outcome is DeliveryStatus.GONE:
                log.info("webhook endpoint %s answered 410: disabled", delivery.endpoint_id)
        except Exception:
            log.exception("webhook delivery %s: recording the attempt failed", delivery.id)
        finally:
            with self._busy_lock:
                self._busy -= 1
            self._wake.set()
