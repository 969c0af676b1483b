"""Shared Streamlit pieces: who is signed in, the role gate every page starts with, the cookie
hand-off, images, status badges and plain-text helpers. Never registered as a page."""

from __future__ import annotations

import html
import json
import mimetypes
import re
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import streamlit as st
from streamlit.runtime.scriptrunner import get_script_run_ctx

from core.domain.errors import AuthRequired, StudioError
from core.domain.models import Job, JobStatus, Role, User
from core.ports import SignedIn
from core.runtime import get_runtime
from core.services import Services
from core.services.jobs import download_name
from core.web import auth as web_auth
from pages import i18n
from pages.i18n import t
from pages.job_text import alt_text

PAGES_DIR = Path(__file__).resolve().parent
_TOKEN_KEY = "auth_session_token"
_REDIRECT_KEY = "auth_redirect"
_LIVE_AUTH_RERUN_KEY = "auth_live_rerun"
_RUN_USER_ATTR = "_studio_run_user"  # on the script run context: (run marker, token, user)
SESSION_ENDED_KEY = "auth_session_ended"  # the sign-in page says why it is shown
_ROLE_RANK = {Role.USER: 0, Role.REVIEWER: 1, Role.ADMIN: 2}
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~$:=])")

# (catalogue key of the label, color, icon)
STATUS_BADGES: dict[JobStatus, tuple[str, str, str]] = {
    JobStatus.QUEUED: ("status.queued", "gray", ":material/schedule:"),
    JobStatus.PROCESSING: ("status.processing", "blue", ":material/progress_activity:"),
    JobStatus.DONE: ("status.done", "green", ":material/check_circle:"),
    JobStatus.FAILED: ("status.failed", "red", ":material/error:"),
    JobStatus.CANCELED: ("status.canceled", "orange", ":material/cancel:"),
}
ROLE_NAMES: dict[Role, str] = {
    Role.USER: "role.user",
    Role.REVIEWER: "role.reviewer",
    Role.ADMIN: "role.admin",
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
    session or a disabled account signs the tab out at once). Looked up once per script run:
    the router, the page's guard and its live fragment share the answer (a fragment's own
    rerun is a new run and checks again)."""
    token = session_token()
    if not token:
        return None
    ctx = get_script_run_ctx()
    # `cursors` is a new dict at the start of every run (full or fragment): it marks the run.
    run = ctx.cursors if ctx is not None else None
    cached = getattr(ctx, _RUN_USER_ATTR, None)
    if run is not None and cached is not None and cached[0] is run and cached[1] == token:
        user: User | None = cached[2]
    else:
        user = services().accounts.user_for_session(token)
        if ctx is not None:
            setattr(ctx, _RUN_USER_ATTR, (run, token, user))
    if user is None:
        st.session_state.pop(_TOKEN_KEY, None)
        st.session_state[SESSION_ENDED_KEY] = True  # the sign-in page says why it is shown
    elif user.language:
        i18n.set_language(user.language)  # the profile's choice, on every device
    return user


def forget_current_user() -> None:
    """Drop this run's cached answer of `current_user` (after the profile changed, e.g. its
    language: a callback runs inside the run whose cache would otherwise hand the old profile
    to the page)."""
    ctx = get_script_run_ctx()
    if ctx is not None and hasattr(ctx, _RUN_USER_ATTR):
        delattr(ctx, _RUN_USER_ATTR)


def has_role(user: User, min_role: Role) -> bool:
    return _ROLE_RANK[user.role] >= _ROLE_RANK[min_role]


def require_user(min_role: Role = Role.USER) -> User:
    """The first line of every page: the signed-in user with at least `min_role`, or a short
    message and nothing else (st.stop)."""
    user = current_user()
    if user is None:
        if st.session_state.pop(SESSION_ENDED_KEY, False):
            st.info(t("signin.session_ended"))
        else:
            st.info(t("gate.signed_out"))
        st.html(f'<p><a href="/">{html.escape(t("gate.go_sign_in"))}</a></p>')
        st.stop()
    if not has_role(user, min_role):
        st.error(t("gate.role_required", role=role_name(min_role)))
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


# (file, title's catalogue key, icon, minimum role) in menu order; Review and Admin come from
# their own work and are offered only when their files exist.
NAVIGATION: tuple[tuple[str, str, str, Role], ...] = (
    ("generate.py", "nav.generate", ":material/brush:", Role.USER),
    ("history.py", "nav.history", ":material/photo_library:", Role.USER),
    ("edit.py", "nav.edit", ":material/ink_highlighter:", Role.USER),
    ("compare.py", "nav.compare", ":material/view_column:", Role.USER),
    ("review.py", "nav.review", ":material/rule:", Role.REVIEWER),
    ("admin.py", "nav.admin", ":material/admin_panel_settings:", Role.ADMIN),
    ("account.py", "nav.account", ":material/person:", Role.USER),
)


def navigation_entries(user: User) -> list[tuple[Path, str, str]]:
    """(path, title, icon) of the pages `user`'s role may open; the first is the default."""
    return [
        (PAGES_DIR / file, t(title), icon)
        for file, title, icon, min_role in NAVIGATION
        if has_role(user, min_role) and (PAGES_DIR / file).exists()
    ]


