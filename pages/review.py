"""Review (reviewers and admins): the queue of finished images from every user, oldest
unreviewed first, as the same gallery of uniform tiles as History (pages/gallery.py) with the
review state and the owner's email on each tile. A tile opens the image large in a dialog:
approve / reject / flag with a note (the next one opens), ←/→ to move, Esc to close. The
opened image is in the URL (?job=ID) and so are the main filters, so reload, Back/Forward and a
link shared with another reviewer land on the same view. Select several to decide them at once
or to compare 2–4 side by side."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import streamlit as st

from core.domain.errors import AuthRequired, StudioError
from core.domain.models import Job, JobQuery, JobStatus, ReviewStatus, Role, User
from pages import gallery, names, widgets
from pages.i18n import option_names, t

PAGE_SIZE = 24
COMPARE_KEY = "review_compare"
CURSORS_KEY = "review_cursors"
FILTERS_KEY = "review_filters"
ORDER_KEY = "review_order"
FLASH_KEY = "review_flash"
ERROR_KEY = "review_error"
NOTICE_KEY = "review_notice"
SELECT_PREFIX = "review_sel_"
BULK_NOTE_KEY = "review_note_bulk"
ALL = "all"
EVERYONE = "Everyone"  # the user filter's value for no filter (shown in the session's language)

REVIEW_BADGES: dict[ReviewStatus, tuple[str, str, str]] = {
    ReviewStatus.UNREVIEWED: ("review.badge_unreviewed", "gray", ":material/hourglass_empty:"),
    ReviewStatus.APPROVED: ("review.badge_approved", "green", ":material/thumb_up:"),
    ReviewStatus.REJECTED: ("review.badge_rejected", "red", ":material/thumb_down:"),
    ReviewStatus.FLAGGED: ("review.badge_flagged", "orange", ":material/flag:"),
}
# (status, button label's key, keyboard shortcut, icon)
DECISIONS: list[tuple[ReviewStatus, str, str, str]] = [
    (ReviewStatus.APPROVED, "review.approve", "A", ":material/thumb_up:"),
    (ReviewStatus.REJECTED, "review.reject", "X", ":material/thumb_down:"),
    (ReviewStatus.FLAGGED, "review.flag", "F", ":material/flag:"),
]
# The flash after a decision: how many images, in a whole sentence per decision.
DECIDED = {
    ReviewStatus.UNREVIEWED: "review.decided_unreviewed",
    ReviewStatus.APPROVED: "review.decided_approved",
    ReviewStatus.REJECTED: "review.decided_rejected",
    ReviewStatus.FLAGGED: "review.decided_flagged",
}
REVIEW_NAMES = {
    "unreviewed": "review_status.unreviewed",
    "approved": "review_status.approved",
    "rejected": "review_status.rejected",
    "flagged": "review_status.flagged",
}

user = widgets.require_user(Role.REVIEWER)
svc = widgets.services()


# ---- actions (button callbacks: they run before the script, so state can change freely) -----


def _record(job_ids: list[str], status: ReviewStatus, note: str) -> bool:
    """Record a decision; the flash says how many changed, an error is kept to show. True when
    it was recorded."""
    reviewer = widgets.current_user()  # re-checked: the role may have changed since the render
    try:
        if reviewer is None:
            raise AuthRequired("Sign in again.")
        changed = svc.review.set_review(reviewer, job_ids, status, note or None)
    except StudioError as exc:
        st.session_state[ERROR_KEY] = widgets.error_text(exc)
        return False
    st.session_state[FLASH_KEY] = t(DECIDED[status], count=changed)
    return True


def _decide_selection(job_ids: list[str], status: ReviewStatus) -> None:
    """The selection bar's buttons (a callback: it runs before the script)."""
    note = str(st.session_state.get(BULK_NOTE_KEY) or "")
    if _record(job_ids, status, note):
        for job_id in job_ids:
            st.session_state.pop(SELECT_PREFIX + job_id, None)
        st.session_state.pop(BULK_NOTE_KEY, None)


def _compare(job_ids: list[str]) -> None:
    st.session_state[COMPARE_KEY] = list(job_ids)


def _close_compare() -> None:
    st.session_state.pop(COMPARE_KEY, None)


