"""History: one's own jobs, newest first, as a filtered thumbnail grid with keyset pagination;
open a job for its details and actions."""

from __future__ import annotations

import streamlit as st

from core.domain.errors import AuthRequired, NotFound, StudioError
from core.domain.models import Job, JobKind, JobPage, JobQuery, JobStatus, User
from pages import iterate, widgets

PAGE_SIZE = 24
GRID_COLUMNS = 4
OPEN_KEY = "history_open"
CURSORS_KEY = "history_cursors"
FILTERS_KEY = "history_filters"
FLASH_KEY = "history_flash"
FILTER_WIDGETS = ("hist_status", "hist_provider", "hist_text", "hist_kind")

user = widgets.require_user()
svc = widgets.services()


def _flash(message: str) -> None:
    st.session_state[FLASH_KEY] = message


def _act(user: User, action: str, job: Job) -> None:
    """Run one action on a job; errors are shown, never raised (but a refused session is left
    to the live fragment, which signs the tab out)."""
    try:
        if action == "retry":
            new = svc.jobs.retry(user, job.id)
            message = "Queued again as a new job."
            if new.model != job.model:  # the job's model has shut down since
                old = svc.jobs.provider(job.provider).model(job.model)
                message = f"{old.switch_notice(new.model)} {message}"
            _flash(message)
            st.session_state[OPEN_KEY] = new.id
        elif action == "cancel":
            svc.jobs.cancel(user, job.id)
            _flash("Canceled.")
        elif action == "delete":
            svc.jobs.delete(user, job.id)
            _flash("Deleted.")
            st.session_state.pop(OPEN_KEY, None)
    except AuthRequired:
        raise
    except StudioError as exc:
        widgets.show_error(exc)
        return
    st.rerun()


def _use_prompt(job: Job) -> None:
    st.session_state["prefill"] = {
        "prompt": job.prompt,
        "provider": job.provider,
        "model": job.model,
        "params": dict(job.params),
    }
    st.switch_page("pages/generate.py")


def _open(job_id: str) -> None:
    st.session_state[OPEN_KEY] = job_id
    st.rerun()


def _job_details(user: User, job_id: str) -> Job | None:
    try:
        job = svc.jobs.get_job(user, job_id)
    except NotFound:
        st.session_state.pop(OPEN_KEY, None)
        st.warning("That job no longer exists.")
        return None
    if st.button("Back to history", icon=":material/arrow_back:"):
        st.session_state.pop(OPEN_KEY, None)
        st.rerun()
    widgets.status_badge(job)
    with st.container(horizontal=True):
        widgets.download_button(user, job, key=f"hist_dl_{job.id}")
        iterate.job_actions(user, job, key=f"hist_{job.id}")
        if job.status in (JobStatus.FAILED, JobStatus.CANCELED) and st.button(
            "Retry", key="hist_retry", icon=":material/refresh:"
        ):
            _act(user, "retry", job)
        if job.status is JobStatus.QUEUED and st.button(
            "Cancel", key="hist_cancel", icon=":material/cancel:"
        ):
            _act(user, "cancel", job)
        if st.button("Use this prompt", key="hist_use", icon=":material/edit:"):
            _use_prompt(job)
        if job.status is not JobStatus.PROCESSING:
            with st.popover("Delete", icon=":material/delete:"):
                st.text("Delete this job and its image for good?")
                if st.button("Yes, delete", key="hist_delete", type="primary"):
                    _act(user, "delete", job)

    iterate.lineage_strip(user, job, _open, key="hist_chain")
    image_col, info_col = st.columns([3, 2], gap="large")
    with image_col:
        if job.status is JobStatus.DONE:
            urls = widgets.image_sources(user, [job], thumbs=False)
            widgets.show_job_image(user, job, urls.get(job.id), thumb=False)
        elif job.status is JobStatus.FAILED:
            st.text(f"No image: {job.error_message or 'the job failed'}")
        else:
            st.text(f"No image yet: the job is {job.status.value}.")
    with info_col:
        st.markdown("**Prompt**")
        st.code(job.prompt, language=None, wrap_lines=True)
        st.markdown("**Provider and model**")
        st.text(f"{job.provider} · {job.model}")
        st.markdown("**Parameters**")
        if job.params:
            st.json(job.params, expanded=True)
        else:
            st.text("Model defaults")
        st.markdown("**Timings**")
        st.text(
            f"Created: {widgets.fmt_time(job.created_at)}\n"
            f"Started: {widgets.fmt_time(job.started_at)}\n"
            f"Finished: {widgets.fmt_time(job.finished_at)}\n"
            f"Waited in queue: {widgets.fmt_seconds(job.created_at, job.started_at)}\n"
            f"Generation: {widgets.fmt_seconds(job.started_at, job.finished_at)}"
        )
        st.text(f"Attempts: {job.attempts} of {job.max_attempts}")
        if job.error_message and job.status is not JobStatus.FAILED:
            st.text(f"Last error ({job.error_code or 'error'}): {job.error_message}")
        review = job.review_status.value
        st.text(f"Review: {review}" + (f" — {job.review_note}" if job.review_note else ""))
    return job


