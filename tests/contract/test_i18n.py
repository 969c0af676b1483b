"""Issue #14 on both backends: the UI language kept in the profile (every device sees it), a
Chinese substring search finds the job, and download names stay ASCII whatever the prompt."""

from __future__ import annotations

import pytest

from core.domain.errors import NotFound, ValidationError
from core.domain.models import JobQuery
from core.domain.settings import Settings
from core.providers import build_providers
from core.services import build_services
from core.services.jobs import download_name
from tests.constants import PASSWORD
from tests.contract.support import submit

UNKNOWN_USER = "00000000-0000-4000-8000-000000000000"


def test_a_new_profile_has_no_language(backend, new_user):
    user = new_user()
    assert user.language is None
    assert backend.accounts.get_user(user.id).language is None


def test_the_language_is_kept_and_read_back_on_every_path(backend, new_user):
    user = new_user()

    backend.accounts.set_language(user.id, "zh-CN")

    assert backend.accounts.get_user(user.id).language == "zh-CN"
    # A second device: a fresh sign-in and its session see the same choice.
    signed_in = backend.accounts.sign_in(user.email, PASSWORD)
    assert signed_in.user.language == "zh-CN"
    assert backend.accounts.resolve_session(signed_in.session_token).language == "zh-CN"
    assert {u.id: u.language for u in backend.accounts.list_users()}[user.id] == "zh-CN"

    backend.accounts.set_language(user.id, "en")
    assert backend.accounts.get_user(user.id).language == "en"
    backend.accounts.set_language(user.id, None)
    assert backend.accounts.get_user(user.id).language is None


def test_one_users_language_is_not_anothers(backend, new_user):
    alice, bob = new_user(), new_user()
    backend.accounts.set_language(alice.id, "zh-CN")
    assert backend.accounts.get_user(bob.id).language is None


def test_the_language_of_no_such_user_is_not_found(backend):
    with pytest.raises(NotFound):
        backend.accounts.set_language(UNKNOWN_USER, "en")


def test_the_database_refuses_a_language_the_studio_does_not_speak(backend, new_user):
    """The service checks first; the column's CHECK is the second wall."""
    user = new_user()
    with pytest.raises(Exception):  # noqa: B017 — each backend's own refusal
        backend.accounts.set_language(user.id, "fr' OR 1=1 --")
    assert backend.accounts.get_user(user.id).language is None


def test_the_service_refuses_bad_languages_and_changes_nothing(backend, new_user):
    settings = Settings()
    services = build_services(backend, build_providers(settings), settings)
    user = new_user()
    services.accounts.set_language(user, "zh-CN")
    for bad in ("fr", "zh", "ZH-CN", "", "en" * 1000, None, 7, ["en"]):
        with pytest.raises(ValidationError) as refused:
            services.accounts.set_language(user, bad)  # type: ignore[arg-type]
        assert refused.value.reason == "language_unknown"
    assert backend.accounts.get_user(user.id).language == "zh-CN"


def test_a_chinese_substring_search_finds_the_job(backend, new_user):
    alice, bob = new_user(), new_user()
    (lantern,) = submit(backend, alice, prompt="夜晚的灯塔，海浪拍岸，水彩风格")
    submit(backend, alice, prompt="a lighthouse at night")
    submit(backend, alice, prompt="灯笼与红墙")
    submit(backend, bob, prompt="夜晚的灯塔")  # someone else's: never in alice's results

    found = backend.jobs.list_jobs(JobQuery(user_id=alice.id, text="灯塔", limit=50)).items
    assert [j.id for j in found] == [lantern.id]
    assert found[0].prompt == "夜晚的灯塔，海浪拍岸，水彩风格"  # stored and read back intact
    mixed = backend.jobs.list_jobs(JobQuery(user_id=alice.id, text="海浪拍岸，水", limit=50))
    assert [j.id for j in mixed.items] == [lantern.id]
    assert backend.jobs.list_jobs(JobQuery(user_id=alice.id, text="灯塔灯", limit=50)).items == []


def test_download_names_stay_ascii_for_a_chinese_prompt(backend, new_user):
    (job,) = submit(backend, new_user(), prompt='长城上的雪 🏔️ "quotes" / slashes')
    name = download_name(job, f"{job.user_id}/{job.id}.png")
    assert name.isascii() and name.endswith(".png")
    assert not set(name) & set('"/\\;\r\n ')