def signed_out_pages(sign_in: Callable[[], None], title: str) -> list[st.Page]:
    """Signed out, every page's URL shows `sign_in` (the first is the default), so the page
    keeps its address: after signing in the person lands where the link pointed, and a live
    view's timer tick that reaches the server after a sign-out (it names the page it was
    drawn on) finds that page still there instead of turning the tab into a blank page."""
    return [
        st.Page(sign_in, title=title, url_path=Path(file).stem, default=i == 0)
        for i, (file, *_rest) in enumerate(NAVIGATION)
        if (PAGES_DIR / file).exists()
    ]


def navigation_pages(user: User) -> list[st.Page]:
    """st.Page objects for the router's st.navigation."""
    return [
        st.Page(path, title=title, icon=icon, default=i == 0)
        for i, (path, title, icon) in enumerate(navigation_entries(user))
    ]


def start_session(signed_in: SignedIn, return_to: str = "/") -> None:
    """After a form sign-in: keep the session for this tab and, when the browser can be
    identified, hand it to the HttpOnly cookie so it survives a reload; the hand-off comes
    back to `return_to` (the address the person signed in on)."""
    st.session_state[_TOKEN_KEY] = signed_in.session_token
    ticket = web_auth.issue_ticket(
        "sign_in", signed_in.session_token, st.context.cookies.get(web_auth.XSRF_COOKIE_NAME)
    )
    if ticket is not None:
        st.session_state[_REDIRECT_KEY] = web_auth.sign_in_url(ticket, return_to)


def page_address(page: st.Page) -> str:
    """The address of `page` with this run's query parameters (e.g. an opened job), as a path
    for returning to it."""
    query = urlencode(st.query_params.to_dict())
    return f"/{page.url_path}" + (f"?{query}" if query else "")


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
    kept = i18n.kept_state()  # the tab keeps its language
    for key in list(st.session_state.keys()):
        del st.session_state[key]
    st.session_state.update(kept)
    if st.context.cookies.get(web_auth.COOKIE_NAME):
        st.session_state[_REDIRECT_KEY] = web_auth.sign_out_url(ticket)
    st.rerun()


def pending_redirect() -> bool:
    """Render a pending cookie hand-off (a top-window navigation plus a visible link) once.
    Returns True when the page should render nothing else."""
    url = st.session_state.pop(_REDIRECT_KEY, None)
    if not url:
        return False
    st.info(t("common.one_moment"))
    # st.html is not iframed: the script runs in the app's own window.
    st.html(
        f"<script>window.location.replace({json.dumps(url)});</script>",
        unsafe_allow_javascript=True,
    )
    st.html(f'<p><a href="{html.escape(url)}">{html.escape(t("common.continue"))}</a></p>')
    return True


# ---- plain text ------------------------------------------------------------------------------


