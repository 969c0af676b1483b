"""The router: sign-in / sign-up while signed out, then the pages the user's role allows."""

from __future__ import annotations

import streamlit as st

from core.errors import StudioError
from pages import widgets

st.set_page_config(page_title="Image Studio", page_icon=":material/palette:", layout="wide")


def sign_in_page() -> None:
    """Sign in or create an account (email + password), in a narrow centred column."""
    with st.columns([1, 2, 1])[1]:
        _sign_in_forms()


def _sign_in_forms() -> None:
    st.title("Image Studio")
    st.caption("Sign in to generate images, or create an account.")
    sign_in_tab, sign_up_tab = st.tabs(["Sign in", "Create account"])
    with sign_in_tab, st.form("sign_in"):
        email = st.text_input("Email", key="sign_in_email", autocomplete="email")
        password = st.text_input(
            "Password", type="password", key="sign_in_password", autocomplete="current-password"
        )
        if st.form_submit_button("Sign in", type="primary"):
            try:
                signed_in = widgets.service().sign_in(email.strip(), password)
            except StudioError as exc:
                widgets.show_error(exc)
            else:
                widgets.start_session(signed_in)
                st.rerun()
    with sign_up_tab, st.form("sign_up"):
        email = st.text_input("Email", key="sign_up_email", autocomplete="email")
        password = st.text_input(
            "Password (at least 8 characters)",
            type="password",
            key="sign_up_password",
            autocomplete="new-password",
        )
        if st.form_submit_button("Create account", type="primary"):
            try:
                signed_in = widgets.service().sign_up(email.strip(), password)
            except StudioError as exc:
                widgets.show_error(exc)
            else:
                widgets.start_session(signed_in)
                st.rerun()


def main() -> None:
    if widgets.pending_redirect():
        st.stop()
    user = widgets.current_user()
    if user is None:
        # A hidden one-page navigation, so the files in pages/ are never listed or served.
        sign_in = st.Page(sign_in_page, title="Sign in", default=True)
        st.navigation([sign_in], position="hidden").run()
        return

    widgets.keep_form_state()
    with st.sidebar:
        st.caption("Signed in as")
        st.text(f"{user.email} ({user.role.value})")
    st.navigation(widgets.navigation_pages(user)).run()


main()
