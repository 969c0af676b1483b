"""Webhooks, the pure part: event names, endpoint and delivery records, signing secrets, the
retry schedule and the address policy that keeps deliveries off internal networks (SSRF).

Deliveries follow the Standard Webhooks spec (https://www.standardwebhooks.com): headers
`webhook-id` (stable across retries, so receivers deduplicate on it), `webhook-timestamp` and
`webhook-signature: v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`, with a secret shown
once as `whsec_<base64>`. Signing itself is the `standardwebhooks` package's.

Secrets are never stored: each is derived from the server's secret key and a random salt kept
with the endpoint (`derive_secret`), so the database alone cannot forge a signature; rotating
a secret is a new salt.
"""

from __future__ import annotations

import base64
import enum
import hashlib
import hmac
import ipaddress
import json
import random
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

from core.domain.errors import ValidationError
from core.domain.models import Job, JobStatus
from core.domain.settings import Settings

# ---- events ------------------------------------------------------------------------------------

EVENT_FOR_STATUS: dict[JobStatus, str] = {
    JobStatus.QUEUED: "job.queued",
    JobStatus.PROCESSING: "job.started",
    JobStatus.DONE: "job.succeeded",
    JobStatus.FAILED: "job.failed",
    JobStatus.CANCELED: "job.canceled",
}
EVENTS: tuple[str, ...] = tuple(EVENT_FOR_STATUS.values())

MAX_URL_LENGTH = 2000
MAX_ENDPOINTS_PER_USER = 10
DELIVERY_TIMEOUT_SECONDS = 10.0
# Retries: exponential (x3 from 10 s, capped at 6 h) with jitter; 12 attempts span about a day.
RETRY_BASE_SECONDS = 10.0
RETRY_FACTOR = 3.0
RETRY_CAP_SECONDS = 6 * 3600.0
MAX_ATTEMPTS = 12
RETRY_AFTER_CAP_SECONDS = 6 * 3600.0


def event_for(status: JobStatus | str) -> str:
    return EVENT_FOR_STATUS[JobStatus(status)]


def check_events(events: object) -> tuple[str, ...]:
    """A cleaned event filter: a non-empty list of known event names (`*` = all)."""
    if not isinstance(events, list | tuple) or not events or len(events) > len(EVENTS) + 1:
        raise ValidationError(
            f"Choose the events to send: any of {', '.join(EVENTS)}, or *.",
            reason="webhook_events",
            params={"known": ", ".join(EVENTS)},
        )
    cleaned: set[str] = set()
    for name in events:
        if not isinstance(name, str) or (name != "*" and name not in EVENTS):
            raise ValidationError(
                f"Unknown event {str(name)[:40]!r}. Known: {', '.join(EVENTS)}.",
                reason="webhook_event_unknown",
                params={"event": str(name)[:40], "known": ", ".join(EVENTS)},
            )
        cleaned.update(EVENTS if name == "*" else (name,))
    return tuple(e for e in EVENTS if e in cleaned)


class DeliveryStatus(enum.StrEnum):
    PENDING = "pending"  # waiting for its next attempt
    DELIVERED = "delivered"  # a 2xx answered
    FAILED = "failed"  # attempts used up
    GONE = "gone"  # the endpoint answered 410 Gone, or was disabled or deleted


@dataclass(frozen=True)
class WebhookEndpoint:
    id: str
    user_id: str
    url: str
    events: tuple[str, ...]
    created_at: datetime
    salt: str = field(repr=False)
    disabled_at: datetime | None = None
    disabled_reason: str | None = None

    @property
    def enabled(self) -> bool:
        return self.disabled_at is None


@dataclass(frozen=True)
class WebhookDelivery:
    """One event for one target. `id` is the `webhook-id`, the same on every attempt."""

    id: str
    user_id: str
    endpoint_id: str | None  # None: the job's own `webhook_url`
    url: str
    event: str
    job_id: str
    payload: str  # the exact body sent (JSON)
    status: DeliveryStatus
    attempts: int
    created_at: datetime
    next_attempt_at: datetime
    salt: str = field(repr=False, default="")
    last_status_code: int | None = None
    last_error: str | None = None
    delivered_at: datetime | None = None


@dataclass(frozen=True)
class JobEvent:
    """One state change of a job, in the order they happened (`seq` grows)."""

    seq: int
    job_id: str
    user_id: str
    status: JobStatus
    created_at: datetime

    @property
    def event(self) -> str:
        return event_for(self.status)


# ---- secrets -----------------------------------------------------------------------------------


