"""History: one's own jobs, newest first, as an image-first gallery (uniform tiles, batches
together, status on each tile) with filters in a collapsible section and keyset pages. A tile
opens the lightbox: the full image, prompt, parameters and actions, previous/next by button or
←/→, Esc to close. The open job is in the URL (?job=ID) and the filters too, so reload,
Back/Forward and a shared link land on the same view. Favourites (issue 12): a star on each tile
and in the lightbox, and a filter; "Select images" ticks tiles to download them as one zip or
delete them together (pages/selection.py)."""

from __future__ import annotations

from collections.abc import Callable

import streamlit as st

from core.domain.errors import AuthRequired, NotFound, StudioError
from core.domain.models import Job, JobKind, JobPage, JobQuery, JobStatus, User
from pages import gallery, iterate, names, selection, widgets
from pages.failures import failure_text
from pages.i18n import option_names, t
from pages.job_text import retry_text, waited_text

PAGE_SIZE = 24
CURSORS_KEY = "history_cursors"
FILTERS_KEY = "history_filters"
FLASH_KEY = "history_flash"
PAGE_IDS_KEY = "history_page_ids"
FILTER_WIDGETS = ("hist_status", "hist_provider", "hist_kind", "hist_text", "hist_starred")
REVIEW_NAMES = {
    "unreviewed": "review_status.unreviewed",
    "approved": "review_status.approved",
    "rejected": "review_status.rejected",
    "flagged": "review_status.flagged",
}

user = widgets.require_user()
svc = widgets.services()


# ---- the open job lives in the URL (pages.gallery: ?job=ID) -----------------------------------

JOB_PARAM = gallery.JOB_PARAM
opened_id = gallery.opened_id
_open = gallery.open_job
_close = gallery.close_job


def _flash(message: str) -> None:
    st.session_state[FLASH_KEY] = message


def _neighbour(job_id: str, step: int) -> str | None:
    """The job before/after `job_id` on the gallery page it was opened from."""
    return gallery.neighbour(st.session_state.get(PAGE_IDS_KEY) or [], job_id, step)


# ---- actions --------------------------------------------------------------------------------


def _act(user: User, action: str, job: Job) -> None:
    """Run one action on a job; errors are shown, never raised (but a refused session is left
    to the page, which signs the tab out)."""
    try:
        if action == "retry":
            new = svc.jobs.retry(user, job.id)
            message = t("history.queued_again")
            if new.model != job.model:  # the job's model has shut down since
                provider = svc.jobs.provider(job.provider)
                notice = names.switch_notice(provider, job.model, new.model)
                message = t("history.queued_again_switched", notice=notice)
            _flash(message)
            _open(new.id)
        elif action == "cancel":
            svc.jobs.cancel(user, job.id)
            _flash(t("history.canceled"))
        elif action in ("star", "unstar"):
            svc.jobs.set_starred(user, [job.id], action == "star")
            _flash(t("favourites.starred" if action == "star" else "favourites.unstarred"))
        elif action == "delete":
            following = _neighbour(job.id, +1) or _neighbour(job.id, -1)
            svc.jobs.delete(user, job.id)
            _flash(t("history.deleted"))
            _open(following)
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
    _close()  # coming back to History shows the gallery, not this job
    st.switch_page("pages/generate.py")


# ---- the lightbox ---------------------------------------------------------------------------


def _lightbox_nav(job: Job) -> None:
    gallery.lightbox_nav(
        _neighbour(job.id, -1),
        _neighbour(job.id, +1),
        key="hist",
        labels=(t("history.previous"), t("history.next"), t("history.back")),
    )


def _lightbox_actions(user: User, job: Job) -> None:
    with st.container(horizontal=True):
        gallery.image_actions(user, job, key=f"hist_{job.id}")
        if job.status in (JobStatus.FAILED, JobStatus.CANCELED) and st.button(
            t("history.retry"), key="hist_retry", icon=":material/refresh:"
        ):
            _act(user, "retry", job)
        if job.status is JobStatus.QUEUED and st.button(
            t("history.cancel"), key="hist_cancel", icon=":material/cancel:"
        ):
            _act(user, "cancel", job)
        starring = "unstar" if job.starred else "star"
        if st.button(
            t("favourites.unstar") if job.starred else t("favourites.star"),
            key="hist_star",
            icon=":material/star:" if job.starred else ":material/star_outline:",
        ):
            _act(user, starring, job)
        if st.button(t("history.use_prompt"), key="hist_use", icon=":material/edit:"):
            _use_prompt(job)
        if job.status is not JobStatus.PROCESSING:
            with st.popover(t("history.delete"), icon=":material/delete:"):
                st.text(t("history.delete_confirm"))
                if st.button(t("history.delete_yes"), key="hist_delete", type="primary"):
                    _act(user, "delete", job)


