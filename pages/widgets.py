"""Shared Streamlit pieces: who is signed in, the role gate every page starts with, the cookie
hand-off, images, status badges and plain-text helpers. Never registered as a page."""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

import streamlit as st

from core.domain.errors import AuthRequired, StudioError
from core.domain.models import Job, JobStatus, Role, User
from core.ports import SignedIn
from core.runtime import get_runtime
from core.services import Services
from core.web import auth as web_auth
from pages.job_text import alt_text

PAGES_DIR = Path(__file__).resolve().parent
_TOKEN_KEY = "auth_session_token"
_REDIRECT_KEY = "auth_redirect"
_LIVE_AUTH_RERUN_KEY = "auth_live_rerun"
SESSION_ENDED_KEY = "auth_session_ended"
SESSION_ENDED = (
    "Your session has ended: you signed out in another window, it expired, or an admin "
    "disabled your account. Sign in again; if the account is disabled, signing in says so."
)
_ROLE_RANK = {Role.USER: 0, Role.REVIEWER: 1, Role.ADMIN: 2}
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~$:=])")

STATUS_BADGES: dict[JobStatus, tuple[str, str, str]] = {
    JobStatus.QUEUED: ("Queued", "gray", ":material/schedule:"),
    JobStatus.PROCESSING: ("Processing", "blue", ":material/progress_activity:"),
    JobStatus.DONE: ("Done", "green", ":material/check_circle:"),
    JobStatus.FAILED: ("Failed", "red", ":material/error:"),
    JobStatus.CANCELED: ("Canceled", "orange", ":material/cancel:"),
}


def services() -> Services:
    """The process's services (the only thing pages talk to)."""
    return get_runtime().services


# ---- who is signed in ------------------------------------------------------------------------


def session_token() -> str | None:
    """This tab's session token: from a sign-in in this tab, else from the browser cookie."""
    token = st.session_state.get(_TOKEN_KEY)
    if token:
        return str(token)
    cookie = st.context.cookies.get(web_auth.COOKIE_NAME)
    return cookie if isinstance(cookie, str) and cookie else None


def current_user() -> User | None:
    """The signed-in user, re-checked against the server-side session on every run (a revoked
    session or a disabled account signs the tab out at once)."""
    token = session_token()
    if not token:
        return None
    user = services().accounts.user_for_session(token)
    if user is None:
        st.session_state.pop(_TOKEN_KEY, None)
        st.session_state[SESSION_ENDED_KEY] = True  # the sign-in page says why it is shown
    return user


def has_role(user: User, min_role: Role) -> bool:
    return _ROLE_RANK[user.role] >= _ROLE_RANK[min_role]


def require_user(min_role: Role = Role.USER) -> User:
    """The first line of every page: the signed-in user with at least `min_role`, or a short
    message and nothing else (st.stop)."""
    user = current_user()
    if user is None:
        if st.session_state.pop(SESSION_ENDED_KEY, False):
            st.info(SESSION_ENDED)
        else:
            st.info("You are signed out. Sign in to use the studio.")
        st.html('<p><a href="/">Go to the sign-in page</a></p>')
        st.stop()
    if not has_role(user, min_role):
        st.error(f"This page is for the {min_role.value} role and above.")
        st.stop()
    return user


@contextmanager
def live_user() -> Iterator[User]:
    """The body of a live fragment (st.fragment(run_every=…)) runs inside this. A timed rerun
    runs only the fragment, never the page's require_user, so the session is re-checked here and
    the fresh user (with a fresh backend credential) is the one to use. Signed out, revoked or
    disabled: the whole app reruns and the router shows sign-in. A service call refused with
    AuthRequired does the same, once: if the full rerun is refused too, the error is shown
    instead of rerunning in a loop."""
    user = current_user()
    if user is None:
        st.rerun(scope="app")
    try:
        yield user
    except AuthRequired as exc:
        if st.session_state.get(_LIVE_AUTH_RERUN_KEY):
            show_error(exc)
            return
        st.session_state[_LIVE_AUTH_RERUN_KEY] = True
        st.rerun(scope="app")
    else:
        st.session_state.pop(_LIVE_AUTH_RERUN_KEY, None)


# (file, title, icon, minimum role) in menu order; Review and Admin come from their own work
# and are offered only when their files exist.
NAVIGATION: tuple[tuple[str, str, str, Role], ...] = (
    ("generate.py", "Generate", ":material/brush:", Role.USER),
    ("history.py", "History", ":material/photo_library:", Role.USER),
    ("review.py", "Review", ":material/rule:", Role.REVIEWER),
    ("admin.py", "Admin", ":material/admin_panel_settings:", Role.ADMIN),
    ("account.py", "Account", ":material/person:", Role.USER),
)


def navigation_entries(user: User) -> list[tuple[Path, str, str]]:
    """(path, title, icon) of the pages `user`'s role may open; the first is the default."""
    return [
        (PAGES_DIR / file, title, icon)
        for file, title, icon, min_role in NAVIGATION
        if has_role(user, min_role) and (PAGES_DIR / file).exists()
    ]


def navigation_pages(user: User) -> list[st.Page]:
    """st.Page objects for the router's st.navigation."""
    return [
        st.Page(path, title=title, icon=icon, default=i == 0)
        for i, (path, title, icon) in enumerate(navigation_entries(user))
    ]


# Widget values worth keeping while the person visits another page (Streamlit drops the state
# of widgets that were not drawn in a run). Only widgets created without a default value.
KEPT_WIDGET_KEYS = ("gen_prompt", "gen_provider")
KEPT_WIDGET_PREFIXES = ("gen_model_",)


