"""Admin (admins only): purge old jobs with a preview, the retention sweep and its runs, usage
and health charts, and user management (roles, disabling, daily quotas, password reset links)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import pandas as pd
import streamlit as st

from core.domain.errors import StudioError
from core.domain.models import JobStatus, ReviewStatus, Role, User
from core.domain.policy import RESET_LINK_SECONDS
from core.services.access import MAX_PAGE
from core.services.admin import SHUTDOWN_WARNING_DAYS, ShutdownWarning, UserSummary
from pages import i18n, widgets
from pages.i18n import t

SECTIONS = ["Purge", "Sweeper", "Usage & health", "Users"]
SECTION_LABELS = {
    "Purge": "admin.section_purge",
    "Sweeper": "admin.section_sweeper",
    "Usage & health": "admin.section_usage",
    "Users": "admin.section_users",
}
UNIT_LABELS = {"hours": "admin.unit_hours", "days": "admin.unit_days"}
TRIGGER_LABELS = {
    "manual": "admin.trigger_manual",
    "schedule": "admin.trigger_schedule",
    "purge": "admin.trigger_purge",
    "cli": "admin.trigger_cli",
}
REVIEW_LABELS = {
    "unreviewed": "review_status.unreviewed",
    "approved": "review_status.approved",
    "rejected": "review_status.rejected",
    "flagged": "review_status.flagged",
}
STATUS_LABELS = {
    "queued": "status.queued",
    "processing": "status.processing",
    "done": "status.done",
    "failed": "status.failed",
    "canceled": "status.canceled",
}
PLAN_KEY = "admin_purge_plan"
FLASH_KEY = "admin_flash"
FINISHED = [s.value for s in JobStatus if s.finished]
UNITS = {"hours": 3600, "days": 86400}
EVERYONE = "Everyone"
DEFAULT_QUOTA = "Global default"
OWN_QUOTA = "Own limit"

user = widgets.require_user(Role.ADMIN)
svc = widgets.services()


def fmt_bytes(size: int) -> str:
    return i18n.fmt_bytes(size)


def fmt_duration(seconds: float | None) -> str:
    return i18n.fmt_duration(seconds)


def _label(labels: dict[str, str], value: str) -> str:
    """An option's name in this session's language (the value itself when it has none)."""
    return t(labels[value]) if value in labels else value


def _flash(message: str) -> None:
    """A Markdown message for the next run. Emails in it go in as `_md_code(email)`, never
    bare: Markdown would turn a bare address into a mailto link."""
    st.session_state[FLASH_KEY] = message


def _md_code(text: str) -> str:
    """`text` as a Markdown code span (verbatim: no links, no formatting)."""
    fence = "``" if "`" in text else "`"
    return f"{fence} {text} {fence}"


# ---- purge ------------------------------------------------------------------------------------


def purge_section(emails: dict[str, str]) -> None:
    st.subheader(t("admin.purge_title"))
    st.caption(t("admin.purge_caption"))
    cols = st.columns([3, 1, 1, 2])
    statuses = cols[0].multiselect(
        t("admin.statuses"),
        FINISHED,
        default=["failed"],
        key="purge_statuses",
        format_func=i18n.option_names(
            {s: _label(STATUS_LABELS, s) for s in FINISHED}, key="purge_statuses"
        ),
    )
    age = cols[1].number_input(
        t("admin.older_than"), min_value=0, value=24, step=1, key="purge_age"
    )
    unit = cols[2].selectbox(
        t("admin.unit"),
        list(UNITS),
        key="purge_unit",
        format_func=i18n.option_names({u: _label(UNIT_LABELS, u) for u in UNITS}, key="purge_unit"),
    )
    by_email = {email: uid for uid, email in sorted(emails.items(), key=lambda kv: kv[1])}
    who = cols[3].selectbox(
        t("admin.user"),
        [EVERYONE, *by_email],
        key="purge_user",
        format_func=i18n.option_names({EVERYONE: t("admin.everyone")}, key="purge_user"),
    )
    keep = st.checkbox(t("admin.keep_reviewed"), value=True, key="purge_keep")
    form = (tuple(statuses), int(age), unit, who, keep)
    plan = st.session_state.get(PLAN_KEY)
    if plan and plan[0] != form:
        st.session_state.pop(PLAN_KEY, None)  # the form changed: preview again
        plan = None
    if st.button(t("admin.preview"), icon=":material/preview:", key="purge_preview"):
        excluded = [ReviewStatus.APPROVED, ReviewStatus.FLAGGED] if keep else []
        try:
            criteria, summary = svc.admin.purge_preview(
                user,
                statuses,
                int(age) * UNITS[unit],
                user_id=by_email.get(who),
                exclude_review=excluded,
            )
        except StudioError as exc:
            widgets.show_error(exc)
            return
        plan = (form, criteria, summary)
        st.session_state[PLAN_KEY] = plan
    if not plan:
        return
    _form, criteria, summary = plan
    with st.container(border=True):
        st.text(
            t(
                "admin.purge_plan",
                jobs=summary.jobs,
                files=summary.objects,
                size=fmt_bytes(summary.bytes),
                criteria=_describe(criteria, emails),
            )
        )
        if summary.jobs == 0:
            st.caption(t("admin.nothing_to_delete"))
            return
        go, cancel = st.columns([1, 1])
        if cancel.button(t("common.cancel"), key="purge_cancel"):
            st.session_state.pop(PLAN_KEY, None)
            st.rerun()
        if go.button(
            t("admin.delete_them"), type="primary", icon=":material/delete:", key="purge_go"
        ):
            bar = st.progress(0.0, text=t("admin.deleting"))

            def progress(done: int, total: int) -> None:
                bar.progress(
                    min(1.0, done / max(total, 1)),
                    text=t("admin.deleted_of", done=done, total=total),
                )

            try:
                report = svc.admin.purge(user, criteria, progress=progress, expected=summary.jobs)
            except StudioError as exc:
                widgets.show_error(exc)
                return
            st.session_state.pop(PLAN_KEY, None)
            _flash(
                t(
                    "admin.purge_done_kept" if report.kept_jobs else "admin.purge_done",
                    jobs=report.deleted_jobs,
                    files=report.deleted_objects,
                    size=fmt_bytes(report.deleted_bytes),
                    seconds=i18n.fmt_number(report.seconds, 1),
                    kept=report.kept_jobs,
                )
            )
            st.rerun()


def worker_summary(stats: Mapping[str, Any] | None) -> str:
    """One line about this process's worker from its figures (None: no worker here)."""
    if stats is None:
        return t("admin.worker_none")
    return t(
        "admin.worker_running" if stats.get("alive") else "admin.worker_stopped",
        busy=stats.get("running", 0),
        threads=stats.get("threads", 0),
        processed=stats.get("processed", 0),
        done=stats.get("done", 0),
        failed=stats.get("failed", 0),
        retried=stats.get("retried", 0),
        lost=stats.get("lost", 0),
    )


