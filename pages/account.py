"""Account: who am I, sign out, change the password, the signed-in browsers (sign out one or
every other), personal API tokens (the secret is shown once), and your data: export it as a
zip, or delete the account."""

from __future__ import annotations

import streamlit as st

from core.domain.errors import StudioError
from core.domain.models import SessionInfo
from core.domain.policy import new_passwords_differ
from core.web import auth as web_auth
from pages import widgets
from pages.webhooks import webhooks_section

NEW_SECRET_KEY = "account_new_token"
EXPORT_SUMMARY_KEY = "account_export_summary"
ACCOUNT_FLASH_KEY = "account_flash"

user = widgets.require_user()
svc = widgets.services()

st.title("Account")
st.text(f"Email: {user.email}")
st.text(f"Role:  {user.role.value}")
if st.button("Sign out", icon=":material/logout:"):
    widgets.sign_out()

flash = st.session_state.pop(ACCOUNT_FLASH_KEY, None)
if flash:
    st.success(flash, icon=":material/check_circle:")

# ---- password and sessions (issue #16) ---------------------------------------------------------

st.divider()
st.subheader("Password")
st.caption("Changing it signs out every other browser; this one stays signed in.")
with st.form("change_password", clear_on_submit=True):
    current_password = st.text_input(
        "Current password", type="password", autocomplete="current-password"
    )
    new_password = st.text_input(
        "New password (at least 8 characters)", type="password", autocomplete="new-password"
    )
    confirm_password = st.text_input(
        "Confirm the new password", type="password", autocomplete="new-password"
    )
    if st.form_submit_button("Change password", icon=":material/password:"):
        try:
            if new_password != confirm_password:
                raise new_passwords_differ()
            svc.accounts.change_password(
                user, widgets.session_token() or "", current_password, new_password
            )
        except StudioError as exc:
            widgets.show_error(exc)
        else:
            st.session_state[ACCOUNT_FLASH_KEY] = (
                "Password changed. Every other browser was signed out."
            )
            st.rerun()


# (marker in the User-Agent header, name) in the order to try: Edge and Opera say "Chrome" too,
# Chrome says "Safari", every iPhone and iPad browser says "Mac OS X".
_BROWSERS = (
    ("Edg/", "Edge"),
    ("OPR/", "Opera"),
    ("Firefox/", "Firefox"),
    ("FxiOS/", "Firefox"),
    ("CriOS/", "Chrome"),
    ("Chrome/", "Chrome"),
    ("Safari/", "Safari"),
)
_SYSTEMS = (
    ("iPhone", "iPhone"),
    ("iPad", "iPad"),
    ("Android", "Android"),
    ("Windows", "Windows"),
    ("Mac OS X", "macOS"),
    ("CrOS", "ChromeOS"),
    ("Linux", "Linux"),
)


def _session_label(session: SessionInfo) -> str:
    """ "Chrome on Linux"-style, the raw header when neither part is recognised."""
    agent = session.user_agent or ""
    browser = next((name for marker, name in _BROWSERS if marker in agent), None)
    system = next((name for marker, name in _SYSTEMS if marker in agent), None)
    if browser and system:
        label = f"{browser} on {system}"
    else:
        label = browser or system or (widgets.short(agent, 60) if agent else "Unknown browser")
    return f"This browser · {label}" if session.current else label


st.divider()
st.subheader("Sessions")
st.caption("The browsers signed in to your account. Sign out any you do not recognise.")
this_token = widgets.session_token()
sessions = svc.accounts.list_sessions(user, this_token)
for session in sessions:
    with st.container(border=True):
        info, action = st.columns([4, 1])
        with info:
            st.text(_session_label(session))
            st.caption(
                f"Signed in {widgets.fmt_time(session.created_at)} · last seen "
                f"{widgets.fmt_time(session.last_seen_at)}"
            )
            if session.user_agent:
                st.caption(widgets.md_escape(widgets.short(session.user_agent, 160)))
        if not session.current and action.button(
            "Sign out browser", key=f"session_{session.id}", icon=":material/logout:"
        ):
            try:
                svc.accounts.revoke_session(user, session.id)
            except StudioError as exc:
                widgets.show_error(exc)
            else:
                st.session_state[ACCOUNT_FLASH_KEY] = "That browser was signed out."
                st.rerun()