def _neighbour(job_id: str, step: int) -> str | None:
    """The job before/after `job_id` in the grid the reviewer came from."""
    return gallery.neighbour(st.session_state.get(ORDER_KEY) or [], job_id, step)


# ---- pieces ---------------------------------------------------------------------------------


def _provider_name(name: str) -> str:
    provider = svc.jobs.providers.get(name)
    return names.provider_label(provider) if provider else name


def _review_badge(job: Job) -> None:
    key, color, icon = REVIEW_BADGES[job.review_status]
    st.badge(t(key), color=color, icon=icon)  # type: ignore[arg-type]


def _details(job: Job, emails: dict[str, str]) -> None:
    """Everything about a job, every user-supplied text as plain text."""
    st.markdown(t("review.prompt_heading"))
    st.code(job.prompt, language=None, wrap_lines=True)
    st.text(t("review.user_line", email=emails.get(job.user_id, job.user_id)))
    st.text(t("review.model_line", provider=_provider_name(job.provider), model=job.model))
    st.markdown(t("review.params_heading"))
    st.json(job.params or {}, expanded=True)
    meta = job.result_meta or {}
    if meta.get("width") and meta.get("height"):
        st.text(
            t(
                "review.image_line",
                width=str(meta["width"]),
                height=str(meta["height"]),
                mime=str(meta.get("mime") or "").rpartition("/")[2].upper(),  # "PNG"
            )
        )
    lines = [
        t("review.created", time=widgets.fmt_time(job.created_at)),
        t("review.finished", time=widgets.fmt_time(job.finished_at)),
        t("review.waited", time=widgets.fmt_seconds(job.created_at, job.started_at)),
        t("review.ran", time=widgets.fmt_seconds(job.started_at, job.finished_at)),
        t("review.attempts", attempt=job.attempts, attempts=job.max_attempts),
    ]
    st.text("\n".join(lines))
    if job.reviewed_at:
        who = emails.get(job.reviewed_by or "", "") or t("review.someone")
        st.text(
            t(
                "review.reviewed",
                status=t(REVIEW_NAMES[job.review_status.value]),
                who=who,
                time=widgets.fmt_time(job.reviewed_at),
            )
        )
        if job.review_note:
            st.text(t("review.note_line", note=job.review_note))


def _decision_buttons(job_ids: list[str], *, key: str) -> None:
    """Approve / reject / flag for the selection (A, X, F)."""
    row = st.container(horizontal=True)
    for status, label, shortcut, icon in DECISIONS:
        row.button(
            t(label),
            key=f"{key}_{status.value}",
            icon=icon,
            shortcut=shortcut,
            on_click=_decide_selection,
            args=(job_ids, status),
            type="primary" if status is ReviewStatus.APPROVED else "secondary",
        )


def _decide_one(job: Job, note_key: str) -> None:
    """Approve / reject / flag the opened image (A, X, F); once recorded the next image of the
    grid opens (or the grid, after the last)."""
    row = st.container(horizontal=True)
    for status, label, shortcut, icon in DECISIONS:
        if row.button(
            t(label),
            key=f"one_{status.value}",
            icon=icon,
            shortcut=shortcut,
            type="primary" if status is ReviewStatus.APPROVED else "secondary",
        ):
            if _record([job.id], status, str(st.session_state.get(note_key) or "")):
                gallery.open_job(_neighbour(job.id, +1))
            st.rerun()


def _opened_body(user: User, job_id: str, emails: dict[str, str]) -> None:
    """The opened image: large, with the decision, the note and every detail."""
    try:
        job = svc.jobs.get_job(user, job_id)
    except StudioError:
        st.warning(t("review.gone"))
        if st.button(t("review.back"), key="rev_back"):
            gallery.close_job()
            st.rerun()
        return
    _outcome_messages()
    gallery.lightbox_nav(
        _neighbour(job.id, -1),
        _neighbour(job.id, +1),
        key="rev",
        labels=(t("review.previous"), t("review.next"), t("review.back")),
    )
    image_col, info_col = st.columns([3, 2], gap="large")
    with image_col, st.container(key="lightbox_image"):
        if job.status is JobStatus.DONE:
            urls = widgets.image_sources(user, [job], thumbs=False)
            widgets.show_job_image(user, job, urls.get(job.id), thumb=False)
        else:
            widgets.status_badge(job)
    with info_col:
        _review_badge(job)
        if job.status is JobStatus.DONE:
            note_key = f"review_note_{job.id}"
            st.text_input(t("review.note"), key=note_key, max_chars=1000)
            _decide_one(job, note_key)
            st.caption(t("review.keys"))
        else:
            st.text(t("review.not_finished"))
        _details(job, emails)
        if job.batch_id:
            batch = svc.jobs.list_jobs(
                user, JobQuery(batch_id=job.batch_id, user_id=job.user_id, limit=8), all_users=True
            ).items
            done = [j.id for j in batch if j.result_path]
            if 2 <= len(done) <= 4 and st.button(
                t("review.compare_batch", count=len(done)),
                key="rev_compare_batch",
                icon=":material/compare:",
            ):
                _compare(done)
                gallery.close_job()
                st.rerun()