def _describe(criteria: Any, emails: Mapping[str, str]) -> str:
    """What a purge deletes, in this session's language (PurgeCriteria.describe's words)."""
    statuses = i18n.fmt_list([_label(STATUS_LABELS, s.value) for s in criteria.statuses])
    before = i18n.fmt_time(criteria.finished_before)
    if criteria.user_id:
        who = emails.get(criteria.user_id, criteria.user_id)
        text = t("admin.purge_criteria_user", statuses=statuses, user=who, before=before)
    else:
        text = t("admin.purge_criteria", statuses=statuses, before=before)
    if not criteria.exclude_review:
        return text
    kept = i18n.fmt_list([_review_name(r.value) for r in criteria.exclude_review])
    return t("admin.purge_criteria_keep", criteria=text, kept=kept)


def _review_name(value: str) -> str:
    return _label(REVIEW_LABELS, value)


# ---- sweeper ----------------------------------------------------------------------------------


def sweeper_section() -> None:
    settings = svc.admin.settings
    st.subheader(t("admin.sweep_title"))
    st.text(
        t(
            "admin.retention",
            done=fmt_duration(settings.retention_done),
            failed=fmt_duration(settings.retention_failed),
            interval=fmt_duration(settings.cleanup_interval),
        )
    )
    background = svc.admin.background()
    st.text(
        t("admin.sweeper_running") if background.sweeper_running else t("admin.sweeper_stopped")
    )
    st.text(t("admin.worker_line", summary=worker_summary(background.worker)))
    try:
        due = svc.admin.retention_preview(user)
    except StudioError as exc:
        widgets.show_error(exc)
        return
    st.text(t("admin.sweep_would", jobs=due.jobs, size=fmt_bytes(due.bytes)))
    if st.button(t("admin.sweep_now"), icon=":material/cleaning_services:", key="sweep_now"):
        try:
            with st.spinner(t("admin.sweeping")):
                run = svc.admin.sweep_now(user)
        except StudioError as exc:
            widgets.show_error(exc)
        else:
            _flash(
                t(
                    "admin.sweep_done",
                    jobs=run.deleted_jobs,
                    size=fmt_bytes(run.deleted_bytes),
                    kept=run.kept_jobs,
                )
            )
            st.rerun()
    runs = svc.admin.sweep_runs(user, limit=50)
    st.markdown(t("admin.recent_runs"))
    if not runs:
        st.caption(t("admin.no_runs"))
        return
    st.dataframe(
        pd.DataFrame(
            [
                {
                    t("admin.col_when"): widgets.fmt_time(r.started_at),
                    t("admin.col_kind"): _label(TRIGGER_LABELS, r.trigger),
                    t("admin.col_jobs_deleted"): r.deleted_jobs,
                    t("admin.col_bytes"): fmt_bytes(r.deleted_bytes),
                    t("admin.col_kept"): r.kept_jobs,
                    t("admin.col_took"): widgets.fmt_seconds(r.started_at, r.finished_at),
                    t("admin.col_errors"): " | ".join(r.errors),
                }
                for r in runs
            ]
        ),
        hide_index=True,
        key="sweep_runs",
    )


