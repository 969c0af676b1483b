"""Review (reviewers and admins): the queue of finished images from every user, oldest
unreviewed first; open one large, approve / reject / flag it (the next one opens), decide a
selection at once, or compare 2–4 side by side."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import streamlit as st

from core.domain.errors import AuthRequired, StudioError
from core.domain.models import Job, JobQuery, ReviewStatus, Role, User
from pages import names, widgets
from pages.i18n import option_names, t

PAGE_SIZE = 24
GRID_COLUMNS = 4
OPEN_KEY = "review_open"
COMPARE_KEY = "review_compare"
CURSORS_KEY = "review_cursors"
FILTERS_KEY = "review_filters"
ORDER_KEY = "review_order"
FLASH_KEY = "review_flash"
ERROR_KEY = "review_error"
SELECT_PREFIX = "review_sel_"
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


def _decide(
    job_ids: list[str], status: ReviewStatus, note_key: str | None, open_next: bool
) -> None:
    note = str(st.session_state.get(note_key) or "") if note_key else ""
    reviewer = widgets.current_user()  # re-checked: the role may have changed since the render
    try:
        if reviewer is None:
            raise AuthRequired("Sign in again.")
        changed = svc.review.set_review(reviewer, job_ids, status, note or None)
    except StudioError as exc:
        st.session_state[ERROR_KEY] = widgets.error_text(exc)
        return
    st.session_state[FLASH_KEY] = t(DECIDED[status], count=changed)
    for job_id in job_ids:
        st.session_state.pop(SELECT_PREFIX + job_id, None)
    if note_key:
        st.session_state.pop(note_key, None)
    if open_next:
        _open(_neighbour(job_ids[0], +1))


def _open(job_id: str | None) -> None:
    if job_id:
        st.session_state[OPEN_KEY] = job_id
    else:
        st.session_state.pop(OPEN_KEY, None)


def _compare(job_ids: list[str]) -> None:
    st.session_state[COMPARE_KEY] = list(job_ids)


def _close_compare() -> None:
    st.session_state.pop(COMPARE_KEY, None)


def _neighbour(job_id: str, step: int) -> str | None:
    """The job before/after `job_id` in the grid the reviewer came from."""
    order: list[str] = st.session_state.get(ORDER_KEY, [])
    if job_id not in order:
        return None
    index = order.index(job_id) + step
    return order[index] if 0 <= index < len(order) else None


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


def _decision_buttons(job_ids: list[str], *, key: str, note_key: str, open_next: bool) -> None:
    row = st.container(horizontal=True)
    for status, label, shortcut, icon in DECISIONS:
        row.button(
            t(label),
            key=f"{key}_{status.value}",
            icon=icon,
            shortcut=shortcut,
            on_click=_decide,
            args=(job_ids, status, note_key, open_next),
            type="primary" if status is ReviewStatus.APPROVED else "secondary",
        )


def _open_view(job_id: str, emails: dict[str, str]) -> None:
    try:
        job = svc.jobs.get_job(user, job_id)
    except StudioError:
        st.session_state.pop(OPEN_KEY, None)
        st.warning(t("review.gone"))
        return
    nav = st.columns([2, 1, 1, 4])
    nav[0].button(
        t("review.back"),
        icon=":material/arrow_back:",
        shortcut="Esc",
        on_click=_open,
        args=(None,),
    )
    before, after = _neighbour(job.id, -1), _neighbour(job.id, +1)
    nav[1].button(
        t("review.previous"),
        disabled=before is None,
        shortcut="Left",
        on_click=_open,
        args=(before,),
    )
    nav[2].button(
        t("review.next"), disabled=after is None, shortcut="Right", on_click=_open, args=(after,)
    )
    image_col, info_col = st.columns([3, 2])
    with image_col:
        urls = widgets.image_sources(user, [job], thumbs=False)
        widgets.show_job_image(user, job, urls.get(job.id), thumb=False)
    with info_col:
        _review_badge(job)
        note_key = f"review_note_{job.id}"
        st.text_input(t("review.note"), key=note_key, max_chars=1000)
        _decision_buttons([job.id], key="one", note_key=note_key, open_next=True)
        st.caption(t("review.keys"))
        _details(job, emails)
        if job.batch_id:
            batch = svc.jobs.list_jobs(
                user, JobQuery(batch_id=job.batch_id, user_id=job.user_id, limit=8), all_users=True
            ).items
            done = [j.id for j in batch if j.result_path]
            if 2 <= len(done) <= 4:
                st.button(
                    t("review.compare_batch", count=len(done)),
                    icon=":material/compare:",
                    on_click=_compare,
                    args=(done,),
                )


def _compare_view(job_ids: list[str], emails: dict[str, str]) -> None:
    st.button(t("review.back"), icon=":material/arrow_back:", on_click=_close_compare)
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
    row1 = st.columns([2, 2, 2, 3])
    status_names = {name: t(key) for name, key in REVIEW_NAMES.items()} | {ALL: t("review.all")}
    review = row1[0].selectbox(
        t("review.status"),
        statuses,
        key="rev_status",
        format_func=option_names(status_names, key="rev_status"),
    )
    providers = row1[1].multiselect(
        t("review.provider"),
        sorted(svc.jobs.providers),
        key="rev_provider",
        placeholder=t("common.choose"),
        format_func=option_names(
            {n: _provider_name(n) for n in svc.jobs.providers}, key="rev_provider"
        ),
    )
    chosen_models = row1[2].multiselect(
        t("review.model"), models, key="rev_model", placeholder=t("common.choose")
    )
    by_email = {email: uid for uid, email in sorted(emails.items(), key=lambda kv: kv[1])}
    who = row1[3].selectbox(
        t("review.user"),
        [EVERYONE, *by_email],
        key="rev_user",
        format_func=option_names({EVERYONE: t("review.everyone")}, key="rev_user"),
    )
    row2 = st.columns([3, 3, 2])
    text = row2[0].text_input(t("review.text"), key="rev_text").strip()
    created = row2[1].date_input(t("review.created_between"), value=(), key="rev_dates")
    oldest_first = row2[2].toggle(t("review.oldest_first"), value=True, key="rev_oldest")
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
    urls = widgets.image_sources(user, jobs, thumbs=True)  # one signed-URL batch per page
    for start in range(0, len(jobs), GRID_COLUMNS):
        row = st.columns(GRID_COLUMNS)
        for col, job in zip(row, jobs[start : start + GRID_COLUMNS], strict=False):
            with col, st.container(border=True):
                _review_badge(job)
                widgets.show_job_image(user, job, urls.get(job.id), thumb=True)
                st.text(widgets.short(job.prompt, 60))
                # Plain text: a caption would turn the email into a mailto link.
                st.text(
                    t(
                        "review.tile_line",
                        email=emails.get(job.user_id, "?"),
                        provider=_provider_name(job.provider),
                        time=widgets.fmt_time(job.created_at),
                    )
                )
                bottom = st.columns([1, 1], vertical_alignment="center")
                bottom[0].checkbox(t("review.select"), key=SELECT_PREFIX + job.id)
                bottom[1].button(
                    t("review.open"),
                    key=f"rev_open_{job.id}",
                    width="stretch",
                    on_click=_open,
                    args=(job.id,),
                )


def _selection_bar(jobs: list[Job]) -> None:
    selected = [j.id for j in jobs if st.session_state.get(SELECT_PREFIX + j.id)]
    if not selected:
        st.caption(t("review.select_hint"))
        return
    with st.container(border=True):
        st.text(t("review.selected", count=len(selected)))
        st.text_input(t("review.bulk_note"), key="review_note_bulk", max_chars=1000)
        _decision_buttons(selected, key="bulk", note_key="review_note_bulk", open_next=False)
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
    flash = st.session_state.pop(FLASH_KEY, None)
    if flash:
        st.success(flash)
    error = st.session_state.pop(ERROR_KEY, None)
    if error:
        st.error(widgets.md_escape(error), icon=":material/error:")
    emails = svc.review.user_emails(user)
    compare = st.session_state.get(COMPARE_KEY)
    if compare:
        _compare_view(compare, emails)
        return
    open_id = st.session_state.get(OPEN_KEY)
    if open_id:
        _open_view(open_id, emails)
        return
    query = _filters(emails)
    try:
        page = svc.review.review_queue(user, query)
    except StudioError as exc:
        widgets.show_error(exc)
        return
    st.session_state[ORDER_KEY] = [j.id for j in page.items]
    if not page.items:
        st.info(t("review.empty") if query.cursor is None else t("review.no_more"))
        return
    _selection_bar(page.items)
    _grid(page.items, emails)
    widgets.pager(
        CURSORS_KEY,
        page.next_cursor,
        labels=(t("review.previous_page"), t("review.next_page")),
        keys=("rev_prev", "rev_next"),
    )


main(user)