def md_escape(text: str) -> str:
    """Text made inert for Streamlit's Markdown (for messages shown in st.error & co)."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", text)


def error_text(exc: StudioError) -> str:
    """An error from core in this session's language: the catalogue's `error.<reason>` with
    the error's params, else (a reason the catalogue lacks, or text a provider wrote) core's
    English words as they are."""
    key = f"error.{exc.reason}"
    translator = i18n.current()
    if translator.has(key):
        # The checked file's kind ("what": "mask", "reference image"…) in this language.
        params = dict(exc.params)
        if params.get("what") in FILE_KINDS:
            params["what"] = t(FILE_KINDS[str(params["what"])])
        try:
            return translator(key, **params)
        except (KeyError, IndexError, ValueError):  # params not as the catalogue expects
            return exc.message
    return exc.message


# The kinds of file an upload error names (core.domain.uploads), by catalogue key.
FILE_KINDS = {
    "image": "file_kind.image",
    "source image": "file_kind.source_image",
    "mask": "file_kind.mask",
    "reference image": "file_kind.reference_image",
}


def show_error(exc: StudioError) -> None:
    st.error(md_escape(error_text(exc)), icon=":material/error:")


def role_name(role: Role) -> str:
    """A role's name in this session's language."""
    return t(ROLE_NAMES[role])


def fmt_time(value: datetime | None) -> str:
    return i18n.fmt_time(value)


def fmt_ago(value: datetime | None) -> str:
    """ "3 minutes ago" / "3分钟前" in this session's language."""
    return i18n.fmt_ago(value)


def fmt_seconds(start: datetime | None, end: datetime | None) -> str:
    if not start or not end:
        return "—"
    return t("common.seconds", seconds=i18n.fmt_number((end - start).total_seconds(), 1))


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
    labels: tuple[str, str] | None = None,
    keys: tuple[str | None, str | None] = (None, None),
) -> None:
    """Previous / "Page n" / Next under a grid, moving along the stack of `page_cursor`."""
    cursors: list[str | None] = st.session_state[cursors_key]
    labels = labels or (t("pager.previous"), t("pager.next"))
    prev_col, label_col, next_col = st.columns([1, 2, 1])
    if prev_col.button(
        labels[0], key=keys[0], disabled=len(cursors) <= 1, icon=":material/chevron_left:"
    ):
        cursors.pop()
        st.rerun()
    label_col.caption(t("pager.page", number=len(cursors)))
    if next_col.button(
        labels[1], key=keys[1], disabled=next_cursor is None, icon=":material/chevron_right:"
    ):
        cursors.append(next_cursor)
        st.rerun()


# ---- jobs and images -------------------------------------------------------------------------


def status_badge(job: Job, position: int | None = None) -> None:
    key, color, icon = STATUS_BADGES[job.status]
    label = t(key)
    if job.status is JobStatus.QUEUED and position:
        label = t("status.in_line", status=label, position=position)
    st.badge(label, color=color, icon=icon)  # type: ignore[arg-type]


def image_sources(user: User, jobs: Iterable[Job], *, thumbs: bool) -> dict[str, str]:
    """Signed URLs for the finished jobs among `jobs`, one backend call for the lot."""
    return services().jobs.image_urls(user, list(jobs), thumbs=thumbs)


def _absolute(url: str | None) -> str | None:
    """A signed URL the browser can load: Supabase's are absolute; the local backend's are
    relative (`/api/files/...`, served by this same server) and get the page's own origin."""
    if not url or url.startswith(("https://", "http://")):
        return url
    if not url.startswith("/"):
        return None
    page = urlsplit(st.context.url or "")
    if page.scheme not in ("http", "https") or not page.netloc:
        return None  # no browser (AppTest): the bytes are sent instead
    return f"{page.scheme}://{page.netloc}{url}"


def show_job_image(user: User, job: Job, url: str | None, *, thumb: bool) -> None:
    """Show a finished job's image. The browser loads it from its signed URL (the same URL on
    every redraw while it is valid, with long-lived cache headers: a rerun downloads nothing);
    only without a usable URL are the bytes sent through the page."""
    if job.status is not JobStatus.DONE:
        return
    url = _absolute(url)
    alt = alt_text(job)
    try:
        if url:
            st.image(url, width="stretch", alt=alt)
        else:
            data, _mime, _name = services().jobs.image_bytes(user, job.id, thumb=thumb)
            st.image(data, width="stretch", alt=alt)
    except (StudioError, OSError):
        st.caption(t("image.not_loaded"))


def download_button(user: User, job: Job, *, key: str) -> None:
    """A download button for a finished job's full image. The image is read only when the
    button is clicked (a deferred download), never on a render."""
    if job.status is not JobStatus.DONE or not job.result_path:
        return
    mime = str(
        job.result_meta.get("mime") or mimetypes.guess_type(job.result_path)[0] or "image/png"
    )

    def image() -> bytes:
        return services().jobs.image_bytes(user, job.id)[0]

    st.download_button(
        t("image.download"),
        data=image,
        file_name=download_name(job, job.result_path),
        mime=mime,
        key=key,
        icon=":material/download:",
        on_click="ignore",
    )