# ---- usage ------------------------------------------------------------------------------------


def usage_section(emails: dict[str, str]) -> None:
    st.subheader(t("admin.usage_title"))
    days = st.columns([1, 3])[0].selectbox(
        t("admin.period"),
        [7, 30, 90],
        index=1,
        key="usage_days",
        format_func=i18n.option_names({d: _days(d) for d in (7, 30, 90)}, key="usage_days"),
    )
    try:
        board = svc.admin.stats(user, days=days)
    except StudioError as exc:
        widgets.show_error(exc)
        return
    usage = board.usage
    total = board.total_jobs
    failed = sum(r.failed for r in board.failure_rates)
    spend = sum(s.usd for s in board.spend_by_provider)
    metrics = st.columns(5)
    metrics[0].metric(t("admin.queued_now"), board.queue.queued)
    metrics[1].metric(t("admin.processing_now"), board.queue.processing)
    metrics[2].metric(t("admin.oldest_queued"), fmt_duration(board.queue.oldest_queued_seconds))
    metrics[3].metric(t("admin.jobs_in", period=_days(days)), total)
    metrics[4].metric(t("admin.estimated_spend"), i18n.fmt_money(spend))
    if not total:
        st.info(t("admin.no_jobs"))
        return
    st.caption(t("admin.failure_overall", rate=i18n.fmt_percent(failed / total)))

    # Column names are the charts' axis and legend titles: in the session's language.
    day, provider, jobs = t("admin.col_day"), t("admin.col_provider"), t("admin.col_jobs")
    st.markdown(t("admin.chart_per_day"))
    per_day = pd.DataFrame(
        [{day: d.day.isoformat(), provider: d.provider, jobs: d.jobs} for d in usage.per_day]
    )
    st.bar_chart(per_day, x=day, y=jobs, color=provider)

    left, right = st.columns(2)
    with left:
        st.markdown(t("admin.chart_failure_rate"))
        if not failed:  # a chart of zeros would show an axis of "0.000000"
            st.caption(t("admin.no_failures_in_period"))
        rate = t("admin.col_failure_rate")
        rates = pd.DataFrame(
            [{provider: r.provider, rate: round(100 * r.rate, 1)} for r in board.failure_rates]
        )
        if failed:
            st.bar_chart(rates, x=provider, y=rate)
    with right:
        st.markdown(t("admin.chart_failures"))
        if usage.failures:
            st.dataframe(
                pd.DataFrame(
                    [
                        {provider: f.provider, t("admin.col_error"): f.error_code, jobs: f.jobs}
                        for f in usage.failures
                    ]
                ),
                hide_index=True,
            )
        else:
            st.caption(t("admin.no_failures"))

    st.markdown(t("admin.chart_latency"))
    if usage.latency:
        latency = pd.DataFrame(
            [
                {provider: p.provider, "p50": p.p50_seconds, "p95": p.p95_seconds}
                for p in usage.latency
            ]
        )
        st.bar_chart(latency, x=provider, y=["p50", "p95"], stack=False)
    else:
        st.caption(t("admin.no_finished"))

    user_col, images = t("admin.col_user"), t("admin.col_images")
    left, right = st.columns(2)
    with left:
        st.markdown(t("admin.top_users"))
        st.dataframe(
            pd.DataFrame(
                [
                    {
                        user_col: emails.get(u.user_id, u.user_id),
                        jobs: u.jobs,
                        t("admin.col_done"): u.done,
                        t("admin.col_failed"): u.failed,
                    }
                    for u in usage.top_users
                ]
            ),
            hide_index=True,
        )
    with right:
        st.markdown(t("admin.spend_title"))
        rows = [
            {provider: s.key, images: s.images, "USD": s.usd, t("admin.col_unpriced"): s.unpriced}
            for s in board.spend_by_provider
        ]
        st.dataframe(pd.DataFrame(rows), hide_index=True)
        by_user = [
            {user_col: emails.get(s.key, s.key), images: s.images, "USD": s.usd}
            for s in board.spend_by_user
        ]
        st.dataframe(pd.DataFrame(by_user), hide_index=True)
        st.caption(t("admin.spend_caption"))


