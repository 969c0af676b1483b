"""The Account page's "Your data" section (export summary and download, delete my account) and
the /auth/export route that streams the zip to the signed-in browser."""

from __future__ import annotations

import io
import json
import zipfile

import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from core.domain.errors import InvalidCredentials
from core.domain.models import JobRequest
from core.web import auth as web_auth
from tests.constants import PASSWORD
from tests.ui.conftest import TOKEN_KEY, Studio
from tests.ui.helpers import button, page_text

ACCOUNT = "pages/account.py"
ADMIN = "pages/admin.py"


def _demo_images(studio: Studio, person: object, count: int = 2) -> None:
    user = person.user  # type: ignore[attr-defined]
    request = JobRequest(provider="demo", model="demo-pattern", prompt="a lighthouse at dusk")
    for _ in range(count):
        studio.services.jobs.submit(user, request)
    studio.wait_finished(person)  # type: ignore[arg-type]


@pytest.fixture
def client(studio: Studio) -> TestClient:
    app = Starlette(routes=web_auth.auth_routes())
    return TestClient(app, base_url="http://studio.test", follow_redirects=False)


def test_the_export_route_streams_the_signed_in_users_zip(
    studio: Studio, client: TestClient
) -> None:
    studio.person("admin@example.com")
    ada = studio.person("ada@example.com")
    bob = studio.person("bob@example.com")
    _demo_images(studio, ada)
    _demo_images(studio, bob, 1)

    refused = client.get(web_auth.EXPORT_PATH)
    assert refused.status_code == 401
    client.cookies.set(web_auth.COOKIE_NAME, "not-a-session")
    assert client.get(web_auth.EXPORT_PATH).status_code == 401

    client.cookies.set(web_auth.COOKIE_NAME, ada.token)
    response = client.get(web_auth.EXPORT_PATH)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/zip"
    disposition = response.headers["content-disposition"]
    assert disposition.startswith('attachment; filename="image-studio-export-')
    assert response.headers["cache-control"] == "no-store"
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    listed = json.loads(archive.read("jobs.json"))
    assert {j["id"] for j in listed} == {j.id for j in studio.jobs(ada)}
    assert len([n for n in archive.namelist() if n.startswith("images/")]) == 2


def test_the_account_page_shows_what_the_export_holds(
    studio: Studio, monkeypatch: pytest.MonkeyPatch
) -> None:
    studio.person("admin@example.com")
    ada = studio.person("ada@example.com")
    _demo_images(studio, ada)
    monkeypatch.setattr(web_auth, "_routes_mounted", False)
    at = studio.app(ada, ACCOUNT)
    assert "files," not in page_text(at)  # nothing is counted before the click
    at = button(at, "Export my data").click().run()
    text = page_text(at)
    assert "2 jobs, 4 files" in text
    # Without the app's routes the page says where the download lives instead of a dead link.
    assert "The download needs the studio server" in text
    monkeypatch.setattr(web_auth, "_routes_mounted", True)
    at = button(studio.app(ada, ACCOUNT), "Export my data").click().run()
    assert "The download needs the studio server" not in page_text(at)
    links = [e for e in at.get("link_button") if "Download the zip" in str(e.proto)]
    assert links and web_auth.EXPORT_PATH in str(links[0].proto)


def test_delete_my_account_needs_the_typed_email_then_signs_out(studio: Studio) -> None:
    studio.person("admin@example.com")
    ada = studio.person("ada@example.com")
    _demo_images(studio, ada)

    at = studio.app(ada, ACCOUNT)
    confirm = next(t for t in at.text_input if t.label == "Type your email to confirm")
    confirm.input("someone@example.com")
    at = button(at, "Delete my account").click().run()
    assert "nothing was deleted" in " ".join(e.value for e in at.error)
    assert studio.services.accounts.user_for_session(ada.token) is not None
    assert len(studio.jobs(ada)) == 2

    confirm = next(t for t in at.text_input if t.label == "Type your email to confirm")
    confirm.input("ADA@example.com")
    at = button(at, "Delete my account").click().run()
    assert TOKEN_KEY not in at.session_state
    assert studio.services.accounts.user_for_session(ada.token) is None
    with pytest.raises(InvalidCredentials):
        studio.services.accounts.sign_in("ada@example.com", PASSWORD)
    blobs = studio.runtime.settings.data_dir / "blobs" / ada.user.id
    assert not blobs.exists()


def test_the_last_admin_is_told_why_the_account_stays(studio: Studio) -> None:
    admin = studio.person("admin@example.com")
    at = studio.app(admin, ACCOUNT)
    confirm = next(t for t in at.text_input if t.label == "Type your email to confirm")
    confirm.input("admin@example.com")
    at = button(at, "Delete my account").click().run()
    assert "last admin" in " ".join(e.value for e in at.error)
    assert studio.services.accounts.user_for_session(admin.token) is not None


def test_an_admin_deletes_a_user_from_the_users_section(studio: Studio) -> None:
    admin = studio.person("admin@example.com")
    ada = studio.person("ada@example.com")
    _demo_images(studio, ada, 1)
    at = studio.app(admin, ADMIN)
    at = at.radio(key="admin_section").set_value("Users").run()
    at = at.selectbox(key="user_pick").set_value("ada@example.com").run()
    at.text_input(key=f"del_{ada.user.id}").input("ada")
    at = button(at, "Delete user").click().run()
    assert "nothing was deleted" in " ".join(e.value for e in at.error)
    assert studio.runtime.backend.accounts.get_user(ada.user.id) is not None

    at.text_input(key=f"del_{ada.user.id}").input("ada@example.com")
    at = button(at, "Delete user").click().run()
    assert any("account and data deleted" in s.value for s in at.success)
    assert studio.runtime.backend.accounts.get_user(ada.user.id) is None
    assert not (studio.runtime.settings.data_dir / "blobs" / ada.user.id).exists()
