"""Image tiles shared by the Generate feed and the History and Review galleries: a job's image
(alt text from its prompt) with its status, what is happening now, and its per-image actions;
the grid of uniform tiles, the opened job in the URL (?job=ID) and the lightbox's
previous / next / back row. Never a page of its own."""

from __future__ import annotations

import html
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from itertools import groupby

import streamlit as st

from core.domain.models import Job, JobStatus, User, is_uuid
from pages import iterate, names, widgets
from pages.failures import failure_text
from pages.i18n import t
from pages.job_text import progress_text

TILE_WIDTH = 168  # px: 2 tiles side by side on a 390 px phone, 5–6 on a 1400 px desktop

# Uniform square tiles; the open button's click area stretches over the whole tile (the
# "stretched link" pattern), so a click anywhere on the image opens it, while keyboard users
# tab to one button per tile with a unique accessible name and a visible focus ring.
STYLE = """
<style>
[class*="st-key-tile_"] { position: relative; }
[class*="st-key-tile_"] .stElementContainer:has(.stButton),
[class*="st-key-tile_"] .stButton,
[class*="st-key-tile_"] .stButton > div { position: static !important; }
[class*="st-key-tile_"] .stButton button::after {
  content: ""; position: absolute; inset: 0; z-index: 1; border-radius: 0.5rem;
}
[class*="st-key-tile_"] .stButton button:focus-visible::after { outline: 3px solid #1c4fd8; }
[class*="st-key-tile_"] .stButton button { justify-content: flex-start; min-height: 0; }
[class*="st-key-tile_"] .stButton button p {
  overflow: hidden; text-overflow: ellipsis; white-space: nowrap; max-width: 100%;
}
[class*="st-key-tile_"] [data-testid="stImage"] img,
[class*="st-key-tile_"] .tile-square {
  aspect-ratio: 1 / 1; object-fit: cover; width: 100%; border-radius: 0.375rem;
}
[class*="st-key-lightbox_image"] [data-testid="stImage"] img {
  max-height: 72vh; object-fit: contain;
}
@media (max-width: 640px) {
  [data-testid="stLayoutWrapper"]:has(> [class*="st-key-tile_"]) {
    width: calc(50% - 0.5rem) !important; flex: 0 0 calc(50% - 0.5rem) !important;
    min-width: 0 !important; max-width: calc(50% - 0.5rem) !important;
  }
  [data-testid="stLayoutWrapper"]:has(> [class*="_batch_"]) { width: 100% !important; }
  [class*="_batch_"] { padding: 0.5rem !important; }
}
/* favourites and selection (issue 12): the star and the select box sit above the tile's
   stretched open button; the star's words are for screen readers, the eye sees ★ or ☆ */
[class*="st-key-tile_"] [class*="_staron_"] button::after,
[class*="st-key-tile_"] [class*="_staroff_"] button::after { content: none; }
[class*="_staron_"] button, [class*="_staroff_"] button,
[class*="st-key-tile_"] .stCheckbox { position: relative !important; z-index: 2; }
/* the whole row, so the controls stay above the open button also while a redraw fades them
   (a faded element is its own stacking context) */
[class*="st-key-tilectl_"] { position: relative !important; z-index: 2; }
[class*="_staron_"] button p, [class*="_staroff_"] button p {
  position: absolute !important; width: 1px; height: 1px; overflow: hidden;
  clip: rect(0 0 0 0); white-space: nowrap;
}
[class*="_staron_"] button::before { content: "★"; color: #a15c00; font-size: 1.25rem; }
[class*="_staroff_"] button::before { content: "☆"; font-size: 1.25rem; }
[class*="st-key-tile_"] .tile-square {
  display: flex; align-items: center; justify-content: center; text-align: center;
  padding: 0.5rem; box-sizing: border-box; overflow: hidden; font-size: 0.85rem;
  background: rgba(128, 128, 128, 0.12);
}
/* a line under the image (Review: whose image it is), plain text, one line */
[class*="st-key-tile_"] .tile-line {
  overflow: hidden; text-overflow: ellipsis; white-space: nowrap; font-size: 0.85rem;
}
</style>
"""