def _days(days: int) -> str:
    return t("admin.last_days", days=days)


# ---- users ------------------------------------------------------------------------------------


def users_section(rows: list[UserSummary]) -> None:
    st.subheader(t("admin.users_title"))
    default = svc.admin.settings.daily_quota
    st.caption(t("admin.quota_global", quota=default) if default else t("admin.quota_global_off"))
    st.dataframe(
        pd.DataFrame(
            [
                {
                    t("admin.col_email"): r.user.email,
                    t("admin.col_role"): widgets.role_name(r.user.role),
                    t("admin.col_disabled"): r.user.disabled,
                    t("admin.col_jobs"): r.jobs,
                    t("admin.col_last_activity"): widgets.fmt_time(r.last_activity),
                    t("admin.col_daily_quota"): _quota_label(r.user.daily_quota, default),
                }
                for r in rows
            ]
        ),
        hide_index=True,
        key="users_table",
    )
    by_email = {r.user.email: r.user for r in rows}
    left, _ = st.columns([2, 1])
    email = left.selectbox(t("admin.edit_user"), sorted(by_email), key="user_pick")
    target = by_email[email]
    with left:
        _password_reset(target)
    # Outside the form: choosing it enables or disables the limit field at once.
    mode = left.radio(
        t("admin.daily_quota"),
        [DEFAULT_QUOTA, OWN_QUOTA],
        index=0 if target.daily_quota is None else 1,
        horizontal=True,
        key=f"edit_quota_mode_{target.id}",
        format_func=i18n.option_names(
            {DEFAULT_QUOTA: t("admin.global_default"), OWN_QUOTA: t("admin.own_limit")},
            key=f"edit_quota_mode_{target.id}",
        ),
    )
    # Widget keys carry the user id, so switching users never shows the previous one's values.
    with left.form(f"user_edit_{target.id}"):
        roles = [r.value for r in Role]
        role = st.selectbox(
            t("admin.role"),
            roles,
            index=roles.index(target.role.value),
            key=f"edit_role_{target.id}",
            format_func=i18n.option_names(
                {r.value: widgets.role_name(r) for r in Role}, key=f"edit_role_{target.id}"
            ),
        )
        disabled = st.checkbox(
            t("admin.disabled_label"),
            value=target.disabled,
            key=f"edit_disabled_{target.id}",
        )
        if mode == DEFAULT_QUOTA:
            # Only a custom quota is typed in: with the global default the field is disabled
            # and empty, saying which default applies (a widget of its own, so choosing "Own
            # limit" starts from the user's own or the default number, not from empty).
            quota = st.number_input(
                t("admin.own_quota"),
                value=None,
                placeholder=_quota_label(None, default),
                key=f"edit_quota_default_{target.id}",
                disabled=True,
            )
        else:
            quota = st.number_input(
                t("admin.own_quota"),
                min_value=0,
                max_value=100_000,
                value=target.daily_quota if target.daily_quota is not None else (default or 50),
                step=1,
                key=f"edit_quota_{target.id}",
            )
        if st.form_submit_button(t("admin.save"), type="primary"):
            own = None if mode == DEFAULT_QUOTA or quota is None else int(quota)
            _save_user(target, Role(role), disabled, own)
    with left.expander(
        t("admin.delete_user_title"), icon=":material/delete_forever:", key="admin_delete_user"
    ):
        st.caption(t("admin.delete_user_caption"))
        with st.form(f"user_delete_{target.id}", clear_on_submit=True):
            typed = st.text_input(t("admin.type_user_email"), key=f"del_{target.id}")
            if st.form_submit_button(t("admin.delete_user")):
                try:
                    svc.admin.delete_user(user, target.id, typed)
                except StudioError as exc:
                    widgets.show_error(exc)
                else:
                    _flash(t("admin.user_deleted", email=_md_code(target.email)))
                    st.rerun()


