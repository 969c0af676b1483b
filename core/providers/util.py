"""Small helpers shared by the real adapters: safe user-visible text, the hashed user
reference sent to providers, and Retry-After parsing."""

from __future__ import annotations

import email.utils
import hashlib
import re
import time
from collections.abc import Iterable, Mapping

from core.providers.base import clamp_retry_after

MESSAGE_MAX = 300

# Anything shaped like a credential is redacted even when it is not ours: providers echo
# partial keys ("Incorrect API key provided: sk-ab***yz"), and gateways may add tokens.
_SECRET_PATTERNS = (
    re.compile(r"\bsk-[A-Za-z0-9_\-*]{6,}"),
    re.compile(r"\bAIza[0-9A-Za-z_\-]{10,}"),
    re.compile(r"(?i)\bbearer\s+[A-Za-z0-9._\-~+/=]{8,}"),
    re.compile(r"(?i)\b(api[-_ ]?key|key|token|secret)\s*[=:]\s*\S+"),
)


def plain_message(
    text: object, secrets: Iterable[str | None] = (), limit: int = MESSAGE_MAX
) -> str:
    """`text` made safe to show: known secrets and key-shaped strings removed, whitespace
    collapsed, at most `limit` characters."""
    out = " ".join(str(text or "").split())
    for secret in secrets:
        if secret and len(secret) >= 4:
            out = out.replace(secret, "[redacted]")
    for pattern in _SECRET_PATTERNS:
        out = pattern.sub("[redacted]", out)
    if len(out) > limit:
        out = out[: limit - 1].rstrip() + "…"
    return out


def hashed_user_ref(user_ref: str | None) -> str | None:
    """A stable, non-identifying per-user id for providers' abuse tracking (≤ 64 chars)."""
    if not user_ref:
        return None
    return hashlib.sha256(f"image-studio:{user_ref}".encode()).hexdigest()[:64]


def retry_after_seconds(headers: Mapping[str, str] | None) -> float | None:
    """Seconds to wait from `retry-after-ms` or `retry-after` (seconds or an HTTP date), cut
    to MAX_RETRY_AFTER_SECONDS (see clamp_retry_after)."""
    if not headers:
        return None
    lowered = {k.lower(): v for k, v in headers.items()}
    for name, divisor in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        raw = lowered.get(name)
        if raw is None:
            continue
        try:
            value = clamp_retry_after(float(raw) / divisor)
        except ValueError:
            continue
        if value is not None:
            return value
    raw = lowered.get("retry-after")
    if raw:
        return clamp_retry_after(_seconds_until_http_date(raw))
    return None


def _seconds_until_http_date(raw: str) -> float | None:
    """Seconds from now until an HTTP date (negative when past); None when it is not one."""
    parsed = email.utils.parsedate_tz(raw)
    if parsed is None:
        return None
    try:
        return float(email.utils.mktime_tz(parsed) - time.time())
    except (ValueError, OverflowError):  # a year out of range
        return None
