"""Account: who am I, sign out, change the password, the signed-in browsers (sign out one or
every other), personal API tokens (the secret is shown once), and your data: export it as a
zip, or delete the account."""

from __future__ import annotations

import streamlit as st

from core.domain.errors import StudioError
from core.domain.models import SessionInfo
from core.domain.policy import MIN_PASSWORD, new_passwords_differ
from core.web import auth as web_auth
from pages import widgets
from pages.i18n import fmt_bytes, t
from pages.webhooks import webhooks_section

NEW_SECRET_KEY = "account_new_token"
EXPORT_SUMMARY_KEY = "account_export_summary"
ACCOUNT_FLASH_KEY = "account_flash"

user = widgets.require_user()
svc = widgets.services()

st.title(t("account.title"))
st.text(t("account.email", email=user.email))
st.text(t("account.role", role=widgets.role_name(user.role)))
if st.button(t("account.sign_out"), icon=":material/logout:"):
    widgets.sign_out()

flash = st.session_state.pop(ACCOUNT_FLASH_KEY, None)
if flash:
    st.success(flash, icon=":material/check_circle:")

# ---- password and sessions (issue #16) ---------------------------------------------------------

st.divider()
st.subheader(t("account.password"))
st.caption(t("account.password_caption"))
with st.form("change_password", clear_on_submit=True):
    current_password = st.text_input(
        t("account.current_password"),
        type="password",
        autocomplete="current-password",
        key="account_current_password",
    )
    new_password = st.text_input(
        t("account.new_password", min=MIN_PASSWORD),
        type="password",
        autocomplete="new-password",
        key="account_new_password",
    )
    confirm_password = st.text_input(
        t("account.confirm_password"),
        type="password",
        autocomplete="new-password",
        key="account_confirm_password",
    )
    if st.form_submit_button(t("account.change_password"), icon=":material/password:"):
        try:
            if new_password != confirm_password:
                raise new_passwords_differ()
            svc.accounts.change_password(
                user, widgets.session_token() or "", current_password, new_password
            )
        except StudioError as exc:
            widgets.show_error(exc)
        else:
            st.session_state[ACCOUNT_FLASH_KEY] = t("account.password_changed")
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
        label = t("account.browser_on", browser=browser, system=system)
    else:
        label = browser or system or (widgets.short(agent, 60) if agent else "")
        label = label or t("account.unknown_browser")
    return t("account.this_browser", label=label) if session.current else label


st.divider()
st.subheader(t("account.sessions"))
st.caption(t("account.sessions_caption"))
this_token = widgets.session_token()
sessions = svc.accounts.list_sessions(user, this_token)
for session in sessions:
    with st.container(border=True):
        info, action = st.columns([4, 1])
        with info:
            st.text(_session_label(session))
            st.caption(
                t(
                    "account.session_times",
                    signed_in=widgets.fmt_time(session.created_at),
                    last_seen=widgets.fmt_ago(session.last_seen_at),
                )
            )
            if session.user_agent:
                st.caption(widgets.md_escape(widgets.short(session.user_agent, 160)))
        if not session.current and action.button(
            t("account.sign_out_browser"), key=f"session_{session.id}", icon=":material/logout:"
        ):
            try:
                svc.accounts.revoke_session(user, session.id)
            except StudioError as exc:
                widgets.show_error(exc)
            else:
                st.session_state[ACCOUNT_FLASH_KEY] = t("account.browser_signed_out")
                st.rerun()
others = [s for s in sessions if not s.current]
if st.button(
    t("account.sign_out_others"),
    icon=":material/devices:",
    disabled=not others or not this_token,
):
    try:
        count = svc.accounts.revoke_other_sessions(user, this_token or "")
    except StudioError as exc:
        widgets.show_error(exc)
    else:
        st.session_state[ACCOUNT_FLASH_KEY] = t("account.others_signed_out", count=count)
        st.rerun()

st.divider()
st.subheader(t("account.tokens"))
st.caption(t("account.tokens_caption"))

new_secret = st.session_state.pop(NEW_SECRET_KEY, None)
if new_secret:
    st.success(t("account.token_created"))
    st.code(new_secret, language=None)

with st.form("new_token", clear_on_submit=True):
    name = st.text_input(
        t("account.token_name"),
        max_chars=100,
        placeholder=t("account.token_placeholder"),
        key="account_token_name",
    )
    if st.form_submit_button(t("account.create_token"), icon=":material/key:"):
        try:
            _token, secret = svc.accounts.create_api_token(user, name)
        except StudioError as exc:
            widgets.show_error(exc)
        else:
            st.session_state[NEW_SECRET_KEY] = secret
            st.rerun()

tokens = svc.accounts.list_api_tokens(user)
if not tokens:
    st.caption(t("account.no_tokens"))
for token in tokens:
    with st.container(border=True):
        info, action = st.columns([4, 1])
        with info:
            st.text(t("account.token_revoked", name=token.name) if token.revoked else token.name)
            st.caption(
                t(
                    "account.token_times",
                    created=widgets.fmt_time(token.created_at),
                    used=widgets.fmt_ago(token.last_used_at)
                    if token.last_used_at
                    else t("common.never"),
                )
            )
        if not token.revoked and action.button(t("account.revoke"), key=f"revoke_{token.id}"):
            try:
                svc.accounts.revoke_api_token(user, token.id)
            except StudioError as exc:
                widgets.show_error(exc)
            else:
                st.rerun()

webhooks_section(user, svc)  # endpoints, delivery log, resend (pages/webhooks.py)

st.divider()
st.subheader(t("account.your_data"))
st.caption(t("account.your_data_caption"))
if st.button(t("account.export"), icon=":material/download:"):
    with st.spinner(t("account.counting")):
        st.session_state[EXPORT_SUMMARY_KEY] = svc.accounts.export_summary(user)
summary = st.session_state.get(EXPORT_SUMMARY_KEY)
if summary is not None:
    st.info(
        t(
            "account.export_summary",
            jobs=summary.jobs,
            files=summary.files,
            size=fmt_bytes(summary.bytes),
        )
    )
    url = web_auth.export_url()
    if url:
        st.link_button(t("account.download_zip"), url, icon=":material/folder_zip:")
    else:
        st.caption(t("account.needs_server"))

with st.expander(t("account.delete"), icon=":material/delete_forever:", key="account_delete"):
    st.warning(t("account.delete_warning"))
    with st.form("delete_account"):
        typed = st.text_input(
            t("account.type_email"), placeholder=user.email, key="account_delete_email"
        )
        if st.form_submit_button(t("account.delete"), type="primary"):
            try:
                svc.accounts.delete_account(user, typed)
            except StudioError as exc:
                widgets.show_error(exc)
            else:
                widgets.sign_out()
