"""Edit and iterate: the actions on a finished image ("Edit", "Variations") that every page
showing one calls (History details, Generate results, the gallery's lightbox), and the session
keys they hand to the Edit page. One function, so every entry point behaves the same."""

from __future__ import annotations

from collections.abc import Callable

import streamlit as st

from core.domain.errors import AuthRequired, StudioError
from core.domain.models import Job, JobKind, JobRequest, JobStatus, User
from pages import widgets
from pages.i18n import t

EDIT_PAGE = "pages/edit.py"
SOURCE_KEY = "edit_source_job"  # the finished job the editor opens on
RESULTS_KEY = "edit_results"  # {"job_ids": [...], "made_by": str, "prompt": str}: the last batch
MAX_VARIATIONS = 4
MODE_KEY = "edit_mode"  # the Edit page's mode: "edit" or "references"
# Each lineage kind's name (JobKind values), in the session's language via t().
KIND_NAMES = {
    JobKind.GENERATE: "kind.generate",
    JobKind.EDIT: "kind.edit",
    JobKind.VARIATION: "kind.variation",
    JobKind.REFERENCE: "kind.reference",
    JobKind.COMPARE: "kind.compare",
}


def open_editor(job_id: str | None = None) -> None:
    """Go to the Edit page, on a finished job's image when `job_id` is given (also in the
    URL, so a reload keeps it)."""
    st.session_state[MODE_KEY] = "edit"
    if job_id is None:
        st.session_state.pop(SOURCE_KEY, None)
        st.switch_page(EDIT_PAGE)
    st.session_state[SOURCE_KEY] = job_id
    st.switch_page(EDIT_PAGE, query_params={"job": job_id})


def job_actions(user: User, job: Job, *, key: str) -> None:
    """ "Edit" and "Variations" for one of the user's finished images; nothing otherwise.
    `key` makes the widget keys unique on the calling page."""
    if job.status is not JobStatus.DONE or job.user_id != user.id:
        return
    with st.container(horizontal=True, width="content"):
        if st.button(t("iterate.edit"), key=f"{key}_edit", icon=":material/ink_highlighter:"):
            open_editor(job.id)
        with st.popover(t("iterate.variations"), icon=":material/auto_awesome_motion:"):
            st.caption(t("iterate.variations_hint"))
            count = st.number_input(
                t("iterate.how_many"),
                1,
                MAX_VARIATIONS,
                2,
                key=f"{key}_vary_count",
                help=t("iterate.one_job_each"),
            )
            if st.button(t("iterate.make_variations"), key=f"{key}_vary", type="primary"):
                vary(user, job, int(count))


def vary(user: User, job: Job, count: int) -> None:
    """Queue `count` variations of `job` and show them on the Edit page."""
    request = JobRequest(
        provider=job.provider,
        model=job.model,
        prompt=job.prompt,
        kind=JobKind.VARIATION,
        parent_id=job.id,
    )
    try:
        jobs = widgets.services().jobs.submit_iteration(user, request, count=count)
    except AuthRequired:
        raise
    except StudioError as exc:
        widgets.show_error(exc)
        return
    st.session_state[RESULTS_KEY] = {
        "job_ids": [j.id for j in jobs],
        "made_by": "variations",
        "prompt": widgets.short(job.prompt, 40),
    }
    open_editor(job.id)


def lineage_strip(user: User, job: Job, open_job: Callable[[str], None], *, key: str) -> None:
    """The chain the job came from (oldest first, the job last) as thumbnails with their kind;
    `open_job(id)` opens one. Nothing for a job with no parent."""
    if job.parent_id is None:
        return
    try:
        chain = widgets.services().jobs.lineage(user, job.id)
    except StudioError:
        return
    st.markdown(t("iterate.made_from"))
    urls = widgets.image_sources(user, chain, thumbs=True)
    columns = st.columns(max(len(chain), 4))
    for column, link in zip(columns, chain, strict=False):
        with column:
            widgets.show_job_image(user, link, urls.get(link.id), thumb=True)
            st.caption(
                t("iterate.link", kind=kind_name(link.kind), prompt=widgets.short(link.prompt, 24))
            )
            if link.id != job.id and st.button(t("iterate.open"), key=f"{key}_open_{link.id}"):
                open_job(link.id)


def kind_name(kind: JobKind) -> str:
    """A lineage kind's name in this session's language."""
    return t(KIND_NAMES[kind])


def results_heading(results: dict[str, object]) -> str:
    """The heading over the Edit page's last batch (RESULTS_KEY), in this session's language."""
    if results.get("made_by") == "variations":
        return t("iterate.variations_of", prompt=str(results.get("prompt") or ""))
    return t("iterate.results")
