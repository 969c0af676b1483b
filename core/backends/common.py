"""What both backends share: batch and status checks, the keyset cursor, secret digests and
the latency percentiles of the usage stats. Imports no backend."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from core.domain.errors import ValidationError
from core.domain.models import JobStatus, NewJob
from core.ports import ProviderLatency


def nearest_rank(count: int, fraction: float) -> int:
    """The 1-based nearest rank of the `fraction` percentile among `count` values."""
    return max(1, min(count, math.ceil(fraction * count)))


@dataclass(frozen=True)
class LatencyBucket:
    """One bucket of a provider's duration histogram (the statistics rollups): `jobs` done jobs
    whose duration in microseconds rounds down to `bucket` (`latency_bucket`), and the exact sum
    of their durations."""

    bucket: int
    jobs: int
    total_us: int


def latency_bucket(micros: int) -> int:
    """The histogram bucket of a duration: the duration in microseconds cut to its first two
    significant digits (1,234,567 -> 1,200,000; under 100 exact), -1 for any negative one.
    Both backends compute the same in SQL (migration 012, supabase-schema.sql)."""
    if micros < 0:
        return -1
    if micros < 100:
        return micros
    scale = 10 ** (len(str(micros)) - 2)
    return micros - micros % scale


def histogram_latency(histogram: Mapping[str, Iterable[LatencyBucket]]) -> list[ProviderLatency]:
    """p50/p95 of each provider from its duration histogram, by provider name. The nearest-rank
    job is found exactly; its value is the mean duration of the jobs in its bucket, so it is
    exact when they all took the same time and otherwise off by less than the bucket's width
    (under 10 %: two significant digits)."""
    latency = []
    for provider, rows in sorted(histogram.items()):
        buckets = sorted((b for b in rows if b.jobs > 0), key=lambda b: b.bucket)
        total = sum(b.jobs for b in buckets)
        if not total:
            continue
        latency.append(
            ProviderLatency(
                provider=provider,
                jobs=total,
                p50_seconds=_bucket_percentile(buckets, total, 0.50),
                p95_seconds=_bucket_percentile(buckets, total, 0.95),
            )
        )
    return latency


def _bucket_percentile(buckets: list[LatencyBucket], total: int, fraction: float) -> float:
    rank = nearest_rank(total, fraction)
    seen = 0
    for b in buckets:
        seen += b.jobs
        if seen >= rank:
            return b.total_us / b.jobs / 1_000_000
    return 0.0  # unreachable: the ranks stop at total


def check_batch(jobs: list[NewJob]) -> None:
    """All jobs of one `create_jobs` batch share user, idempotency key and batch id."""
    first = jobs[0]
    if any(
        j.user_id != first.user_id
        or j.idempotency_key != first.idempotency_key
        or j.batch_id != first.batch_id
        for j in jobs
    ):
        raise ValueError("a batch belongs to one user and shares one batch_id and key")


def finished_statuses(statuses: Iterable[JobStatus]) -> list[str]:
    """The status values of a purge query; only finished statuses may be purged."""
    values = [JobStatus(s).value for s in statuses]
    if any(not JobStatus(v).finished for v in values):
        raise ValueError("only finished jobs (done, failed, canceled) can be purged")
    return values


# A real cursor is about 80 (local) or 110 (Supabase) characters.
MAX_CURSOR_CHARS = 256


def encode_cursor(created_at: int | str, job_id: str) -> str:
    """The opaque keyset cursor of `list_jobs`: the last item's (created_at, id)."""
    raw = json.dumps([created_at, job_id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, valid: Callable[[Any, Any], bool]) -> tuple[Any, Any]:
    """(created_at, id) of an `encode_cursor` cursor that `valid` accepts (it may also raise
    ValueError); ValidationError for anything else, refused unparsed when over
    MAX_CURSOR_CHARS."""
    try:
        if len(cursor) > MAX_CURSOR_CHARS:
            raise ValueError
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        pair = json.loads(raw)
        if not isinstance(pair, list) or len(pair) != 2:
            raise ValueError
        created_at, job_id = pair
        if not valid(created_at, job_id):
            raise ValueError
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError, RecursionError):
        raise ValidationError(
            "This page link is not valid; start from the first page.", reason="bad_cursor"
        ) from None
    return created_at, job_id


def digest(secret: str) -> str:
    """How session and API token secrets are stored (both backends)."""
    return hashlib.sha256(secret.encode()).hexdigest()