# ---- live views ------------------------------------------------------------------------------

# A live view's fragment is rerun by the browser's timer this soon after a full run; from then on
# it waits on the server for the next change of the user's jobs (JobsService.wait_for_change) and
# redraws at once when it comes. A worker in another process (Supabase mode, `python -m core
# worker`) sends no signal: the wait's timeout is then the poll, about once a second per
# session. With the worker in this process its jobs signal, and the poll is only a backstop.
LIVE_TICK_S = 0.25
LIVE_POLL_S = 1.0
LIVE_POLL_OWN_WORKER_S = 2.0
# How often a waiting view looks whether the person did something (a click reruns at once).
_LIVE_CHECK_S = 0.1
# The run right after a submit waits this long for the new jobs to finish (this process's worker
# signals each change), so that a fast image is drawn by that run, not by a later live tick.
SUBMIT_SETTLE_S = 0.4


def settled(user: User, read: Callable[[], list[Job]], *, timeout: float) -> list[Job]:
    """`read()`, read again after each change of the user's jobs until every job read is
    finished or `timeout` passed. Only with the worker in this process (no signal otherwise):
    then it is one `read()`."""
    jobs_service = services().jobs
    since = jobs_service.change_version(user)
    jobs = read()
    if get_runtime().worker is None:
        return jobs
    deadline = time.monotonic() + timeout
    while not all(j.status.finished for j in jobs) and (left := deadline - time.monotonic()) > 0:
        version = jobs_service.wait_for_change(user, since, left)
        if version == since:
            break
        since = version
        jobs = read()
    return jobs


def in_fragment_run() -> bool:
    """True while a fragment reruns on its own (not as part of a full script run)."""
    ctx = get_script_run_ctx()
    return bool(ctx is not None and ctx.fragment_ids_this_run)


def live_fragment(body: Callable[[User], bool], *, live: bool) -> None:
    """Draw `body(user)` in a fragment that stays current while `live`. `body` draws what it
    shows and returns True while some of it is unfinished (keep watching). Live, the fragment
    waits for the change signal after drawing and redraws as soon as one of the user's jobs
    changes (or after LIVE_POLL_S); once nothing is unfinished the whole page runs once more,
    without the timer. The session is checked on every run (see live_user)."""
    st.fragment(run_every=LIVE_TICK_S if live else None)(_live_run)(body, live)


def _live_run(body: Callable[[User], bool], live: bool) -> None:
    unfinished = True  # stays so when the service refused the session (the error is shown)
    with live_user() as user:
        jobs = services().jobs
        since = jobs.change_version(user)  # before reading: a change while drawing counts
        unfinished = body(user)
        if live and unfinished and in_fragment_run() and _wait_for_change(user, since):
            st.rerun(scope="fragment")
    if live and not unfinished:
        st.rerun(scope="app")  # redraw once without the timer


def _wait_for_change(user: User, since: int) -> bool:
    """Wait up to LIVE_POLL_S for a change of the user's jobs: True when one came. Returns
    False early when the person did something (their rerun must not wait for us)."""
    jobs = services().jobs
    left = LIVE_POLL_OWN_WORKER_S if get_runtime().worker is not None else LIVE_POLL_S
    while left > 0:
        step = min(_LIVE_CHECK_S, left)
        if jobs.wait_for_change(user, since, step) > since:
            return True
        if _rerun_requested():
            return False
        left -= step
    return False


def _rerun_requested() -> bool:
    """Whether a rerun that would cut this run short (a click, a stop) is waiting. The
    browser's own timer ticks do not count: they wait for this run to end anyway."""
    ctx = get_script_run_ctx()
    requests = getattr(ctx, "script_requests", None)
    state = getattr(requests, "_state", None)
    if state is None:
        return False
    name = getattr(state, "name", str(state))
    if name == "STOP":
        return True
    if name != "RERUN":
        return False
    data = getattr(requests, "_rerun_data", None)
    timer_tick = bool(getattr(data, "fragment_id_queue", None)) and not getattr(
        data, "is_fragment_scoped_rerun", False
    )
    return not timer_tick
