"""The router: sign-in / sign-up while signed out, then the pages the user's role allows."""

from __future__ import annotations

from collections.abc import Callable

import streamlit as st

from core.domain.errors import StudioError
from core.ports import SignedIn
from core.services.accounts import AccountsService
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
    with sign_in_tab:
        _account_form("sign_in", AccountsService.sign_in, "Password", "current-password", "Sign in")
    with sign_up_tab:
        _account_form(
            "sign_up",
            AccountsService.sign_up,
            "Password (at least 8 characters)",
            "new-password",
            "Create account",
        )


def _account_form(
    form_key: str,
    action: Callable[[AccountsService, str, str, str | None], SignedIn],
    password_label: str,
    autocomplete: str,
    submit: str,
) -> None:
    """One email + password form (its widget keys start with `form_key`) that signs the tab in
    with what `action` returns."""
    with st.form(form_key):
        email = st.text_input("Email", key=f"{form_key}_email", autocomplete="email")
        password = st.text_input(
            password_label, type="password", key=f"{form_key}_password", autocomplete=autocomplete
        )
        if st.form_submit_button(submit, type="primary"):
            try:
                user_agent = st.context.headers.get("User-Agent")  # for the session list
                signed_in = action(widgets.services().accounts, email.strip(), password, user_agent)
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