def new_salt() -> str:
    return secrets.token_hex(16)


def derive_secret(server_key: bytes, salt: str) -> str:
    """The `whsec_…` signing secret of an endpoint (or an account's per-job secret)."""
    raw = hmac.new(server_key, b"webhook-secret:" + salt.encode(), hashlib.sha256).digest()
    return "whsec_" + base64.b64encode(raw).decode()


def new_message_id() -> str:
    return "msg_" + secrets.token_hex(12)


# ---- the body ----------------------------------------------------------------------------------


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat().replace("+00:00", "Z")


def job_document(job: Job, status: JobStatus | None = None) -> dict[str, Any]:
    """The job as webhooks and event streams show it (no lease, review note or paths)."""
    return {
        "id": job.id,
        "status": str(status or job.status),
        "provider": job.provider,
        "model": job.model,
        "kind": str(job.kind),
        "prompt": job.prompt,
        "params": job.params,
        "batch_id": job.batch_id,
        "attempts": job.attempts,
        "error_code": job.error_code,
        "error_message": job.error_message,
        "result_meta": job.result_meta,
        "created_at": _iso(job.created_at),
        "started_at": _iso(job.started_at),
        "finished_at": _iso(job.finished_at),
    }


def event_body(event: str, at: datetime, data: dict[str, Any]) -> str:
    """The Standard Webhooks body: `{"type", "timestamp", "data"}`, compact JSON."""
    return json.dumps(
        {"type": event, "timestamp": _iso(at), "data": data},
        separators=(",", ":"),
        sort_keys=True,
    )


# ---- retries -----------------------------------------------------------------------------------