def keep_form_state() -> None:
    """Called by the router on every run: re-own the kept widget values so they survive."""
    for key in list(st.session_state.keys()):
        if key in KEPT_WIDGET_KEYS or key.startswith(KEPT_WIDGET_PREFIXES):
            st.session_state[key] = st.session_state[key]


def start_session(signed_in: SignedIn) -> None:
    """After a form sign-in: keep the session for this tab and, when the browser can be
    identified, hand it to the HttpOnly cookie so it survives a reload."""
    st.session_state[_TOKEN_KEY] = signed_in.session_token
    ticket = web_auth.issue_ticket(
        "sign_in", signed_in.session_token, st.context.cookies.get(web_auth.XSRF_COOKIE_NAME)
    )
    if ticket is not None:
        st.session_state[_REDIRECT_KEY] = web_auth.sign_in_url(ticket)


def sign_out() -> None:
    """Revoke the session server-side (dead everywhere its cookie went), forget this tab's
    state and have the browser clear its cookie."""
    token = session_token()
    ticket = None
    if token:
        services().accounts.sign_out(token)
        ticket = web_auth.issue_ticket(
            "sign_out", token, st.context.cookies.get(web_auth.XSRF_COOKIE_NAME)
        )
    for key in list(st.session_state.keys()):
        del st.session_state[key]
    if st.context.cookies.get(web_auth.COOKIE_NAME):
        st.session_state[_REDIRECT_KEY] = web_auth.sign_out_url(ticket)
    st.rerun()


def pending_redirect() -> bool:
    """Render a pending cookie hand-off (a top-window navigation plus a visible link) once.
    Returns True when the page should render nothing else."""
    url = st.session_state.pop(_REDIRECT_KEY, None)
    if not url:
        return False
    st.info("One moment…")
    # st.html is not iframed: the script runs in the app's own window.
    st.html(
        f"<script>window.location.replace({json.dumps(url)});</script>",
        unsafe_allow_javascript=True,
    )
    st.html(f'<p><a href="{html.escape(url)}">Continue</a></p>')
    return True


# ---- plain text ------------------------------------------------------------------------------


def md_escape(text: str) -> str:
    """Text made inert for Streamlit's Markdown (for messages shown in st.error & co)."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", text)


def show_error(exc: StudioError) -> None:
    st.error(md_escape(exc.message), icon=":material/error:")


def fmt_time(value: datetime | None) -> str:
    return value.astimezone().strftime("%Y-%m-%d %H:%M:%S") if value else "—"


def fmt_seconds(start: datetime | None, end: datetime | None) -> str:
    if not start or not end:
        return "—"
    return f"{(end - start).total_seconds():.1f} s"


def short(text: str, limit: int = 80) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


# ---- keyset pagination -----------------------------------------------------------------------


def page_cursor(cursors_key: str, filters_key: str, filters: object) -> str | None:
    """The cursor of the page to show, from the stack of visited pages' cursors kept under
    `cursors_key`; a change of `filters` (kept under `filters_key`) goes back to the first."""
    if st.session_state.get(filters_key) != filters:
        st.session_state[filters_key] = filters
        st.session_state[cursors_key] = [None]
    cursors: list[str | None] = st.session_state.setdefault(cursors_key, [None])
    return cursors[-1]


def pager(
    cursors_key: str,
    next_cursor: str | None,
    *,
    labels: tuple[str, str] = ("Previous", "Next"),
    keys: tuple[str | None, str | None] = (None, None),
) -> None:
    """Previous / "Page n" / Next under a grid, moving along the stack of `page_cursor`."""
    cursors: list[str | None] = st.session_state[cursors_key]
    prev_col, label_col, next_col = st.columns([1, 2, 1])
    if prev_col.button(
        labels[0], key=keys[0], disabled=len(cursors) <= 1, icon=":material/chevron_left:"
    ):
        cursors.pop()
        st.rerun()
    label_col.caption(f"Page {len(cursors)}")
    if next_col.button(
        labels[1], key=keys[1], disabled=next_cursor is None, icon=":material/chevron_right:"
    ):
        cursors.append(next_cursor)
        st.rerun()


# ---- jobs and images -------------------------------------------------------------------------


def status_badge(job: Job, position: int | None = None) -> None:
    label, color, icon = STATUS_BADGES[job.status]
    if job.status is JobStatus.QUEUED and position:
        label = f"{label} · #{position} in line"
    st.badge(label, color=color, icon=icon)  # type: ignore[arg-type]


def image_sources(user: User, jobs: Iterable[Job], *, thumbs: bool) -> dict[str, str]:
    """Signed URLs for the finished jobs among `jobs`, one backend call for the lot."""
    return services().jobs.image_urls(user, list(jobs), thumbs=thumbs)


def show_job_image(user: User, job: Job, url: str | None, *, thumb: bool) -> None:
    """Show a finished job's image. Absolute URLs (Supabase) go to the browser as they are;
    relative ones (local `/api/files/...`) would be read as a file path by st.image, so the
    bytes are sent instead."""
    if job.status is not JobStatus.DONE:
        return
    alt = alt_text(job)
    try:
        if url and url.startswith(("https://", "http://")):
            st.image(url, width="stretch", alt=alt)
        else:
            data, _mime, _name = services().jobs.image_bytes(user, job.id, thumb=thumb)
            st.image(data, width="stretch", alt=alt)
    except (StudioError, OSError):
        st.caption("The image could not be loaded.")


def download_button(user: User, job: Job, *, key: str) -> None:
    """A download button for a finished job's full image."""
    if job.status is not JobStatus.DONE:
        return
    try:
        data, mime, name = services().jobs.image_bytes(user, job.id)
    except (StudioError, OSError):
        return
    st.download_button(
        "Download",
        data=data,
        file_name=name,
        mime=mime,
        key=key,
        icon=":material/download:",
        on_click="ignore",
    )
