"""AppTest fixtures: an isolated local deployment (temp DATA_DIR, real SQLite, real worker,
demo provider) installed as the process runtime, and helpers to run the app as someone."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace

import pytest
from streamlit.testing.v1 import AppTest

from core.backends.sqlite import open_local_backend
from core.domain.models import Job, JobQuery, Role, User
from core.domain.settings import Settings
from core.providers import build_providers
from core.runtime import Runtime, install_runtime, shutdown_runtime
from core.services import Services, build_services
from tests.constants import FAST_HASHER, PASSWORD
from tests.constants import REPO_ROOT as REPO

TOKEN_KEY = "auth_session_token"  # pages.widgets keeps the tab's session token here
ROUTER = "streamlit_app.py"


@dataclass
class Person:
    user: User
    token: str


@dataclass
class Studio:
    runtime: Runtime

    @property
    def services(self) -> Services:
        return self.runtime.services

    def person(self, email: str, role: Role | None = None) -> Person:
        """A new account (the first one is admin) with a live session."""
        signed = self.services.accounts.sign_up(email, PASSWORD)
        if role is not None:
            self.runtime.backend.accounts.set_role(signed.user.id, role)
        user = self.services.accounts.user_for_session(signed.session_token)
        assert user is not None
        return Person(user, signed.session_token)

    def app(self, person: Person | None = None, script: str = ROUTER) -> AppTest:
        """An AppTest of `script` (run once), signed in as `person` when given."""
        at = AppTest.from_file(str(REPO / script), default_timeout=30)
        if person is not None:
            at.session_state[TOKEN_KEY] = person.token
        return at.run()

    def jobs(self, person: Person) -> list[Job]:
        return self.services.jobs.list_jobs(person.user, JobQuery(limit=100)).items

    def wait_finished(self, person: Person, timeout: float = 20.0) -> list[Job]:
        """Wait until the worker has finished every job of `person`."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            jobs = self.jobs(person)
            if jobs and all(j.status.finished for j in jobs):
                return jobs
            time.sleep(0.05)
        raise AssertionError(f"jobs still unfinished: {[j.status for j in self.jobs(person)]}")


def _studio(settings: Settings) -> Iterator[Studio]:
    backend = open_local_backend(settings, password_hasher=FAST_HASHER)
    providers = build_providers(settings)
    runtime = Runtime(settings, backend, providers, build_services(backend, providers, settings))
    runtime.start()
    install_runtime(runtime)
    try:
        yield Studio(runtime)
    finally:
        shutdown_runtime()


@pytest.fixture
def ui_settings(settings: Settings) -> Settings:
    return replace(settings, shutdown_grace_seconds=2)


@pytest.fixture
def studio(ui_settings: Settings) -> Iterator[Studio]:
    """A running local deployment with the worker on."""
    yield from _studio(ui_settings)


@pytest.fixture
def studio_factory(ui_settings: Settings) -> Iterator[Callable[..., Studio]]:
    """Like `studio`, with settings overrides: `studio_factory(worker_enabled=False)`."""
    gens: list[Iterator[Studio]] = []

    def make(**overrides: object) -> Studio:
        gen = _studio(replace(ui_settings, **overrides))
        gens.append(gen)
        return next(gen)

    yield make
    for gen in gens:
        for _ in gen:
            pass