def retry_delay(
    attempts: int,
    *,
    retry_after: float | None = None,
    base: float = RETRY_BASE_SECONDS,
    rng: Callable[[], float] = random.random,
) -> float:
    """Seconds before attempt `attempts + 1`: base·3^(attempts-1), capped at 6 h, with jitter
    (between half and all of it), never shorter than the receiver's Retry-After (itself capped)."""
    exp = min(RETRY_CAP_SECONDS, base * RETRY_FACTOR ** max(0, attempts - 1))
    delay = exp / 2 + rng() * exp / 2
    if retry_after is not None and retry_after > 0:
        delay = max(delay, min(retry_after, RETRY_AFTER_CAP_SECONDS))
    return delay


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or an HTTP date), bounded; else None."""
    if not value or len(value) > 64:
        return None
    value = value.strip()
    if value.isdigit():
        return float(min(int(value), int(RETRY_AFTER_CAP_SECONDS)))
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, min((when - now).total_seconds(), RETRY_AFTER_CAP_SECONDS))


# ---- where deliveries may go (SSRF) -----------------------------------------------------------

_METADATA_HOSTS = frozenset({"metadata.google.internal", "metadata", "instance-data"})


@dataclass(frozen=True)
class AddressPolicy:
    """Which targets deliveries may reach. By default only public addresses over HTTPS; the
    `WEBHOOK_ALLOW_HOSTS` setting (comma-separated host names, IPs or CIDR networks) lets
    named internal targets in, over plain HTTP too (local receivers, tests)."""

    allow_hosts: frozenset[str] = frozenset()
    allow_networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()

    @classmethod
    def parse(cls, value: str | None) -> AddressPolicy:
        hosts: set[str] = set()
        networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
        for item in (value or "").split(","):
            item = item.strip().lower()
            if not item:
                continue
            try:
                networks.append(ipaddress.ip_network(item.strip("[]"), strict=False))
            except ValueError:
                hosts.add(item)
        return cls(frozenset(hosts), tuple(networks))

    def host_allowed(self, host: str) -> bool:
        host = host.lower().strip("[]")
        if host in self.allow_hosts:
            return True
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return False
        return self.address_allowed(address)

    def address_allowed(self, address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
        """True when a connection to `address` may be made."""
        if any(address in net for net in self.allow_networks):
            return True
        return is_public(address)


def is_public(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """Globally routable unicast: not loopback, private, link-local (cloud metadata at
    169.254.169.254), shared, reserved, multicast or unspecified; IPv4-mapped and NAT64
    forms are judged by the IPv4 address inside."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return is_public(address.ipv4_mapped)
        if address in ipaddress.ip_network("64:ff9b::/96"):
            return is_public(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    return address.is_global and not address.is_multicast


def check_url(url: object, policy: AddressPolicy) -> str:
    """A webhook URL fit to store: http(s), a host, no credentials, bounded length; HTTPS
    unless the host is in the allow-list; a literal IP must be allowed. (Host names are
    resolved and checked again at every connection.)"""
    if not isinstance(url, str) or not url.strip() or len(url) > MAX_URL_LENGTH:
        raise ValidationError(
            f"A webhook URL is an https:// URL of at most {MAX_URL_LENGTH:,} chars.",
            reason="webhook_url_invalid",
            params={"max": MAX_URL_LENGTH},
        )
    url = url.strip()
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise ValidationError(
            "This webhook URL cannot be parsed.", reason="webhook_url_unparseable"
        ) from None
    host = (parts.hostname or "").lower()
    if parts.scheme not in ("http", "https") or not host:
        raise ValidationError(
            "A webhook URL starts with https:// and names a host.", reason="webhook_url_no_host"
        )
    if parts.username or parts.password:
        raise ValidationError(
            "A webhook URL takes no user name or password.", reason="webhook_url_credentials"
        )
    if parts.fragment:
        raise ValidationError("A webhook URL takes no #fragment.", reason="webhook_url_fragment")
    if port == 0:
        raise ValidationError("This webhook URL's port is not valid.", reason="webhook_url_port")
    allowed = policy.host_allowed(host)
    if parts.scheme != "https" and not allowed:
        raise ValidationError("Webhook URLs must use https://.", reason="webhook_url_https")
    if host in _METADATA_HOSTS and not allowed:
        raise ValidationError(
            "Webhook URLs cannot point at internal addresses.", reason="webhook_url_internal"
        )
    try:
        literal = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    if literal is not None and not policy.address_allowed(literal):
        raise ValidationError(
            "Webhook URLs cannot point at internal addresses.", reason="webhook_url_internal"
        )
    return url


def allowed_addresses(
    addresses: Iterable[str], policy: AddressPolicy
) -> tuple[list[str], list[str]]:
    """Split resolved addresses into (allowed, refused)."""
    good: list[str] = []
    bad: list[str] = []
    for raw in addresses:
        try:
            address = ipaddress.ip_address(raw.split("%", 1)[0])
        except ValueError:
            bad.append(raw)
            continue
        (good if policy.address_allowed(address) else bad).append(raw)
    return good, bad


# ---- configuration -----------------------------------------------------------------------------


@dataclass(frozen=True)
class WebhookConfig:
    """The webhook knobs, read by name from the settings' variables (README: Webhooks)."""

    policy: AddressPolicy = AddressPolicy()
    timeout: float = DELIVERY_TIMEOUT_SECONDS
    retry_base: float = RETRY_BASE_SECONDS
    max_attempts: int = MAX_ATTEMPTS
    poll_seconds: float = 0.5
    threads: int = 2
    lease_seconds: float = 60.0
    # event streams (GET /api/events, /api/jobs/{id}/events)
    keepalive_seconds: float = 15.0
    streams_per_user: int = 5
    streams_max: int = 100
    stream_poll_seconds: float = 1.0  # the fallback poll for changes made in other processes
    stream_max_seconds: float = 3600.0  # then the stream ends; clients resume (Last-Event-ID)

    @classmethod
    def from_settings(cls, settings: Settings) -> WebhookConfig:
        v = settings.variables
        return cls(
            policy=AddressPolicy.parse(v.get("WEBHOOK_ALLOW_HOSTS")),
            timeout=v.get_duration("WEBHOOK_TIMEOUT_SECONDS", DELIVERY_TIMEOUT_SECONDS),
            retry_base=v.get_duration("WEBHOOK_RETRY_BASE_SECONDS", RETRY_BASE_SECONDS),
            max_attempts=max(1, v.get_int("WEBHOOK_MAX_ATTEMPTS", MAX_ATTEMPTS)),
            poll_seconds=v.get_duration("WEBHOOK_POLL_SECONDS", 0.5),
            threads=max(1, v.get_int("WEBHOOK_THREADS", 2)),
            lease_seconds=v.get_duration("WEBHOOK_LEASE_SECONDS", 60.0),
            keepalive_seconds=v.get_duration("EVENT_KEEPALIVE_SECONDS", 15.0),
            streams_per_user=max(1, v.get_int("EVENT_STREAMS_PER_USER", 5)),
            streams_max=max(1, v.get_int("EVENT_STREAMS_MAX", 100)),
            stream_poll_seconds=v.get_duration("EVENT_POLL_SECONDS", 1.0),
            stream_max_seconds=v.get_duration("EVENT_STREAM_MAX_SECONDS", 3600.0),
        )