others = [s for s in sessions if not s.current]
if st.button(
    "Sign out everywhere else",
    icon=":material/devices:",
    disabled=not others or not this_token,
):
    try:
        count = svc.accounts.revoke_other_sessions(user, this_token or "")
    except StudioError as exc:
        widgets.show_error(exc)
    else:
        st.session_state[ACCOUNT_FLASH_KEY] = f"Signed out {count} other browser(s)."
        st.rerun()

st.divider()
st.subheader("API tokens")
st.caption(
    "Use a token as `Authorization: Bearer <token>` with the REST API (/api/jobs). "
    "Anyone holding it can act as you: keep it secret, revoke it when unsure."
)

new_secret = st.session_state.pop(NEW_SECRET_KEY, None)
if new_secret:
    st.success("Token created. Copy it now: it will not be shown again.")
    st.code(new_secret, language=None)

with st.form("new_token", clear_on_submit=True):
    name = st.text_input("Token name", max_chars=100, placeholder="e.g. my laptop script")
    if st.form_submit_button("Create token", icon=":material/key:"):
        try:
            _token, secret = svc.accounts.create_api_token(user, name)
        except StudioError as exc:
            widgets.show_error(exc)
        else:
            st.session_state[NEW_SECRET_KEY] = secret
            st.rerun()

tokens = svc.accounts.list_api_tokens(user)
if not tokens:
    st.caption("No tokens yet.")
for token in tokens:
    with st.container(border=True):
        info, action = st.columns([4, 1])
        with info:
            st.text(token.name + ("  (revoked)" if token.revoked else ""))
            st.caption(
                f"Created {widgets.fmt_time(token.created_at)} · last used "
                f"{widgets.fmt_time(token.last_used_at) if token.last_used_at else 'never'}"
            )
        if not token.revoked and action.button("Revoke", key=f"revoke_{token.id}"):
            try:
                svc.accounts.revoke_api_token(user, token.id)
            except StudioError as exc:
                widgets.show_error(exc)
            else:
                st.rerun()

webhooks_section(user, svc)  # endpoints, delivery log, resend (pages/webhooks.py)

st.divider()
st.subheader("Your data")
st.caption(
    "Export a zip of all your images (results, thumbnails, inputs) with a jobs.json listing "
    "every job's prompt, parameters, status and times."
)
if st.button("Export my data", icon=":material/download:"):
    with st.spinner("Counting your jobs and images…"):
        st.session_state[EXPORT_SUMMARY_KEY] = svc.accounts.export_summary(user)
summary = st.session_state.get(EXPORT_SUMMARY_KEY)
if summary is not None:
    st.info(
        f"{summary.jobs} jobs, {summary.files} files, {summary.bytes / 1_000_000:.1f} MB. "
        "The zip is put together while it downloads."
    )
    url = web_auth.export_url()
    if url:
        st.link_button("Download the zip", url, icon=":material/folder_zip:")
    else:
        st.caption("The download needs the studio server (`python app.py`).")

with st.expander("Delete my account", icon=":material/delete_forever:"):
    st.warning(
        "This deletes all your images, jobs, API tokens and sessions, and your account, for "
        "good. Export your data first if you want to keep anything."
    )
    with st.form("delete_account"):
        typed = st.text_input("Type your email to confirm", placeholder=user.email)
        if st.form_submit_button("Delete my account", type="primary"):
            try:
                svc.accounts.delete_account(user, typed)
            except StudioError as exc:
                widgets.show_error(exc)
            else:
                widgets.sign_out()
