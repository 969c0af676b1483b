"""A failed job's reason in this session's language (issue 14). The worker stores a failure as
`error_code` (its kind) and `error_message` (English). Where the project wrote the message
(an internal error, a full disk, a worker lost every time, "gave up after N attempts") it is
said again from the code in the user's language; the words a provider adapter recorded (a
safety block's reason, a refused request) follow it quoted as they are, never translated."""

from __future__ import annotations

import re

from core.domain.models import Job, JobStatus
from core.domain.policy import WORKER_LOST_CODE
from pages.i18n import Translator, current

# The runner's wording of a retryable failure that used up its attempts (core/queue/runner.py).
GAVE_UP = re.compile(r"^Gave up after \d+ attempts: (?P<detail>.*?)\.?$", re.DOTALL)
# Failures whose whole message the project wrote: said from the code alone.
OWN_WORDS = {
    "internal_error": "failure.internal_error",
    "storage_full": "failure.storage_full",
}
# Failures a provider reported: the kind in the user's language, the recorded text quoted.
PROVIDER_WORDS = {
    "transient": "failure.transient",
    "safety_blocked": "failure.safety_blocked",
    "invalid_request": "failure.invalid_request",
    "auth_failed": "failure.auth_failed",
    "quota_exhausted": "failure.quota_exhausted",
    "model_unavailable": "failure.model_unavailable",
    "provider_error": "failure.provider_error",
}


def failure_text(job: Job, words: Translator | None = None) -> str | None:
    """Why `job` failed, in this session's language (or `words`'); None when it has not
    failed."""
    t = words or current()
    if job.status is not JobStatus.FAILED:
        return None
    code = job.error_code or ""
    message = (job.error_message or "").strip()
    if code == WORKER_LOST_CODE:
        return t("failure.worker_lost", count=job.attempts)
    gave_up = GAVE_UP.match(message)
    detail = gave_up.group("detail") if gave_up else message
    if code in OWN_WORDS:
        reason = t(OWN_WORDS[code])
    elif code in PROVIDER_WORDS:
        reason = t(PROVIDER_WORDS[code], detail=detail or "—")
    elif detail:
        reason = t("failure.other", detail=detail)
    else:
        reason = t("failure.unknown")
    if gave_up:
        return t("failure.gave_up", count=job.attempts, reason=reason)
    return reason