def now() -> datetime:
    return datetime.now(UTC)


def batches(jobs: Iterable[Job]) -> list[list[Job]]:
    """Consecutive jobs of one batch together, in the listing's order (newest batch first)."""
    return [list(group) for _key, group in groupby(jobs, key=lambda j: j.batch_id or j.id)]


def batch_heading(batch: list[Job]) -> str:
    """'4 images · Demo (offline, no AI) · Dec 1, 2026, 10:02:11 AM' above a batch (in the
    session's language); the prompt is shown as text."""
    first = batch[0]
    provider = widgets.services().jobs.providers.get(first.provider)
    return t(
        "gallery.batch_heading",
        count=len(batch),
        provider=names.provider_label(provider) if provider else first.provider,
        when=widgets.fmt_time(first.created_at),
    )


def image_actions(user: User, job: Job, *, key: str) -> None:
    """The per-image actions under a tile and in the lightbox: Download, and the Edit page's
    "Edit" and "Variations" (pages.iterate), so every place that shows an image has them."""
    widgets.download_button(user, job, key=f"{key}_dl")
    iterate.job_actions(user, job, key=key)


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
            st.text(failure_text(job) or t("gallery.not_generated"))
        line = progress_text(job, now())
        if line:
            st.caption(widgets.md_escape(line))
        if actions and job.status is JobStatus.DONE:
            image_actions(user, job, key=key)


def style() -> None:
    """The gallery's CSS, once per page run."""
    st.html(STYLE)


def open_labels(jobs: list[Job]) -> dict[str, str]:
    """Each tile's button text: the prompt, shortened; numbered where two would read the same,
    so every button has a unique accessible name."""
    base = {job.id: widgets.short(job.prompt, 40) or t("gallery.untitled") for job in jobs}
    total = Counter(base.values())
    seen: Counter[str] = Counter()
    labels: dict[str, str] = {}
    for job in jobs:
        text = base[job.id]
        if total[text] > 1:
            seen[text] += 1
            text = t("gallery.numbered", label=text, number=seen[text], total=total[text])
        labels[job.id] = text
    return labels


@contextmanager
def batch_group(batch: list[Job], *, key: str) -> Iterator[None]:
    """A batch's tiles side by side in one bordered group (they wrap on a narrow screen)."""
    batch_id = batch[0].batch_id or batch[0].id
    with st.container(
        horizontal=True, border=len(batch) > 1, width="content", key=f"{key}_batch_{batch_id}"
    ):
        yield


def gallery_tile(
    user: User,
    job: Job,
    url: str | None,
    position: int | None,
    *,
    label: str,
    key: str,
    controls: Callable[[], None] | None = None,
    line: str | None = None,
    badge: Callable[[], None] | None = None,
) -> bool:
    """One uniform tile: status badge, a square image (or a square saying why there is none)
    and the prompt as the button that opens it. True when it was clicked. `controls` draws
    beside the badge, above the stretched open button (the star, the select box); `line` is
    plain text under the image (never a link, even an email); `badge` replaces the status
    badge (Review: the review state)."""
    badge = badge or (lambda: widgets.status_badge(job, position))
    with st.container(key=f"tile_{job.id}", width=TILE_WIDTH, gap="xsmall"):
        if controls is None:
            badge()
        else:
            with st.container(
                horizontal=True,
                vertical_alignment="center",
                gap="xsmall",
                key=f"tilectl_{job.id}",
            ):
                badge()
                controls()
        if job.status is JobStatus.DONE:
            widgets.show_job_image(user, job, url, thumb=True)
        else:
            words = progress_text(job, now())
            if job.status is JobStatus.FAILED:
                words = failure_text(job) or t("gallery.not_generated")
            words = words or status_words(job.status)
            st.html(f'<div class="tile-square">{html.escape(words)}</div>')
        if line:
            st.html(f'<div class="tile-line">{html.escape(line)}</div>')
        return st.button(label, key=key, type="tertiary", width="stretch")