def _provider_name(job: Job) -> str:
    provider = svc.jobs.providers.get(job.provider)
    return names.provider_label(provider) if provider else job.provider


def _model_name(job: Job) -> str:
    provider = svc.jobs.providers.get(job.provider)
    try:
        return names.model_label(provider, job.model) if provider else job.model
    except StudioError:  # a model the provider no longer lists
        return job.model


def _job_info(job: Job) -> None:
    st.markdown(t("history.prompt_heading"))
    st.code(job.prompt, language=None, wrap_lines=True)
    st.markdown(t("history.model_heading"))
    st.text(t("history.provider_model", provider=_provider_name(job), model=_model_name(job)))
    st.markdown(t("history.params_heading"))
    if job.params:
        st.json(job.params, expanded=True)
    else:
        st.text(t("history.model_defaults"))
    st.markdown(t("history.timings_heading"))
    lines = [
        t("history.created", time=widgets.fmt_time(job.created_at)),
        t("history.started", time=widgets.fmt_time(job.started_at)),
        t("history.finished", time=widgets.fmt_time(job.finished_at)),
        waited_text(job),
        t("history.generation", time=widgets.fmt_seconds(job.started_at, job.finished_at)),
    ]
    st.text("\n".join(lines))
    st.text(t("history.attempts", attempt=job.attempts, attempts=job.max_attempts))
    retry = retry_text(job, gallery.now())
    if retry:
        st.text(retry)
    elif job.error_message and job.status is not JobStatus.FAILED:
        st.text(t("history.last_error", code=job.error_code or "error", error=job.error_message))
    review = t(REVIEW_NAMES[job.review_status.value])
    if job.review_note:
        st.text(t("history.review_note", review=review, note=job.review_note))
    else:
        st.text(t("history.review", review=review))


def _lightbox_body(user: User, job_id: str) -> None:
    try:
        job = svc.jobs.get_job(user, job_id)
    except NotFound:
        st.warning(t("history.not_found"))
        if st.button(t("history.back"), key="hist_back"):
            _close()
            st.rerun()
        return
    _lightbox_nav(job)
    widgets.status_badge(job)
    image_col, info_col = st.columns([3, 2], gap="large")
    with image_col, st.container(key="lightbox_image"):
        if job.status is JobStatus.DONE:
            urls = widgets.image_sources(user, [job], thumbs=False)
            widgets.show_job_image(user, job, urls.get(job.id), thumb=False)
        elif job.status is JobStatus.FAILED:
            st.text(t("history.no_image", reason=failure_text(job) or ""))
        else:
            st.text(t("history.no_image_yet", status=t(widgets.STATUS_BADGES[job.status][0])))
            st.caption(t("history.reopen"))
    with info_col:
        _lightbox_actions(user, job)
        _job_info(job)
    iterate.lineage_strip(user, job, _open_from_lightbox, key="hist_chain")


def _open_from_lightbox(job_id: str) -> None:
    _open(job_id)
    st.rerun()


@st.dialog(t("history.image"), width="large", on_dismiss=_close)
def _lightbox(job_id: str) -> None:
    with widgets.live_user() as user:
        _lightbox_body(user, job_id)


# ---- the gallery ----------------------------------------------------------------------------


def _clear_filters() -> None:
    st.session_state["hist_status"] = []
    st.session_state["hist_provider"] = []
    st.session_state["hist_kind"] = []
    st.session_state["hist_text"] = ""
    st.session_state["hist_starred"] = False


