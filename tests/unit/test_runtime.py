"""The process-wide Runtime: while it shuts down, callers get the stopping runtime (whose worker
claims nothing) rather than a fresh one that would re-claim the jobs just handed back."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from core import runtime as runtime_module
from core.backends import open_backend
from core.domain.models import JobRequest, JobStatus
from core.domain.settings import Settings
from core.runtime import Runtime, get_runtime, install_runtime, shutdown_runtime
from core.services import build_services
from core.services.admin import Background
from tests.unit.conftest import FakeProvider, wait_until


@pytest.fixture
def safe_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    """Whatever a wrongly built runtime would read: a temp data dir, no worker, no secrets."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "fallback"))
    monkeypatch.setenv("WORKER_ENABLED", "0")
    yield tmp_path / "fallback"
    shutdown_runtime()


def test_during_shutdown_get_runtime_returns_the_stopping_runtime_not_a_new_one(
    settings: Settings, safe_env: Path
) -> None:
    settings = replace(settings, worker_enabled=True, shutdown_grace_seconds=5.0)
    backend = open_backend(settings)
    fake = FakeProvider()
    gate = threading.Event()
    fake.gate = gate
    providers = {"fake": fake}
    services = build_services(backend, providers, settings)  # type: ignore[arg-type]
    runtime = Runtime(settings, backend, providers, services)  # type: ignore[arg-type]
    install_runtime(runtime)
    runtime.start()
    user = backend.accounts.sign_up("a@example.com", "a-password-1", admin_emails=frozenset()).user
    job = services.jobs.submit(user, JobRequest(provider="fake", model="demo-pattern", prompt="x"))[
        0
    ]
    wait_until(lambda: fake.in_flight == 1)

    worker = runtime.worker
    assert worker is not None
    stopper = threading.Thread(target=shutdown_runtime)
    stopper.start()
    try:
        wait_until(lambda: not worker.alive)  # stopping: waiting out the grace for the job
        during = [get_runtime() for _ in range(3)]
        assert all(r is runtime for r in during)
        assert not safe_env.exists()  # nothing was built from the environment
        shutdown_runtime()  # a second shutdown meanwhile returns at once
        assert stopper.is_alive()
    finally:
        gate.set()
        stopper.join(10)
    assert not stopper.is_alive()
    assert runtime_module._current is None  # forgotten once stopped
    assert runtime.worker is None
    done = open_backend(settings)
    try:
        finished = done.jobs.get_job(job.id)
        assert finished is not None and finished.status is JobStatus.DONE
        assert finished.attempts == 1
    finally:
        done.close()


def test_the_admin_service_sees_the_worker_and_sweeper_the_runtime_runs(settings: Settings) -> None:
    settings = replace(settings, worker_enabled=True)
    backend = open_backend(settings)
    runtime = Runtime(settings, backend, {}, build_services(backend, {}, settings))
    admin = runtime.services.admin
    assert admin.background() == Background(worker=None, sweeper_running=False)
    runtime.start()
    try:
        running = admin.background()
        assert running.worker_alive and running.sweeper_running
        assert running.worker is not None and running.worker["processed"] == 0
    finally:
        runtime.stop()
    assert admin.background() == Background(worker=None, sweeper_running=False)


def test_a_stopping_runtime_never_starts_a_worker_again(settings: Settings) -> None:
    settings = replace(settings, worker_enabled=True)
    backend = open_backend(settings)
    runtime = Runtime(settings, backend, {}, build_services(backend, {}, settings))
    runtime.stop()
    runtime.start()
    assert runtime.worker is None and runtime.sweeper is None


def test_building_a_runtime_keeps_http_client_loggers_from_printing_request_urls(settings) -> None:
    import logging

    from core.runtime import build_runtime

    root, logger = logging.getLogger(), logging.getLogger("httpx")
    root_level, was_disabled = root.level, logger.disabled
    root.setLevel(logging.INFO)  # as `python -m core worker` configures it
    logger.setLevel(logging.NOTSET)
    logger.disabled = False  # an earlier dictConfig elsewhere in the session may disable it
    try:
        assert logger.isEnabledFor(logging.INFO)
        runtime = build_runtime(settings)
        runtime.backend.close()
        assert not logger.isEnabledFor(logging.INFO)
    finally:
        root.setLevel(root_level)
        logger.disabled = was_disabled
