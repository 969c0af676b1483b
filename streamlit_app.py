"""The router: sign-in / sign-up while signed out, then the pages the user's role allows."""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import streamlit as st

from core.domain.errors import StudioError
from core.domain.policy import MIN_PASSWORD, RESET_EMAIL_SENT, RESET_QUERY
from core.ports import SignedIn
from core.services.accounts import AccountsService
from pages import i18n, mobile, theme, widgets
from pages.i18n import t

st.set_page_config(page_title=t("common.app_title"), page_icon=":material/palette:", layout="wide")


def sign_in_page() -> None:
    """Sign in or create an account (email + password), in a narrow centred column."""
    with st.columns([1, 2, 1])[1]:
        _sign_in_forms()


def _sign_in_forms() -> None:
    st.title(t("common.app_title"))
    st.caption(t("signin.caption"))
    if st.session_state.pop(widgets.SESSION_ENDED_KEY, False):
        st.warning(t("signin.session_ended"), icon=":material/logout:")
    if st.session_state.get(_RESET_DONE_KEY, False):  # kept across a language switch
        st.success(t("signin.reset_done"), icon=":material/check_circle:")
    sign_in_tab, sign_up_tab = st.tabs([t("signin.tab_sign_in"), t("signin.tab_create")])
    with sign_in_tab:
        _account_form(
            "sign_in",
            AccountsService.sign_in,
            t("signin.password"),
            "current-password",
            t("signin.submit_sign_in"),
        )
        _forgot_password()
    with sign_up_tab:
        _account_form(
            "sign_up",
            AccountsService.sign_up,
            t("signin.new_password", min=MIN_PASSWORD),
            "new-password",
            t("signin.submit_create"),
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
        email = st.text_input(t("signin.email"), key=f"{form_key}_email", autocomplete="email")
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
                _keep_chosen_language(signed_in)
                st.session_state.pop(_RESET_DONE_KEY, None)
                widgets.start_session(signed_in, st.session_state.get(_RETURN_TO_KEY, "/"))
                st.rerun()


def _keep_chosen_language(signed_in: SignedIn) -> None:
    """A language picked before signing in becomes the profile's when it has none yet; a
    profile's own choice wins otherwise (it applies on every device)."""
    user = signed_in.user
    if user.language:
        i18n.set_language(user.language)
    elif i18n.chosen():
        # Should it fail, the choice stays this session's; nothing else depends on it.
        with contextlib.suppress(StudioError):
            widgets.services().accounts.set_language(user, i18n.language())


# Where the sign-in hand-off returns to: the address the sign-in form was shown at.
_RETURN_TO_KEY = "sign_in_return_to"


# ---- forgot password (issue #16) ---------------------------------------------------------------

_RESET_DONE_KEY = "password_reset_done"


def _forgot_password() -> None:
    """ "Forgot password?": Supabase Auth emails a recovery link; locally there is no mail
    server, so the visitor is told to ask an admin for a one-time link."""
    with st.expander(t("signin.forgot"), key="forgot_expander"):
        if not widgets.services().accounts.mails_reset_links():
            st.info(t("signin.no_mail_hint"), icon=":material/info:")
            return
        with st.form("forgot_password"):
            email = st.text_input(t("signin.email"), key="forgot_email", autocomplete="email")
            if st.form_submit_button(t("signin.send_link")):
                try:
                    message = widgets.services().accounts.forgot_password(email)
                except StudioError as exc:
                    widgets.show_error(exc)
                else:
                    sent = message == RESET_EMAIL_SENT
                    st.info(
                        t("signin.email_sent") if sent else t("signin.no_mail_hint"),
                        icon=":material/mail:",
                    )


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
        st.title(t("reset.title"))
        st.caption(t("reset.caption"))
        with st.form("reset_password"):
            password = st.text_input(
                t("reset.new_password", min=MIN_PASSWORD),
                type="password",
                key="reset_password",
                autocomplete="new-password",
            )
            again = st.text_input(
                t("reset.again"),
                type="password",
                key="reset_again",
                autocomplete="new-password",
            )
            if st.form_submit_button(t("reset.submit"), type="primary"):
                if password != again:
                    st.error(t("reset.differ"), icon=":material/error:")
                    return
                token = reset_token() or ""
                try:
                    widgets.services().accounts.reset_password(token, password)
                except StudioError as exc:
                    widgets.show_error(exc)
                    return
                st.query_params.clear()
                kept = i18n.kept_state()
                st.session_state.clear()  # this tab's session (if any) ended with the others
                st.session_state.update(kept)  # but the tab keeps its language
                st.session_state[_RESET_DONE_KEY] = True
                st.rerun()
        if st.button(t("reset.back"), type="tertiary"):
            st.query_params.clear()
            st.rerun()


def _store_language(language: str) -> None:
    """The switcher's choice, kept in a signed-in user's profile (every device uses it)."""
    user = widgets.current_user()
    if user is None:
        return
    try:
        widgets.services().accounts.set_language(user, language)
    except StudioError as exc:
        widgets.show_error(exc)
    widgets.forget_current_user()  # the page must see the profile with its new language


def main() -> None:
    theme.apply()
    if widgets.pending_redirect():
        st.stop()
    if reset_token():
        # A reset link: only the set-a-new-password form, signed in or not.
        with st.sidebar:
            i18n.language_switcher()
        st.navigation([st.Page(reset_page, title=t("nav.reset_password"), default=True)],
                      position="hidden").run()  # fmt: skip
        return
    user = widgets.current_user()
    if user is None:
        with st.sidebar:
            i18n.language_switcher()
        # A hidden navigation whose every page is the sign-in form: the files in pages/ are
        # never listed or served, and the address is kept for after signing in.
        page = st.navigation(
            widgets.signed_out_pages(sign_in_page, t("nav.sign_in")), position="hidden"
        )
        st.session_state[_RETURN_TO_KEY] = widgets.page_address(page)
        page.run()
        return

    with st.sidebar:
        st.caption(t("nav.signed_in_as"))
        st.text(t("nav.who", email=user.email, role=widgets.role_name(user.role)))
        i18n.language_switcher(_store_language)
    page = st.navigation(widgets.navigation_pages(user))
    mobile.collapse_sidebar_after_navigation(page.url_path)
    page.run()


main()
