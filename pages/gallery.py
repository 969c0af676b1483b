"""Image tiles shared by the Generate feed and the History gallery: a job's image (alt text
from its prompt) with its status, what is happening now, and its per-image actions. Never a
page of its own."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from itertools import groupby

import streamlit as st

from core.domain.models import Job, JobStatus, User
from pages import widgets
from pages.job_text import progress_text


def now() -> datetime:
    return datetime.now(UTC)


def batches(jobs: Iterable[Job]) -> list[list[Job]]:
    """Consecutive jobs of one batch together, in the listing's order (newest batch first)."""
    return [list(group) for _key, group in groupby(jobs, key=lambda j: j.batch_id or j.id)]


def batch_heading(batch: list[Job]) -> str:
    """'4 images · demo · 2026-12-01 10:02:11' above a batch; the prompt is shown as text."""
    first = batch[0]
    when = widgets.fmt_time(first.created_at)
    if len(batch) == 1:
        return f"1 image · {first.provider} · {when}"
    return f"{len(batch)} images · {first.provider} · {when}"


def image_actions(user: User, job: Job, *, key: str) -> None:
    """The per-image actions under a tile and in the lightbox. MERGE POINT (issue 11): the
    Edit page's `pages.iterate.job_actions(user, job, key=key)` ("Edit", "Variations") is
    called here, once, so every place that shows an image gets it."""
    widgets.download_button(user, job, key=f"{key}_dl")


def tile(
    user: User,
    job: Job,
    url: str | None,
    position: int | None,
    *,
    key: str,
    thumb: bool = True,
    actions: bool = True,
) -> None:
    """One job as a tile: status badge, the image (or why there is none) and the progress line."""
    with st.container(border=True):
        widgets.status_badge(job, position)
        if job.status is JobStatus.DONE:
            widgets.show_job_image(user, job, url, thumb=thumb)
        elif job.status is JobStatus.FAILED:
            st.text(job.error_message or "The image could not be generated.")
        line = progress_text(job, now())
        if line:
            st.caption(widgets.md_escape(line))
        if actions and job.status is JobStatus.DONE:
            image_actions(user, job, key=key)
