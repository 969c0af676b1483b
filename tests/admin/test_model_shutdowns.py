"""The admin's list of models that shut down within 30 days while jobs still use them: the
service on either side of the window and of the shutdown date, and the Admin page."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import time_machine
from streamlit.testing.v1 import AppTest

from core.domain.errors import Forbidden
from core.providers.openai import OpenAIProvider
from core.runtime import Runtime, install_runtime, shutdown_runtime
from tests.admin.conftest import Deployment
from tests.constants import PASSWORD
from tests.constants import REPO_ROOT as ROOT

NINETEEN_DAYS_BEFORE = datetime(2026, 11, 12, 12, tzinfo=UTC)
THIRTY_ONE_DAYS_BEFORE = datetime(2026, 10, 31, 12, tzinfo=UTC)
SHUTDOWN_DAY = datetime(2026, 12, 1, 0, 0, 1, tzinfo=UTC)


@pytest.fixture
def with_openai(dep: Deployment) -> Deployment:
    """The deployment's catalogue plus OpenAI (no call is made: no worker runs)."""
    dep.services.jobs.providers["openai"] = OpenAIProvider(api_key="sk-test")
    return dep


def test_a_model_within_30_days_of_its_shutdown_is_listed_once_jobs_use_it(
    with_openai: Deployment,
) -> None:
    dep = with_openai
    with time_machine.travel(NINETEEN_DAYS_BEFORE, tick=True):
        assert dep.services.admin.upcoming_shutdowns(dep.admin) == []  # no job uses one
        dep.queued(dep.alice, 2, provider="openai", model="gpt-image-1.5")
        dep.queued(dep.bob, 1, provider="openai", model="gpt-image-2")
        (warning,) = dep.services.admin.upcoming_shutdowns(dep.admin)
    assert (warning.provider, warning.model.id, warning.recent_jobs, warning.queued_jobs) == (
        "openai",
        "gpt-image-1.5",
        2,
        2,
    )
    assert warning.model.replacement == "gpt-image-2.6-sunburst"


def test_outside_the_window_or_from_the_shutdown_day_nothing_is_listed(
    with_openai: Deployment,
) -> None:
    dep = with_openai
    with time_machine.travel(NINETEEN_DAYS_BEFORE, tick=True) as clock:
        dep.queued(dep.alice, 1, provider="openai", model="gpt-image-1-mini")
        clock.move_to(THIRTY_ONE_DAYS_BEFORE)
        assert dep.services.admin.upcoming_shutdowns(dep.admin) == []
        clock.move_to(SHUTDOWN_DAY)
        assert dep.services.admin.upcoming_shutdowns(dep.admin) == []


def test_only_admins_see_the_list(with_openai: Deployment) -> None:
    for person in (with_openai.alice, with_openai.reviewer):
        with pytest.raises(Forbidden):
            with_openai.services.admin.upcoming_shutdowns(person)


@pytest.fixture
def app(with_openai: Deployment) -> Iterator[Deployment]:
    dep = with_openai
    runtime = Runtime(dep.settings, dep.backend, dep.services.jobs.providers, dep.services)
    install_runtime(runtime)
    try:
        yield dep
    finally:
        shutdown_runtime()


def test_the_admin_page_shows_the_models_shutting_down_soon(app: Deployment) -> None:
    with time_machine.travel(NINETEEN_DAYS_BEFORE, tick=True):
        app.queued(app.alice, 3, provider="openai", model="chatgpt-image-latest")
        at = AppTest.from_file(str(ROOT / "pages/admin.py"), default_timeout=30)
        at.session_state["auth_session_token"] = app.services.accounts.sign_in(
            app.admin.email, PASSWORD
        ).session_token
        at.run()
    assert not at.exception
    assert "**Models shutting down within 30 days**" in [m.value for m in at.markdown]
    table = at.dataframe[0].value  # above the sections: the first table on the page
    assert table.to_dict("records") == [
        {
            "provider": "openai",
            "model": "chatgpt-image-latest",
            "shuts down on": "2026-12-01",
            "replacement": "gpt-image-2.6-sunburst",
            "jobs, last 30 days": "3",
            "queued now": "3",
        }
    ]
