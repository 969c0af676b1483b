"""Live fragments (the batch on Generate, the grid and a job's details on History) rerun on their
own, without the page's sign-in check: each rerun re-checks the session, uses the user as the
session says now, and hands a signed-out, revoked, disabled or refused session to the router."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

from core.domain.errors import AuthRequired
from core.domain.models import JobRequest, ReviewStatus, Role
from tests.constants import PASSWORD
from tests.ui.conftest import TOKEN_KEY, Person, Studio
from tests.ui.helpers import button, errors, page_text, tick_live_fragments, titles


def people(studio: Studio) -> tuple[Person, Person]:
    owner = studio.person("owner@example.com")  # the first account is the admin
    return owner, studio.person("ada@example.com", Role.USER)


def queue_job(studio: Studio, person: Person, prompt: str = "a paper kite") -> str:
    request = JobRequest(provider="demo", model="demo-pattern", prompt=prompt)
    (job,) = studio.services.jobs.submit(person.user, request)
    return job.id


def history(studio: Studio, person: Person) -> AppTest:
    at = studio.app(person)
    at.switch_page("pages/history.py").run()
    assert titles(at) == ["History"]
    return at


def history_details(studio: Studio, person: Person, job_id: str) -> AppTest:
    at = history(studio, person)
    at = at.button(key=f"hist_open_{job_id}").click().run()
    assert "Back to the gallery" in [b.label for b in at.button]  # the lightbox is open
    return at


def generate_batch(studio: Studio, person: Person) -> AppTest:
    at = studio.app(person)
    assert titles(at) == ["Generate"]
    at.text_area(key="gen_prompt").input("a paper kite")
    at = button(at, "Generate").click().run()
    assert "Queued" in page_text(at)
    return at


def tile_labels(at: AppTest) -> list[str]:
    return [b.label for b in at.button if (b.key or "").startswith("hist_open_")]


def assert_signed_out(at: AppTest) -> None:
    """The whole app ran again and the router signed the tab out (as on any full run after a
    revocation: see test_router)."""
    assert not at.exception
    text = page_text(at)
    assert "You are signed out" in text or "Your session has ended" in text
    assert titles(at) in ([], ["Image Studio"])
    assert "a paper kite" not in page_text(at)
    assert TOKEN_KEY not in at.session_state


@pytest.mark.parametrize("view", ["history grid", "history details", "generate batch"])
def test_a_session_revoked_while_a_fragment_polls_shows_sign_in_on_its_next_tick(
    studio_factory, view: str
) -> None:
    studio = studio_factory(worker_enabled=False)  # the job stays queued: the fragment polls
    _owner, ada = people(studio)
    if view == "generate batch":
        at = generate_batch(studio, ada)
    elif view == "history grid":
        queue_job(studio, ada)
        at = history(studio, ada)
    else:
        at = history_details(studio, ada, queue_job(studio, ada))
    studio.services.accounts.sign_out(ada.token)  # e.g. "sign out" in another tab
    assert_signed_out(tick_live_fragments(at))


def test_an_account_disabled_while_the_grid_polls_shows_sign_in(studio_factory) -> None:
    studio = studio_factory(worker_enabled=False)
    _owner, ada = people(studio)
    queue_job(studio, ada)
    at = history(studio, ada)
    # The account flag alone (the admin action also cancels the queued jobs, which would end
    # the polling by itself).
    studio.runtime.backend.accounts.set_disabled(ada.user.id, True)
    at = tick_live_fragments(at)
    assert_signed_out(at)
    # The page says why it is back at sign-in, and signing in names the reason.
    assert "Your session has ended" in page_text(at)
    at = studio.app()
    at.text_input(key="sign_in_email").input("ada@example.com")
    at.text_input(key="sign_in_password").input(PASSWORD)
    at = button(at, "Sign in").click().run()
    assert errors(at) == [
        "This account is disabled, so it cannot sign in. Ask an admin to enable it."
    ]


def test_a_live_tick_with_a_valid_session_stays_in_the_fragment(studio_factory) -> None:
    studio = studio_factory(worker_enabled=False)
    _owner, ada = people(studio)
    queue_job(studio, ada)
    at = tick_live_fragments(history(studio, ada))
    assert not at.exception
    assert titles(at) == []  # only the fragment ran, not the page
    assert "a paper kite" in tile_labels(at)


def test_a_fragment_rerun_acts_as_the_user_the_session_names_now(studio: Studio) -> None:
    owner, ada = people(studio)
    job_id = queue_job(studio, ada)
    studio.wait_finished(ada)
    studio.services.review.set_review(owner.user, [job_id], ReviewStatus.FLAGGED, "internal: hands")
    at = history_details(studio, ada, job_id)
    assert "internal: hands" not in page_text(at)  # an owner does not see the reviewer's note
    studio.runtime.backend.accounts.set_role(ada.user.id, Role.REVIEWER)
    # A click inside the fragment (or its timer) reruns only the fragment.
    at = tick_live_fragments(at)
    assert not at.exception
    assert titles(at) == []
    assert "Review: flagged — internal: hands" in page_text(at)


class _RefusingService:
    """The studio's jobs service, whose job listing refuses the caller the next `refusals` times
    the way Supabase does when an access token has expired."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.refusals = 0
        self.calls = 0

    def list_jobs(self, user: Any, query: Any) -> Any:
        self.calls += 1
        if self.refusals:
            self.refusals -= 1
            raise AuthRequired("Your session has expired. Sign in again.")
        return self.inner.list_jobs(user, query)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def test_a_refused_session_in_a_fragment_reruns_the_whole_app_once(
    studio_factory, monkeypatch: pytest.MonkeyPatch
) -> None:
    studio = studio_factory(worker_enabled=False)
    _owner, ada = people(studio)
    queue_job(studio, ada)
    refusing = _RefusingService(studio.runtime.services.jobs)
    monkeypatch.setattr(studio.runtime, "services", replace(studio.runtime.services, jobs=refusing))
    at = history(studio, ada)
    refusing.refusals = 1
    at = tick_live_fragments(at)
    assert not at.exception
    assert titles(at) == ["History"]  # the page ran again, not just the fragment
    assert not errors(at)
    assert "a paper kite" in tile_labels(at)


def test_a_session_refused_again_after_the_full_rerun_shows_the_error_without_looping(
    studio_factory, monkeypatch: pytest.MonkeyPatch
) -> None:
    studio = studio_factory(worker_enabled=False)
    _owner, ada = people(studio)
    queue_job(studio, ada)
    refusing = _RefusingService(studio.runtime.services.jobs)
    monkeypatch.setattr(studio.runtime, "services", replace(studio.runtime.services, jobs=refusing))
    at = history(studio, ada)
    refusing.refusals = 1000
    at = tick_live_fragments(at)
    assert not at.exception
    assert titles(at) == ["History"]
    assert errors(at) == ["Your session has expired. Sign in again."]
    calls = refusing.calls
    at = tick_live_fragments(at)  # the next tick shows the error and stays in the fragment
    assert titles(at) == []
    assert errors(at) == ["Your session has expired. Sign in again."]
    assert refusing.calls == calls + 1