def _filters() -> JobQuery:
    """The filter bar; changing a filter goes back to the first page. The choices outlive a
    visit to a job's details (Streamlit drops the state of widgets that were not drawn)."""
    for key in FILTER_WIDGETS:
        if key not in st.session_state and f"_{key}" in st.session_state:
            st.session_state[key] = st.session_state[f"_{key}"]
    statuses = [s.value for s in JobStatus]
    cols = st.columns([2, 2, 2, 3])
    chosen_status = cols[0].multiselect("Status", statuses, key="hist_status")
    chosen_providers = cols[1].multiselect(
        "Provider", sorted(svc.jobs.providers), key="hist_provider"
    )
    chosen_kinds = cols[2].multiselect("Kind", [k.value for k in JobKind], key="hist_kind")
    text = cols[3].text_input("Search prompts", key="hist_text").strip()
    for key in FILTER_WIDGETS:
        st.session_state[f"_{key}"] = st.session_state[key]
    filters = (tuple(chosen_status), tuple(chosen_providers), text, tuple(chosen_kinds))
    return JobQuery(
        kinds=tuple(JobKind(k) for k in chosen_kinds),
        statuses=tuple(JobStatus(s) for s in chosen_status),
        providers=tuple(chosen_providers),
        text=text or None,
        limit=PAGE_SIZE,
        cursor=widgets.page_cursor(CURSORS_KEY, FILTERS_KEY, filters),
    )


def _grid(user: User, jobs: list[Job]) -> None:
    queued = [j.id for j in jobs if j.status is JobStatus.QUEUED]
    positions = svc.jobs.queue_positions(user, queued) if queued else {}
    urls = widgets.image_sources(user, jobs, thumbs=True)
    for start in range(0, len(jobs), GRID_COLUMNS):
        row = st.columns(GRID_COLUMNS)
        for col, job in zip(row, jobs[start : start + GRID_COLUMNS], strict=False):
            with col, st.container(border=True):
                widgets.status_badge(job, positions.get(job.id))
                widgets.show_job_image(user, job, urls.get(job.id), thumb=True)
                st.text(widgets.short(job.prompt, 60))
                if job.status is JobStatus.FAILED and job.error_message:
                    st.text(f"Why: {widgets.short(job.error_message, 80)}")
                st.caption(f"{job.provider} · {widgets.fmt_time(job.created_at)}")
                if st.button("Open", key=f"hist_open_{job.id}", width="stretch"):
                    st.session_state[OPEN_KEY] = job.id
                    st.rerun()


st.title("History")
flash = st.session_state.pop(FLASH_KEY, None)
if flash:
    st.success(flash)


def _jobs_view(user: User, query: JobQuery, first: JobPage | None) -> bool:
    """The grid and pager (`first`: the page the full run read already); True while a shown
    job is unfinished (the live fragment then redraws it as jobs change)."""
    try:
        page = first if first is not None and not widgets.in_fragment_run() else None
        page = page or svc.jobs.list_jobs(user, query)
    except AuthRequired:
        raise
    except StudioError as exc:
        widgets.show_error(exc)
        return False
    if not page.items:
        st.info("No jobs here yet." if query.cursor is None else "No more jobs.")
    _grid(user, page.items)
    widgets.pager(CURSORS_KEY, page.next_cursor)
    return _unfinished(page.items)


def _details_view(user: User, job_id: str) -> bool:
    job = _job_details(user, job_id)
    return job is not None and not job.status.finished


def _unfinished(jobs: list[Job]) -> bool:
    return any(not j.status.finished for j in jobs)


open_id = st.session_state.get(OPEN_KEY)
if open_id:
    try:
        live = _unfinished([svc.jobs.get_job(user, open_id)])
    except StudioError:
        live = False
    widgets.live_fragment(lambda user: _details_view(user, open_id), live=live)
else:
    query = _filters()
    try:
        first: JobPage | None = svc.jobs.list_jobs(user, query)
    except StudioError:
        first = None
    live = first is not None and _unfinished(first.items)
    widgets.live_fragment(lambda user: _jobs_view(user, query, first), live=live)
