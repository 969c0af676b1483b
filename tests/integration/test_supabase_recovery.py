"""Forgot password in Supabase mode, through the test gateway: "Forgot password?" has Supabase
Auth mail a recovery link to PUBLIC_URL (the same answer for unknown emails), the link's
token_hash comes back to the studio, which redeems it server-side, sets the new password with
the session it yields and ends every session of the user: studio sessions and Auth's."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from urllib.parse import parse_qs, urlsplit

import pytest
from streamlit.testing.v1 import AppTest

from core.domain.errors import InvalidCredentials, ValidationError
from core.domain.policy import RESET_EMAIL_SENT
from core.domain.settings import Settings
from core.providers import build_providers
from core.runtime import Runtime, install_runtime, shutdown_runtime
from core.services import Services, build_services
from tests.constants import PASSWORD
from tests.constants import REPO_ROOT as REPO
from tests.integration.gateway import Gateway
from tests.integration.supabase_factory import make_supabase_backend

NEW = "a brand new passphrase"
STUDIO = "https://studio.example.com"


@pytest.fixture
def runtime(settings: Settings, tmp_path) -> Iterator[Runtime]:
    """A Supabase-mode runtime (no worker) installed for the pages, PUBLIC_URL set."""
    settings = replace(settings, public_url=STUDIO, worker_enabled=False)
    for backend in make_supabase_backend(settings, tmp_path):
        providers = build_providers(settings)
        services = build_services(backend, providers, settings)
        runtime = Runtime(settings, backend, providers, services)
        install_runtime(runtime)
        try:
            yield runtime
        finally:
            shutdown_runtime()


def _link_params(link: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(link).query).items()}


def test_the_recovery_email_leads_back_to_the_studio_and_resets_the_password(
    runtime: Runtime, gw: Gateway
) -> None:
    svc: Services = runtime.services
    svc.accounts.sign_up("admin@example.com", PASSWORD)
    amy = svc.accounts.sign_up("amy@example.com", PASSWORD)
    other = svc.accounts.sign_in("amy@example.com", PASSWORD)

    assert svc.accounts.forgot_password("ghost@example.com") == RESET_EMAIL_SENT
    assert svc.accounts.forgot_password(" Amy@Example.com ") == RESET_EMAIL_SENT
    assert [m["to"] for m in gw.sent_emails] == ["amy@example.com"]  # none for the ghost
    link = gw.sent_emails[0]["link"]
    assert link.startswith(f"{STUDIO}/?")
    params = _link_params(link)
    assert params["type"] == "recovery"
    # The wire carried PUBLIC_URL as Auth's redirect_to.
    assert gw.sent_emails[0]["redirect_to"] == f"{STUDIO}/"

    with pytest.raises(ValidationError, match="at least 8"):
        svc.accounts.reset_password(params["token_hash"], "short")  # token not spent
    svc.accounts.reset_password(params["token_hash"], NEW)

    assert svc.accounts.user_for_session(amy.session_token) is None
    assert svc.accounts.user_for_session(other.session_token) is None
    with pytest.raises(InvalidCredentials):
        svc.accounts.sign_in("amy@example.com", PASSWORD)
    assert svc.accounts.sign_in("amy@example.com", NEW).user.email == "amy@example.com"
    with pytest.raises(ValidationError, match="already used"):
        svc.accounts.reset_password(params["token_hash"], "yet another passphrase")


def test_the_sign_in_page_sends_the_email_and_the_link_opens_the_reset_form(
    runtime: Runtime, gw: Gateway
) -> None:
    runtime.services.accounts.sign_up("amy@example.com", PASSWORD)
    at = AppTest.from_file(str(REPO / "streamlit_app.py"), default_timeout=30).run()
    at.text_input(key="forgot_email").input("amy@example.com")
    [send] = [b for b in at.button if b.label == "Send reset link"]
    at = send.click().run()
    assert not at.exception
    assert [str(i.value) for i in at.info] == [RESET_EMAIL_SENT]
    params = _link_params(gw.sent_emails[-1]["link"])

    link = AppTest.from_file(str(REPO / "streamlit_app.py"), default_timeout=30)
    for key, value in params.items():
        link.query_params[key] = value
    link.run()
    assert [t.value for t in link.title] == ["Set a new password"]
    link.text_input(key="reset_password").input(NEW)
    link.text_input(key="reset_again").input(NEW)
    [submit] = [b for b in link.button if b.label == "Set new password"]
    link = submit.click().run()
    assert not link.exception and not link.error
    assert [t.value for t in link.title] == ["Image Studio"]
    runtime.services.accounts.sign_in("amy@example.com", NEW)


def test_an_admin_has_the_reset_email_sent_from_the_admin_page(
    runtime: Runtime, gw: Gateway
) -> None:
    admin = runtime.services.accounts.sign_up("admin@example.com", PASSWORD)
    runtime.services.accounts.sign_up("amy@example.com", PASSWORD)
    at = AppTest.from_file(str(REPO / "pages" / "admin.py"), default_timeout=30)
    at.session_state["auth_session_token"] = admin.session_token
    at.run()
    at.radio(key="admin_section").set_value("Users").run()
    at.selectbox(key="user_pick").select("amy@example.com").run()
    assert not [b for b in at.button if b.label == "Reset link"]  # no local links here
    [send] = [b for b in at.button if b.label == "Send reset email"]
    at = send.click().run()
    assert not at.exception and not at.code
    assert RESET_EMAIL_SENT in [str(i.value).replace("\\", "") for i in at.info]
    assert [m["to"] for m in gw.sent_emails] == ["amy@example.com"]