def status_words(status: JobStatus) -> str:
    """A tile's words for a job without an image or a progress line."""
    return {
        JobStatus.QUEUED: t("gallery.waiting"),
        JobStatus.PROCESSING: t("gallery.being_generated"),
        JobStatus.DONE: t("gallery.done"),
        JobStatus.FAILED: t("gallery.failed"),
        JobStatus.CANCELED: t("gallery.canceled"),
    }[status]


def star_button(job: Job, name: str, *, key: str) -> bool:
    """The favourite star of a tile (★ starred, ☆ not): a button whose accessible name says
    what a press does to the image `name`. True when pressed."""
    if job.starred:
        label, state = t("favourites.unstar_named", name=name), "staron"
    else:
        label, state = t("favourites.star_named", name=name), "staroff"
    return st.button(label, key=f"{key}_{state}_{job.id}", type="tertiary")


# ---- the grid and the opened job (History and Review) ----------------------------------------

JOB_PARAM = "job"  # ?job=ID: the job open in the lightbox


def opened_id() -> str | None:
    """The job named by ?job=, when it is a job id at all."""
    value = st.query_params.get(JOB_PARAM)
    return value if is_uuid(value) else None


def open_job(job_id: str | None) -> None:
    """Open `job_id` (a new browser history entry, so Back closes it again), or close."""
    if job_id:
        st.query_params[JOB_PARAM] = job_id
    elif JOB_PARAM in st.query_params:
        del st.query_params[JOB_PARAM]


def close_job() -> None:
    open_job(None)


def neighbour(ids: Sequence[str], job_id: str, step: int) -> str | None:
    """The job before (-1) or after (+1) `job_id` in `ids` (the grid it was opened from)."""
    if job_id not in ids:
        return None
    index = list(ids).index(job_id) + step
    return ids[index] if 0 <= index < len(ids) else None


def grid(
    user: User,
    jobs: list[Job],
    *,
    key: str,
    urls: dict[str, str],
    labels: dict[str, str],
    positions: dict[str, int] | None = None,
    controls: Callable[[Job], Callable[[], None] | None] | None = None,
    line: Callable[[Job], str | None] | None = None,
    badge: Callable[[Job], Callable[[], None] | None] | None = None,
) -> str | None:
    """The uniform tiles, batches together; the id of the tile clicked in this run, if any.
    Each tile's open button has the key `{key}_open_{job id}`."""
    clicked = None
    with st.container(horizontal=True, key=f"{key}_grid", gap="medium"):
        for batch in batches(jobs):
            with batch_group(batch, key=key):
                for job in batch:
                    if gallery_tile(
                        user,
                        job,
                        urls.get(job.id),
                        (positions or {}).get(job.id),
                        label=labels[job.id],
                        key=f"{key}_open_{job.id}",
                        controls=controls(job) if controls else None,
                        line=line(job) if line else None,
                        badge=badge(job) if badge else None,
                    ):
                        clicked = job.id
    return clicked


def lightbox_nav(
    before: str | None, after: str | None, *, key: str, labels: tuple[str, str, str]
) -> None:
    """Previous (←), next (→) and back to the grid, above an opened job. Each changes the URL
    and reruns the app."""
    steps = (
        (labels[0], before, "prev", ":material/chevron_left:", "Left"),
        (labels[1], after, "next", ":material/chevron_right:", "Right"),
    )
    with st.container(horizontal=True, key=f"{key}_nav"):
        for label, target, name, icon, shortcut in steps:
            if st.button(
                label,
                key=f"{key}_{name}",
                icon=icon,
                disabled=target is None,
                shortcut=shortcut,
            ):
                open_job(target)
                st.rerun()
        if st.button(labels[2], key=f"{key}_back", icon=":material/grid_view:"):
            close_job()
            st.rerun()
