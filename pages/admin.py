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
from pages import widgets

SECTIONS = ["Purge", "Sweeper", "Usage & health", "Users"]
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
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"


def fmt_duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f} {unit}".replace(".0 ", " ")
    return f"{seconds:.0f} s"


def _flash(message: str, *, email: str | None = None) -> None:
    """A message for the next run; `email` (shown first, as code) is never turned into a
    mailto link the way Markdown turns a bare address into one."""
    st.session_state[FLASH_KEY] = (email, message)


def _md_code(text: str) -> str:
    """`text` as a Markdown code span (verbatim: no links, no formatting)."""
    fence = "``" if "`" in text else "`"
    return f"{fence} {text} {fence}"


# ---- purge ------------------------------------------------------------------------------------


def purge_section(emails: dict[str, str]) -> None:
    st.subheader("Purge old jobs")
    st.caption(
        "Deletes the stored images first, then the jobs, in small batches. Nothing is deleted "
        "before you confirm the preview."
    )
    cols = st.columns([3, 1, 1, 2])
    statuses = cols[0].multiselect("Statuses", FINISHED, default=["failed"], key="purge_statuses")
    age = cols[1].number_input("Older than", min_value=0, value=24, step=1, key="purge_age")
    unit = cols[2].selectbox("Unit", list(UNITS), key="purge_unit")
    by_email = {email: uid for uid, email in sorted(emails.items(), key=lambda kv: kv[1])}
    who = cols[3].selectbox("User", [EVERYONE, *by_email], key="purge_user")
    keep = st.checkbox("Keep approved and flagged images", value=True, key="purge_keep")
    form = (tuple(statuses), int(age), unit, who, keep)
    plan = st.session_state.get(PLAN_KEY)
    if plan and plan[0] != form:
        st.session_state.pop(PLAN_KEY, None)  # the form changed: preview again
        plan = None
    if st.button("Preview", icon=":material/preview:", key="purge_preview"):
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
            f"This deletes {summary.jobs} job(s), {summary.objects} stored file(s), "
            f"{fmt_bytes(summary.bytes)} of images: {criteria.describe()}."
        )
        if summary.jobs == 0:
            st.caption("Nothing to delete.")
            return
        go, cancel = st.columns([1, 1])
        if cancel.button("Cancel", key="purge_cancel"):
            st.session_state.pop(PLAN_KEY, None)
            st.rerun()
        if go.button("Delete them", type="primary", icon=":material/delete:", key="purge_go"):
            bar = st.progress(0.0, text="Deleting…")

            def progress(done: int, total: int) -> None:
                bar.progress(min(1.0, done / max(total, 1)), text=f"Deleted {done} of {total}")

            try:
                report = svc.admin.purge(user, criteria, progress=progress, expected=summary.jobs)
            except StudioError as exc:
                widgets.show_error(exc)
                return
            st.session_state.pop(PLAN_KEY, None)
            message = (
                f"Purge finished: deleted {report.deleted_jobs} job(s), "
                f"{report.deleted_objects} file(s), {fmt_bytes(report.deleted_bytes)} "
                f"in {report.seconds:.1f} s."
            )
            if report.kept_jobs:
                message += f" {report.kept_jobs} job(s) kept: their files could not be deleted."
            _flash(message)
            st.rerun()


def worker_summary(stats: Mapping[str, Any] | None) -> str:
    """One line about this process's worker from its figures (None: no worker here)."""
    if stats is None:
        return "not running"
    state = "running" if stats.get("alive") else "stopped"
    return (
        f"{state}, {stats.get('running', 0)} of {stats.get('threads', 0)} threads busy; "
        f"{stats.get('processed', 0)} jobs processed ({stats.get('done', 0)} done, "
        f"{stats.get('failed', 0)} failed, {stats.get('retried', 0)} retried, "
        f"{stats.get('lost', 0)} lost)"
    )


# ---- sweeper ----------------------------------------------------------------------------------


