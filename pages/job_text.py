"""What a job's progress says in words: elapsed time while processing, when a job waiting to
retry runs again, the alt text of its image. Plain functions of a job and the clock (no
Streamlit), so the Generate feed, the gallery tiles and the lightbox say the same thing and
tests can check it without a browser. Every string is a whole sentence (for translation)."""

from __future__ import annotations

import math
from datetime import UTC, datetime

from core.domain.models import Job, JobStatus

ALT_PROMPT_CHARS = 150


def _seconds(value: float) -> str:
    """'12 s', '3 min 5 s', '1 h 2 min' — whole units, never '0.0 s' for a running clock."""
    total = max(0, int(value))
    if total < 60:
        return f"{total} s"
    minutes, seconds = divmod(total, 60)
    if minutes < 60:
        return f"{minutes} min {seconds} s" if seconds else f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if minutes else f"{hours} h"


def waiting_to_retry(job: Job, now: datetime) -> bool:
    """Queued again after a temporary provider error and not yet due."""
    return job.status is JobStatus.QUEUED and job.attempts > 0 and job.run_after > now


def elapsed_text(job: Job, now: datetime) -> str | None:
    """'Generating for 12 s.' while processing (from the attempt's start), else None."""
    if job.status is not JobStatus.PROCESSING or job.started_at is None:
        return None
    return f"Generating for {_seconds((now - job.started_at).total_seconds())}."


def retry_text(job: Job, now: datetime) -> str | None:
    """When a job waiting to retry runs again, from its run_after, with the last error."""
    if job.status is not JobStatus.QUEUED or not job.attempts:
        return None
    error = job.error_message or "a temporary error"
    if job.run_after > now:
        wait = math.ceil((job.run_after - now).total_seconds())
        at = job.run_after.astimezone(UTC).strftime("%H:%M:%S")
        return (
            f"Attempt {job.attempts} of {job.max_attempts} failed ({error}). "
            f"It is tried again in {_seconds(wait)}, at {at} UTC."
        )
    return (
        f"Attempt {job.attempts} of {job.max_attempts} failed ({error}). "
        "It is due again and waits for a free worker."
    )


def progress_text(job: Job, now: datetime) -> str | None:
    """The line under a job's badge that says what is happening now (the badge itself carries
    the place in line)."""
    return retry_text(job, now) or elapsed_text(job, now)


def waited_text(job: Job) -> str:
    """Time from submission to the first start; honest for a job that has not started."""
    if job.started_at is None:
        return "Not started yet."
    return f"Waited {_seconds((job.started_at - job.created_at).total_seconds())} before starting."


def alt_text(job: Job) -> str:
    """The image's text alternative: what was asked for, in the owner's words."""
    prompt = " ".join(job.prompt.split())
    if len(prompt) > ALT_PROMPT_CHARS:
        prompt = prompt[: ALT_PROMPT_CHARS - 1] + "…"
    return f"Generated image: {prompt}" if prompt else "Generated image"