def _filters() -> tuple[JobQuery, bool]:
    """The filters (collapsible, bound to the URL); changing one goes back to the first page.
    Returns the query and whether any filter is set."""
    statuses = [s.value for s in JobStatus]
    providers = svc.jobs.providers
    with st.expander(t("history.filters"), icon=":material/filter_list:"):
        cols = st.columns([2, 2, 2, 3])
        chosen_status = cols[0].multiselect(
            t("history.status"),
            statuses,
            key="hist_status",
            bind="query-params",
            persist_state="session",
            placeholder=t("common.choose"),
            format_func=option_names(
                {s.value: t(widgets.STATUS_BADGES[s][0]) for s in JobStatus}, key="hist_status"
            ),
        )
        chosen_providers = cols[1].multiselect(
            t("history.provider"),
            sorted(providers),
            placeholder=t("common.choose"),
            format_func=option_names(
                {name: names.provider_label(p) for name, p in providers.items()},
                key="hist_provider",
            ),
            key="hist_provider",
            bind="query-params",
            persist_state="session",
        )
        chosen_kinds = cols[2].multiselect(
            t("history.kind"),
            [k.value for k in JobKind],
            placeholder=t("common.choose"),
            format_func=option_names(
                {k.value: iterate.kind_name(k) for k in JobKind}, key="hist_kind"
            ),
            key="hist_kind",
            bind="query-params",
            persist_state="session",
        )
        text = (
            cols[3].text_input(
                t("history.search"), key="hist_text", bind="query-params", persist_state="session"
            )
            or ""
        ).strip()
        starred = st.toggle(
            t("favourites.only_starred"),
            key="hist_starred",
            bind="query-params",
            persist_state="session",
        )
    filters = (tuple(chosen_status), tuple(chosen_providers), text, tuple(chosen_kinds), starred)
    query = JobQuery(
        starred=starred,
        kinds=tuple(JobKind(k) for k in chosen_kinds),
        statuses=tuple(JobStatus(s) for s in chosen_status),
        providers=tuple(chosen_providers),
        text=text or None,
        limit=PAGE_SIZE,
        cursor=widgets.page_cursor(CURSORS_KEY, FILTERS_KEY, filters),
    )
    return query, any(filters)


def _empty_state(query: JobQuery, filtered: bool) -> None:
    if query.cursor is not None:
        st.info(t("history.no_more"))
        if st.button(t("history.first_page"), key="hist_first_page"):
            st.session_state[CURSORS_KEY] = [None]
            st.rerun()
    elif filtered:
        st.info(t("history.no_match"))
        st.button(t("history.clear_filters"), key="hist_clear", on_click=_clear_filters)
    else:
        st.info(t("history.no_images"))
        if st.button(t("history.to_generate"), key="hist_to_generate", icon=":material/brush:"):
            st.switch_page("pages/generate.py")


def _grid(user: User, jobs: list[Job]) -> None:
    queued = [j.id for j in jobs if j.status is JobStatus.QUEUED]
    positions = svc.jobs.queue_positions(user, queued) if queued else {}
    urls = widgets.image_sources(user, jobs, thumbs=True)
    st.session_state[PAGE_IDS_KEY] = [j.id for j in jobs]
    labels = gallery.open_labels(jobs)
    selecting = selection.active()
    if selecting:
        selection.toolbar(user, jobs, on_done=_flash)
    clicked = gallery.grid(
        user,
        jobs,
        key="hist",
        urls=urls,
        labels=labels,
        positions=positions,
        controls=lambda job: _tile_controls(user, job, labels[job.id], selecting),
    )
    if clicked:
        _open(clicked)
        st.rerun(scope="app")


def _tile_controls(user: User, job: Job, label: str, selecting: bool) -> Callable[[], None]:
    """The star of a tile and, while selecting, its select box."""

    def draw() -> None:
        if gallery.star_button(job, label, key="hist"):
            _act(user, "unstar" if job.starred else "star", job)
        if selecting:
            selection.checkbox(job, label)

    return draw


def _jobs_view(user: User, query: JobQuery, filtered: bool, page: JobPage) -> bool:
    """The gallery and pager; True while a shown job is unfinished (the live fragment then
    redraws on the next change of the user's jobs)."""
    if not page.items:
        _empty_state(query, filtered)
        return False
    _grid(user, page.items)
    widgets.pager(CURSORS_KEY, page.next_cursor)
    return any(not j.status.finished for j in page.items)


st.title(t("nav.history"))
gallery.style()
flash = st.session_state.pop(FLASH_KEY, None)
if flash:
    st.success(flash)

query, filtered = _filters()
selection.mode_toggle()
try:
    first = svc.jobs.list_jobs(user, query)  # read once: the full run's fragment draws this
except AuthRequired:
    first = None  # the fragment reads again and signs the tab out
except StudioError as exc:
    widgets.show_error(exc)
    st.stop()


def _live_body(user: User) -> bool:
    page = svc.jobs.list_jobs(user, query) if widgets.in_fragment_run() or first is None else first
    return _jobs_view(user, query, filtered, page)


widgets.live_fragment(
    _live_body, live=first is None or any(not j.status.finished for j in first.items)
)

open_id = opened_id()
if open_id:
    _lightbox(open_id)
elif JOB_PARAM in st.query_params:
    _close()  # not a job id: drop it, show the gallery
