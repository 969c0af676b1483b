"""The router: sign-in / sign-up while signed out, then the pages the user's role allows."""

from __future__ import annotations

from collections.abc import Callable

import streamlit as st

from core.domain.errors import StudioError
from core.domain.policy import NO_MAIL_HINT, PASSWORD_RESET_DONE, RESET_QUERY
from core.ports import SignedIn
from core.services.accounts import AccountsService
from pages import mobile, theme, widgets

st.set_page_config(page_title="Image Studio", page_icon=":material/palette:", layout="wide")


def sign_in_page() -> None:
    """Sign in or create an account (email + password), in a narrow centred column."""
    with st.columns([1, 2, 1])[1]:
        _sign_in_forms()


def _sign_in_forms() -> None:
    st.title("Image Studio")
    st.caption("Sign in to generate images, or create an account.")
    if st.session_state.pop(widgets.SESSION_ENDED_KEY, False):
        st.warning(widgets.SESSION_ENDED, icon=":material/logout:")
    if st.session_state.pop(_RESET_DONE_KEY, False):
        st.success(PASSWORD_RESET_DONE, icon=":material/check_circle:")
    sign_in_tab, sign_up_tab = st.tabs(["Sign in", "Create account"])
    with sign_in_tab:
        _account_form("sign_in", AccountsService.sign_in, "Password", "current-password", "Sign in")
        _forgot_password()
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


# ---- forgot password (issue #16) ---------------------------------------------------------------

_RESET_DONE_KEY = "password_reset_done"


def _forgot_password() -> None:
    """ "Forgot password?": Supabase Auth emails a recovery link; locally there is no mail
    server, so the visitor is told to ask an admin for a one-time link."""
    with st.expander("Forgot password?"):
        if not widgets.services().accounts.mails_reset_links():
            st.info(NO_MAIL_HINT, icon=":material/info:")
            return
        with st.form("forgot_password"):
            email = st.text_input("Email", key="forgot_email", autocomplete="email")
            if st.form_submit_button("Send reset link"):
                try:
                    message = widgets.services().accounts.forgot_password(email)
                except StudioError as exc:
                    widgets.show_error(exc)
                else:
                    st.info(message, icon=":material/mail:")


def reset_token() -> str | None:
    """The token of a reset link this visit arrived with: ?reset=TOKEN (a local admin-made
    link) or ?token_hash=…&type=recovery (Supabase's recovery email)."""
    params = st.query_params
    if params.get(RESET_QUERY):
        return params.get(RESET_QUERY)
    if params.get("type") == "recovery" and params.get("token_hash"):
        return params.get("token_hash")
    return None


def reset_page() -> None:
    """Set a new password with the link's token; then back to the sign-in form."""
    with st.columns([1, 2, 1])[1]:
        st.title("Set a new password")
        st.caption("This link works once. Every browser signed in to your account is signed out.")
        with st.form("reset_password"):
            password = st.text_input(
                "New password (at least 8 characters)",
                type="password",
                key="reset_password",
                autocomplete="new-password",
            )
            again = st.text_input(
                "New password again",
                type="password",
                key="reset_again",
                autocomplete="new-password",
            )
            if st.form_submit_button("Set new password", type="primary"):
                if password != again:
                    st.error("The two passwords differ.", icon=":material/error:")
                    return
                token = reset_token() or ""
                try:
                    widgets.services().accounts.reset_password(token, password)
                except StudioError as exc:
                    widgets.show_error(exc)
                    return
                st.query_params.clear()
                st.session_state.clear()  # this tab's session (if any) ended with the others
                st.session_state[_RESET_DONE_KEY] = True
                st.rerun()
        if st.button("Back to sign-in", type="tertiary"):
            st.query_params.clear()
            st.rerun()


def main() -> None:
    theme.apply()
    if widgets.pending_redirect():
        st.stop()
    if reset_token():
        # A reset link: only the set-a-new-password form, signed in or not.
        st.navigation([st.Page(reset_page, title="Reset password", default=True)],
                      position="hidden").run()  # fmt: skip
        return
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
    page = st.navigation(widgets.navigation_pages(user))
    mobile.collapse_sidebar_after_navigation(page.url_path)
    page.run()


main()