@st.dialog(t("review.image"), width="large", on_dismiss=gallery.close_job)
def _opened(job_id: str, emails: dict[str, str]) -> None:
    with widgets.live_user() as user:
        _opened_body(user, job_id, emails)


def _compare_view(job_ids: list[str], emails: dict[str, str]) -> None:
    st.button(
        t("review.back"),
        key="rev_compare_back",
        icon=":material/arrow_back:",
        on_click=_close_compare,
    )
    try:
        jobs = svc.review.compare_jobs(user, job_ids)
    except StudioError as exc:
        widgets.show_error(exc)
        return
    urls = widgets.image_sources(user, jobs, thumbs=False)
    for col, job in zip(st.columns(len(jobs)), jobs, strict=True):
        with col, st.container(border=True):
            widgets.show_job_image(user, job, urls.get(job.id), thumb=False)
            _review_badge(job)
            _details(job, emails)


def _date_bounds(value: object) -> tuple[datetime | None, datetime | None]:
    """A date_input range as [start of first day, start of the day after the last) in UTC."""
    days = [d for d in (value if isinstance(value, tuple | list) else [value]) if d]
    if not days or not isinstance(days[0], date):
        return None, None
    first = datetime.combine(days[0], time.min, tzinfo=UTC)
    last = datetime.combine(days[-1], time.min, tzinfo=UTC) + timedelta(days=1)
    return first, last


def _filters(emails: dict[str, str]) -> JobQuery:
    """The filter bar; a change goes back to the first page."""
    statuses = [s.value for s in ReviewStatus] + [ALL]
    models = sorted({m.id for p in svc.jobs.providers.values() for m in p.models})
    filters_box = st.expander(t("review.filters"), icon=":material/filter_list:")
    row1 = filters_box.columns([2, 2, 2, 3])
    status_names = {name: t(key) for name, key in REVIEW_NAMES.items()} | {ALL: t("review.all")}
    review = row1[0].selectbox(
        t("review.status"),
        statuses,
        key="rev_status",
        bind="query-params",
        persist_state="session",
        format_func=option_names(status_names, key="rev_status"),
    )
    providers = row1[1].multiselect(
        t("review.provider"),
        sorted(svc.jobs.providers),
        key="rev_provider",
        bind="query-params",
        persist_state="session",
        placeholder=t("common.choose"),
        format_func=option_names(
            {n: _provider_name(n) for n in svc.jobs.providers}, key="rev_provider"
        ),
    )
    chosen_models = row1[2].multiselect(
        t("review.model"),
        models,
        key="rev_model",
        bind="query-params",
        persist_state="session",
        placeholder=t("common.choose"),
    )
    by_email = {email: uid for uid, email in sorted(emails.items(), key=lambda kv: kv[1])}
    who = row1[3].selectbox(
        t("review.user"),
        [EVERYONE, *by_email],
        key="rev_user",
        persist_state="session",
        format_func=option_names({EVERYONE: t("review.everyone")}, key="rev_user"),
    )
    row2 = filters_box.columns([3, 3, 2])
    text = (
        row2[0]
        .text_input(t("review.text"), key="rev_text", bind="query-params", persist_state="session")
        .strip()
    )
    created = row2[1].date_input(
        t("review.created_between"), value=(), key="rev_dates", persist_state="session"
    )
    oldest_first = row2[2].toggle(
        t("review.oldest_first"),
        value=True,
        key="rev_oldest",
        bind="query-params",
        persist_state="session",
    )
    after, before = _date_bounds(created)
    filters = (
        review,
        tuple(providers),
        tuple(chosen_models),
        who,
        text,
        after,
        before,
        oldest_first,
    )
    return JobQuery(
        review_statuses=() if review == ALL else (ReviewStatus(review),),
        providers=tuple(providers),
        models=tuple(chosen_models),
        user_id=by_email.get(who),
        text=text or None,
        created_after=after,
        created_before=before,
        oldest_first=oldest_first,
        limit=PAGE_SIZE,
        cursor=widgets.page_cursor(CURSORS_KEY, FILTERS_KEY, filters),
    )