def sweeper_section() -> None:
    settings = svc.admin.settings
    st.subheader("Retention sweep")
    st.text(
        f"Done jobs are kept {fmt_duration(settings.retention_done)}; failed and canceled jobs "
        f"{fmt_duration(settings.retention_failed)}. The sweep runs every "
        f"{fmt_duration(settings.cleanup_interval)} in one process at a time."
    )
    background = svc.admin.background()
    sweeper = "running" if background.sweeper_running else "not running"
    st.text(f"Sweeper in this process: {sweeper}")
    st.text(f"Worker in this process: {worker_summary(background.worker)}")
    try:
        due = svc.admin.retention_preview(user)
    except StudioError as exc:
        widgets.show_error(exc)
        return
    st.text(f"A sweep now would delete {due.jobs} job(s), {fmt_bytes(due.bytes)} of images.")
    if st.button("Run a sweep now", icon=":material/cleaning_services:", key="sweep_now"):
        try:
            with st.spinner("Sweeping…"):
                run = svc.admin.sweep_now(user)
        except StudioError as exc:
            widgets.show_error(exc)
        else:
            _flash(
                f"Sweep finished: deleted {run.deleted_jobs} job(s), "
                f"{fmt_bytes(run.deleted_bytes)}; {run.kept_jobs} kept."
            )
            st.rerun()
    runs = svc.admin.sweep_runs(user, limit=50)
    st.markdown("**Recent runs**")
    if not runs:
        st.caption("No runs recorded yet.")
        return
    st.dataframe(
        pd.DataFrame(
            [
                {
                    "When": widgets.fmt_time(r.started_at),
                    "Kind": r.trigger,
                    "Jobs deleted": r.deleted_jobs,
                    "Bytes": fmt_bytes(r.deleted_bytes),
                    "Kept (file errors)": r.kept_jobs,
                    "Took": f"{(r.finished_at - r.started_at).total_seconds():.1f} s",
                    "Errors": " | ".join(r.errors),
                }
                for r in runs
            ]
        ),
        hide_index=True,
        key="sweep_runs",
    )


# ---- usage ------------------------------------------------------------------------------------


