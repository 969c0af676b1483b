"""Fixtures for the API tests: an in-process app (the API routes and the security middleware
over a real local runtime in a temp DATA_DIR), users with API tokens, and jobs driven to each
state."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.testclient import TestClient

from core.backends.sqlite import open_local_backend
from core.domain.models import Job, JobStatus, User
from core.domain.settings import Settings
from core.providers import build_providers
from core.runtime import Runtime, install_runtime, shutdown_runtime
from core.services import build_services
from core.web.api import api_routes
from core.web.security import SecurityHeadersMiddleware
from tests.constants import FAST_HASHER, PASSWORD, REPO_ROOT


@dataclass
class ApiUser:
    user: User
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def make_app() -> Starlette:
    """What app.py serves for /api/*, without the Streamlit UI."""
    return Starlette(routes=api_routes(), middleware=[Middleware(SecurityHeadersMiddleware)])


def build_test_runtime(settings: Settings) -> Runtime:
    """build_runtime() on the local backend, with cheap password hashing for speed."""
    backend = open_local_backend(settings, password_hasher=FAST_HASHER)
    providers = build_providers(settings)
    return Runtime(settings, backend, providers, build_services(backend, providers, settings))


@pytest.fixture
def api_settings(settings: Settings) -> Settings:
    """Test settings; no worker unless a test starts one (`run_worker`)."""
    # event streams end after a second here, so that a test reading one to its end finishes
    return replace(settings, worker_enabled=False, rate_limit_per_minute=1000).with_variables(
        EVENT_STREAM_MAX_SECONDS="1"
    )


@pytest.fixture
def runtime(api_settings: Settings) -> Iterator[Runtime]:
    runtime = build_test_runtime(api_settings)
    install_runtime(runtime)
    yield runtime
    shutdown_runtime()


@pytest.fixture
def client(runtime: Runtime) -> Iterator[TestClient]:
    with TestClient(make_app()) as test_client:
        yield test_client


@pytest.fixture
def make_user(runtime: Runtime) -> Callable[..., ApiUser]:
    """`make_user("a@example.com")` → a signed-up user with a fresh API token."""
    counter = iter(range(1_000_000))

    def make(email: str | None = None) -> ApiUser:
        email = email or f"user{next(counter)}@example.com"
        user = runtime.services.accounts.sign_up(email, PASSWORD).user
        _, secret = runtime.services.accounts.create_api_token(user, "tests")
        return ApiUser(user, secret)

    return make


@pytest.fixture
def alice(make_user: Callable[..., ApiUser]) -> ApiUser:
    return make_user("alice@example.com")


@pytest.fixture
def bob(make_user: Callable[..., ApiUser]) -> ApiUser:
    return make_user("bob@example.com")


@pytest.fixture
def run_worker(runtime: Runtime) -> Callable[[], None]:
    """Start the real worker of the test runtime (demo provider)."""

    def start() -> None:
        runtime.settings = replace(runtime.settings, worker_enabled=True)
        runtime.start()

    return start


def wait_for(runtime: Runtime, job_id: str, statuses: set[JobStatus], timeout: float = 20) -> Job:
    """Poll the store until the job reaches one of `statuses`."""
    deadline = time.monotonic() + timeout
    while True:
        job = runtime.backend.jobs.get_job(job_id)
        if job is not None and job.status in statuses:
            return job
        if time.monotonic() > deadline:
            raise AssertionError(f"job {job_id} stuck in {job and job.status}")
        time.sleep(0.05)


def cli(
    data_dir: Path, *args: str, stdin: str = "", env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """`python -m core ...` from a neutral directory (no secrets.toml), local backend."""
    child_env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SUPABASE", "NEXT_PUBLIC_")) and not k.endswith("_API_KEY")
    }
    child_env.update({"DATA_DIR": str(data_dir), "PYTHONPATH": str(REPO_ROOT), **(env or {})})
    return subprocess.run(
        [sys.executable, "-m", "core", *args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=data_dir.parent,
        env=child_env,
        timeout=60,
    )