def _grid(jobs: list[Job], emails: dict[str, str]) -> None:
    """The queue as uniform tiles: review state, the select box, the image, whose image it is
    (plain text: never a mailto link) and the prompt as the button that opens it."""
    urls = widgets.image_sources(user, jobs, thumbs=True)  # one signed-URL batch per page
    labels = gallery.open_labels(jobs)

    def badge(job: Job) -> None:
        if job.status is not JobStatus.DONE:
            widgets.status_badge(job)
        _review_badge(job)

    def select(job: Job) -> None:
        st.checkbox(
            t("review.select_named", name=labels[job.id]),
            key=SELECT_PREFIX + job.id,
            label_visibility="collapsed",
        )

    clicked = gallery.grid(
        user,
        jobs,
        key="rev",
        urls=urls,
        labels=labels,
        controls=lambda job: lambda: select(job),
        badge=lambda job: lambda: badge(job),
        line=lambda job: emails.get(job.user_id, "?"),
    )
    if clicked:
        gallery.open_job(clicked)
        st.rerun()


def _selection_bar(jobs: list[Job]) -> None:
    selected = [j.id for j in jobs if st.session_state.get(SELECT_PREFIX + j.id)]
    if not selected:
        st.caption(t("review.select_hint"))
        return
    with st.container(border=True):
        st.text(t("review.selected", count=len(selected)))
        st.text_input(t("review.bulk_note"), key=BULK_NOTE_KEY, max_chars=1000)
        _decision_buttons(selected, key="bulk")
        st.button(
            t("review.compare"),
            icon=":material/compare:",
            disabled=not 2 <= len(selected) <= 4,
            help=t("review.compare_help"),
            on_click=_compare,
            args=(selected,),
        )


def main(user: User) -> None:
    st.title(t("nav.review"))
    gallery.style()
    emails = svc.review.user_emails(user)
    open_id = gallery.opened_id()
    if open_id is None and gallery.JOB_PARAM in st.query_params:
        gallery.close_job()  # not a job id at all
        st.session_state[NOTICE_KEY] = t("review.link_gone")
    compare = st.session_state.get(COMPARE_KEY)
    if open_id and not compare and not _exists(open_id):
        gallery.close_job()  # an unknown id: the grid, with a short notice
        st.session_state[NOTICE_KEY] = t("review.link_gone")
        open_id = None
    if not open_id:  # with a job open, the dialog shows what happened
        _messages()
    if compare:
        _compare_view(compare, emails)
        return
    query = _filters(emails)
    try:
        page = svc.review.review_queue(user, query)
    except StudioError as exc:
        widgets.show_error(exc)
        return
    st.session_state[ORDER_KEY] = [j.id for j in page.items]
    if open_id:
        _opened(open_id, emails)
    if not page.items:
        st.info(t("review.empty") if query.cursor is None else t("review.no_more"))
        return
    _selection_bar(page.items)
    _grid(page.items, emails)
    widgets.pager(
        CURSORS_KEY,
        page.next_cursor,
        labels=(t("review.previous_page"), t("review.next_page")),
        keys=("rev_prev_page", "rev_next_page"),
    )


def _exists(job_id: str) -> bool:
    try:
        svc.jobs.get_job(user, job_id)
    except StudioError:
        return False
    return True


def _outcome_messages() -> None:
    """The last decision's success or error, once."""
    flash = st.session_state.pop(FLASH_KEY, None)
    if flash:
        st.success(flash)
    error = st.session_state.pop(ERROR_KEY, None)
    if error:
        st.error(widgets.md_escape(error), icon=":material/error:")


def _messages() -> None:
    _outcome_messages()
    notice = st.session_state.pop(NOTICE_KEY, None)
    if notice:
        st.warning(notice, icon=":material/link_off:")


main(user)
