"""Account: who am I, sign out, personal API tokens (the secret is shown once), and your data:
export it as a zip, or delete the account."""

from __future__ import annotations

import streamlit as st

from core.domain.errors import StudioError
from core.web import auth as web_auth
from pages import widgets

NEW_SECRET_KEY = "account_new_token"
EXPORT_SUMMARY_KEY = "account_export_summary"

user = widgets.require_user()
svc = widgets.services()

st.title("Account")
st.text(f"Email: {user.email}")
st.text(f"Role:  {user.role.value}")
if st.button("Sign out", icon=":material/logout:"):
    widgets.sign_out()

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