def usage_section(emails: dict[str, str]) -> None:
    st.subheader("Usage and health")
    days = st.columns([1, 3])[0].selectbox(
        "Period", [7, 30, 90], index=1, key="usage_days", format_func=_days
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
    metrics[0].metric("Queued now", board.queue.queued)
    metrics[1].metric("Processing now", board.queue.processing)
    metrics[2].metric("Oldest queued", fmt_duration(board.queue.oldest_queued_seconds))
    metrics[3].metric(f"Jobs, {_days(days)}", total)
    metrics[4].metric("Estimated spend", f"${spend:,.2f}")
    if not total:
        st.info("No jobs in this period.")
        return
    st.caption(f"Failure rate overall: {failed / total:.1%}")

    st.markdown("**Jobs per day by provider**")
    per_day = pd.DataFrame(
        [{"day": d.day.isoformat(), "provider": d.provider, "jobs": d.jobs} for d in usage.per_day]
    )
    st.bar_chart(per_day, x="day", y="jobs", color="provider")

    left, right = st.columns(2)
    with left:
        st.markdown("**Failure rate by provider**")
        if not failed:  # a chart of zeros would show an axis of "0.000000"
            st.caption("No failures in this period.")
        rates = pd.DataFrame(
            [
                {"provider": r.provider, "failure rate %": round(100 * r.rate, 1)}
                for r in board.failure_rates
            ]
        )
        if failed:
            st.bar_chart(rates, x="provider", y="failure rate %")
    with right:
        st.markdown("**Failures by error class**")
        if usage.failures:
            st.dataframe(
                pd.DataFrame(
                    [
                        {"provider": f.provider, "error": f.error_code, "jobs": f.jobs}
                        for f in usage.failures
                    ]
                ),
                hide_index=True,
            )
        else:
            st.caption("No failures.")

    st.markdown("**Generation time per provider (seconds)**")
    if usage.latency:
        latency = pd.DataFrame(
            [
                {"provider": p.provider, "p50": p.p50_seconds, "p95": p.p95_seconds}
                for p in usage.latency
            ]
        )
        st.bar_chart(latency, x="provider", y=["p50", "p95"], stack=False)
    else:
        st.caption("No finished jobs yet.")

    left, right = st.columns(2)
    with left:
        st.markdown("**Top users**")
        st.dataframe(
            pd.DataFrame(
                [
                    {
                        "user": emails.get(u.user_id, u.user_id),
                        "jobs": u.jobs,
                        "done": u.done,
                        "failed": u.failed,
                    }
                    for u in usage.top_users
                ]
            ),
            hide_index=True,
        )
    with right:
        st.markdown("**Estimated spend**")
        rows = [
            {"provider": s.key, "images": s.images, "USD": s.usd, "unpriced": s.unpriced}
            for s in board.spend_by_provider
        ]
        st.dataframe(pd.DataFrame(rows), hide_index=True)
        by_user = [
            {"user": emails.get(s.key, s.key), "images": s.images, "USD": s.usd}
            for s in board.spend_by_user
        ]
        st.dataframe(pd.DataFrame(by_user), hide_index=True)
        st.caption(
            "Costs recorded by providers where available, else the catalogue price per image."
        )


def _days(days: int) -> str:
    return f"last {days} days"


# ---- users ------------------------------------------------------------------------------------


def users_section(rows: list[UserSummary]) -> None:
    st.subheader("Users")
    default = svc.admin.settings.daily_quota
    st.caption(
        "Global daily quota (DAILY_QUOTA): "
        + (f"{default} images per user per day." if default else "off.")
    )
    st.dataframe(
        pd.DataFrame(
            [
                {
                    "email": r.user.email,
                    "role": r.user.role.value,
                    "disabled": r.user.disabled,
                    "jobs": r.jobs,
                    "last activity": widgets.fmt_time(r.last_activity),
                    "daily quota": _quota_label(r.user.daily_quota, default),
                }
                for r in rows
            ]
        ),
        hide_index=True,
        key="users_table",
    )
    by_email = {r.user.email: r.user for r in rows}
    left, _ = st.columns([2, 1])
    email = left.selectbox("Edit a user", sorted(by_email), key="user_pick")
    target = by_email[email]
    with left:
        _password_reset(target)
    # Outside the form: choosing it enables or disables the limit field at once.
    mode = left.radio(
        "Daily quota",
        [DEFAULT_QUOTA, OWN_QUOTA],
        index=0 if target.daily_quota is None else 1,
        horizontal=True,
        key=f"edit_quota_mode_{target.id}",
    )
    # Widget keys carry the user id, so switching users never shows the previous one's values.
    with left.form(f"user_edit_{target.id}"):
        roles = [r.value for r in Role]
        role = st.selectbox(
            "Role", roles, index=roles.index(target.role.value), key=f"edit_role_{target.id}"
        )
        disabled = st.checkbox(
            "Disabled (cannot sign in, use tokens or submit; queued jobs are canceled)",
            value=target.disabled,
            key=f"edit_disabled_{target.id}",
        )
        quota = st.number_input(
            "Own limit (images per day; 0 blocks submitting)",
            min_value=0,
            max_value=100_000,
            value=target.daily_quota if target.daily_quota is not None else (default or 50),
            step=1,
            key=f"edit_quota_{target.id}",
            disabled=mode == DEFAULT_QUOTA,  # only a custom quota is typed in
        )
        if st.form_submit_button("Save", type="primary"):
            _save_user(target, Role(role), disabled, None if mode == DEFAULT_QUOTA else int(quota))
    with left.expander("Delete this user", icon=":material/delete_forever:"):
        st.caption(
            "Deletes the user's images and every other stored file, jobs, API tokens, sessions "
            "and account, for good. Usage figures drop their jobs."
        )
        with st.form(f"user_delete_{target.id}", clear_on_submit=True):
            typed = st.text_input("Type the user's email to confirm", key=f"del_{target.id}")
            if st.form_submit_button("Delete user"):
                try:
                    svc.admin.delete_user(user, target.id, typed)
                except StudioError as exc:
                    widgets.show_error(exc)
                else:
                    _flash("account and data deleted.", email=target.email)
                    st.rerun()


def _save_user(target: User, role: Role, disabled: bool, quota: int | None) -> None:
    done: list[str] = []
    try:
        if quota != target.daily_quota:
            svc.admin.set_daily_quota(user, target.id, quota)
            done.append("quota updated")
        if role is not target.role:
            svc.admin.set_role(user, target.id, role)
            done.append(f"role set to {role.value}")
        if disabled != target.disabled:
            canceled = svc.admin.set_disabled(user, target.id, disabled)
            done.append(
                f"disabled, {canceled} queued job(s) canceled" if disabled else "enabled again"
            )
    except StudioError as exc:
        widgets.show_error(exc)
        return
    if done:
        _flash(f"{', '.join(done)}.", email=target.email)
    else:
        _flash("Nothing changed.")
    st.rerun()


def _password_reset(target: User) -> None:
    """A one-time reset link for the user, shown once (local mode), or Supabase Auth's
    recovery email (Supabase mode)."""
    st.markdown("**Password reset**")
    if svc.accounts.mails_reset_links():
        if st.button("Send reset email", icon=":material/mail:", key=f"reset_mail_{target.id}"):
            try:
                st.info(widgets.md_escape(svc.admin.send_reset_email(user, target.id)))
            except StudioError as exc:
                widgets.show_error(exc)
        return
    if not st.button("Reset link", icon=":material/key:", key=f"reset_link_{target.id}"):
        st.caption(
            f"A one-time link that lets {_md_code(target.email)} set a new password "
            f"(valid {RESET_LINK_SECONDS // 60} min; it signs them out everywhere)."
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
        f"Shown once: copy it and send it to {_md_code(target.email)}. It works once, "
        f"for {RESET_LINK_SECONDS // 60} min."
    )


def _quota_label(own: int | None, default: int | None) -> str:
    if own is not None:
        return str(own)
    return f"default ({default})" if default else "default (off)"


# ---- model shutdowns --------------------------------------------------------------------------


def shutdowns_section(warnings: list[ShutdownWarning]) -> None:
    """Models that shut down within SHUTDOWN_WARNING_DAYS days while jobs still use them."""
    if not warnings:
        return
    with st.container(border=True):
        st.markdown(f"**Models shutting down within {SHUTDOWN_WARNING_DAYS} days**")
        st.dataframe(
            pd.DataFrame([_shutdown_row(w) for w in warnings]),
            hide_index=True,
            key="shutdowns_table",
        )
        st.caption(
            "From its shutdown date a model is hidden and refused, its queued jobs fail, and "
            "retries move to the replacement."
        )


def _shutdown_row(warning: ShutdownWarning) -> dict[str, str]:
    return {
        "provider": warning.provider,
        "model": warning.model.id,
        "shuts down on": str(warning.model.shuts_down_on),
        "replacement": warning.model.replacement or "—",
        f"jobs, last {SHUTDOWN_WARNING_DAYS} days": _at_least(warning.recent_jobs),
        "queued now": _at_least(warning.queued_jobs),
    }


def _at_least(count: int) -> str:
    """Counts stop at one page of jobs: a full page reads "100+"."""
    return f"{count}+" if count >= MAX_PAGE else str(count)


# ---- page -------------------------------------------------------------------------------------


def main() -> None:
    st.title("Admin")
    flash = st.session_state.pop(FLASH_KEY, None)
    if flash:
        email, message = flash
        prefix = f"{_md_code(email)}: " if email else ""
        st.success(prefix + widgets.md_escape(message))
    try:
        shutdowns_section(svc.admin.upcoming_shutdowns(user))
    except StudioError as exc:
        widgets.show_error(exc)
        return
    section = st.radio(
        "Section", SECTIONS, horizontal=True, key="admin_section", label_visibility="collapsed"
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
