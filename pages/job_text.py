"""What a job's progress says in words: elapsed time while processing, when a job waiting to
retry runs again, the alt text of its image. Plain functions of a job and the clock, so the
Generate feed, the gallery tiles and the lightbox say the same thing and tests can check it
without a browser. Every string is a whole catalogue message (`job.*`) in this session's
language, or in `words`' when given; times and durations are Babel's formats."""

from __future__ import annotations

import math
from datetime import UTC, datetime

from babel.dates import format_time
from babel.lists import format_list
from babel.units import format_unit

from core.domain.models import Job, JobStatus
from pages.i18n import Translator, current

ALT_PROMPT_CHARS = 150


def _seconds(value: float, words: Translator) -> str:
    """'12 sec', '3 min 5 sec', '1 hr 2 min' / '12秒', '3分钟5秒' — whole units, never
    '0.0 s' for a running clock."""
    total = max(0, int(value))
    hours, rest = divmod(total, 3600)
    minutes, seconds = divmod(rest, 60)
    parts = (
        [(hours, "hour"), (minutes, "minute")]
        if hours
        else [(minutes, "minute"), (seconds, "second")]
    )
    shown = [(n, unit) for n, unit in parts if n] or [(0, "second")]
    units = [
        format_unit(n, f"duration-{unit}", length="short", locale=words.locale) for n, unit in shown
    ]
    return format_list(units, style="unit-narrow", locale=words.locale)


def waiting_to_retry(job: Job, now: datetime) -> bool:
    """Queued again after a temporary provider error and not yet due."""
    return job.status is JobStatus.QUEUED and job.attempts > 0 and job.run_after > now


def elapsed_text(job: Job, now: datetime, words: Translator | None = None) -> str | None:
    """'Generating for 12 sec.' while processing (from the attempt's start), else None."""
    if job.status is not JobStatus.PROCESSING or job.started_at is None:
        return None
    t = words or current()
    return t("job.generating_for", time=_seconds((now - job.started_at).total_seconds(), t))


def retry_text(job: Job, now: datetime, words: Translator | None = None) -> str | None:
    """When a job waiting to retry runs again, from its run_after, with the last error (the
    provider's words, quoted as they are)."""
    if job.status is not JobStatus.QUEUED or not job.attempts:
        return None
    t = words or current()
    error = job.error_message or t("job.temporary_error")
    if job.run_after > now:
        wait = math.ceil((job.run_after - now).total_seconds())
        at = format_time(job.run_after, "HH:mm:ss", tzinfo=UTC, locale=t.locale)
        return t(
            "job.retry_at",
            attempt=job.attempts,
            attempts=job.max_attempts,
            error=error,
            wait=_seconds(wait, t),
            at=at,
        )
    return t("job.retry_due", attempt=job.attempts, attempts=job.max_attempts, error=error)


def progress_text(job: Job, now: datetime, words: Translator | None = None) -> str | None:
    """The line under a job's badge that says what is happening now (the badge itself carries
    the place in line)."""
    return retry_text(job, now, words) or elapsed_text(job, now, words)


def waited_text(job: Job, words: Translator | None = None) -> str:
    """Time from submission to the first start; honest for a job that has not started."""
    t = words or current()
    if job.started_at is None:
        return t("job.not_started")
    return t("job.waited", time=_seconds((job.started_at - job.created_at).total_seconds(), t))


def alt_text(job: Job, words: Translator | None = None) -> str:
    """The image's text alternative: what was asked for, in the owner's words."""
    t = words or current()
    prompt = " ".join(job.prompt.split())
    if len(prompt) > ALT_PROMPT_CHARS:
        prompt = prompt[: ALT_PROMPT_CHARS - 1] + "…"
    return t("job.alt", prompt=prompt) if prompt else t("job.alt_empty")