def _save_user(target: User, role: Role, disabled: bool, quota: int | None) -> None:
    done: list[str] = []
    try:
        if quota != target.daily_quota:
            svc.admin.set_daily_quota(user, target.id, quota)
            done.append(t("admin.quota_updated"))
        if role is not target.role:
            svc.admin.set_role(user, target.id, role)
            done.append(t("admin.role_set", role=widgets.role_name(role)))
        if disabled != target.disabled:
            canceled = svc.admin.set_disabled(user, target.id, disabled)
            done.append(
                t("admin.disabled_done", canceled=canceled)
                if disabled
                else t("admin.enabled_again")
            )
    except StudioError as exc:
        widgets.show_error(exc)
        return
    changes = i18n.fmt_list(done)  # the language's own list format ("a, b and c" / "a、b和c")
    _flash(
        t("admin.user_changed", email=_md_code(target.email), changes=changes)
        if done
        else t("admin.nothing_changed")
    )
    st.rerun()


def _password_reset(target: User) -> None:
    """A one-time reset link for the user, shown once (local mode), or Supabase Auth's
    recovery email (Supabase mode)."""
    st.markdown(t("admin.password_reset"))
    if svc.accounts.mails_reset_links():
        if st.button(
            t("admin.send_reset_email"), icon=":material/mail:", key=f"reset_mail_{target.id}"
        ):
            try:
                st.info(widgets.md_escape(svc.admin.send_reset_email(user, target.id)))
            except StudioError as exc:
                widgets.show_error(exc)
        return
    if not st.button(t("admin.reset_link"), icon=":material/key:", key=f"reset_link_{target.id}"):
        st.caption(
            t(
                "admin.reset_link_caption",
                email=_md_code(target.email),
                minutes=RESET_LINK_SECONDS // 60,
            )
        )
        return
    try:
        link = svc.admin.create_reset_link(user, target.id)
    except StudioError as exc:
        widgets.show_error(exc)
        return
    if link.startswith("/"):  # no PUBLIC_URL: this browser's address of the studio
        here = urlsplit(st.context.url or "")
        link = f"{here.scheme}://{here.netloc}{link}" if here.scheme and here.netloc else link
    st.code(link, language=None, wrap_lines=True)
    st.caption(
        t(
            "admin.reset_link_shown",
            email=_md_code(target.email),
            minutes=RESET_LINK_SECONDS // 60,
        )
    )


def _quota_label(own: int | None, default: int | None) -> str:
    if own is not None:
        return str(own)
    return t("admin.quota_default", quota=default) if default else t("admin.quota_default_off")


# ---- model shutdowns --------------------------------------------------------------------------


def shutdowns_section(warnings: list[ShutdownWarning]) -> None:
    """Models that shut down within SHUTDOWN_WARNING_DAYS days while jobs still use them."""
    if not warnings:
        return
    with st.container(border=True):
        st.markdown(t("admin.shutdowns_title", days=SHUTDOWN_WARNING_DAYS))
        st.dataframe(
            pd.DataFrame([_shutdown_row(w) for w in warnings]),
            hide_index=True,
            key="shutdowns_table",
        )
        st.caption(t("admin.shutdowns_caption"))


def _shutdown_row(warning: ShutdownWarning) -> dict[str, str]:
    return {
        t("admin.col_provider"): warning.provider,
        t("admin.col_model"): warning.model.id,
        t("admin.col_shuts_down"): str(warning.model.shuts_down_on),
        t("admin.col_replacement"): warning.model.replacement or "—",
        t("admin.col_recent_jobs", days=SHUTDOWN_WARNING_DAYS): _at_least(warning.recent_jobs),
        t("admin.col_queued_now"): _at_least(warning.queued_jobs),
    }


def _at_least(count: int) -> str:
    """Counts stop at one page of jobs: a full page reads "100+"."""
    return f"{count}+" if count >= MAX_PAGE else str(count)


# ---- page -------------------------------------------------------------------------------------


def main() -> None:
    st.title(t("admin.title"))
    flash = st.session_state.pop(FLASH_KEY, None)
    if flash:
        st.success(flash)  # Markdown made by _flash's callers: catalogue words, code spans
    try:
        shutdowns_section(svc.admin.upcoming_shutdowns(user))
    except StudioError as exc:
        widgets.show_error(exc)
        return
    section = st.radio(
        t("admin.section"),
        SECTIONS,
        horizontal=True,
        key="admin_section",
        label_visibility="collapsed",
        format_func=i18n.option_names(
            {s: _label(SECTION_LABELS, s) for s in SECTIONS}, key="admin_section"
        ),
    )
    try:
        rows = svc.admin.list_users(user)
    except StudioError as exc:
        widgets.show_error(exc)
        return
    emails = {r.user.id: r.user.email for r in rows}
    if section == "Purge":
        purge_section(emails)
    elif section == "Sweeper":
        sweeper_section()
    elif section == "Usage & health":
        usage_section(emails)
    elif section == "Users":
        users_section(rows)


main()
