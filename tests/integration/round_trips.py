"""Supabase round trips per render, counted through the test gateway: a Supabase-mode runtime
(no worker) with 200 finished jobs of one user, rendered with AppTest (router and page, as a
browser's run would), and the REST API. Shared by test_supabase_round_trips (exact counts) and
bench/round_trips.py (timings with a delay injected per request)."""

from __future__ import annotations

import io
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from PIL import Image
from starlette.applications import Starlette
from starlette.testclient import TestClient
from streamlit.testing.v1 import AppTest

from core.domain.models import Job, JobRequest, JobStatus, User
from core.domain.settings import Settings
from core.providers import build_providers
from core.runtime import Runtime, install_runtime, shutdown_runtime
from core.services import build_services
from core.web.api import api_routes
from pages import widgets
from tests.constants import PASSWORD
from tests.constants import REPO_ROOT as REPO
from tests.integration.gateway import Gateway
from tests.integration.supabase_factory import gateway, make_supabase_backend, supabase_settings
from tests.ui.helpers import tick_live_fragments

TOKEN_KEY = "auth_session_token"  # pages.widgets keeps the tab's session token here
BATCH_KEY = "generate_batch"  # pages.generate keeps the shown batch here
FINISHED_JOBS = 200
BATCH_SIZE = 4


@dataclass
class Deployment:
    gw: Gateway
    runtime: Runtime
    admin: User
    admin_token: str
    ada: User
    ada_token: str
    batch: list[Job]  # ada's newest four jobs, one batch, done

    def app(self, token: str, batch: list[Job] | None = None) -> AppTest:
        at = AppTest.from_file(str(REPO / "streamlit_app.py"), default_timeout=60)
        at.session_state[TOKEN_KEY] = token
        if batch is not None:
            self.keep_batch(at, batch)
        return at

    @staticmethod
    def keep_batch(at: AppTest, batch: list[Job]) -> None:
        """What the Generate page keeps once a batch is submitted."""
        at.session_state[BATCH_KEY] = {
            "job_ids": [j.id for j in batch],
            "batch_id": batch[0].batch_id,
        }

    def counted(self, render: Callable[[], Any]) -> tuple[list[str], float]:
        """The requests `render` made (in order) and its wall time."""
        self.gw.requests.clear()
        started = time.perf_counter()
        render()
        elapsed = time.perf_counter() - started
        return list(self.gw.requests), elapsed


def _png(color: tuple[int, int, int], size: int = 64, fmt: str = "PNG") -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (size, size), color).save(out, format=fmt)
    return out.getvalue()


def _seed_jobs(dep_gw: Gateway, runtime: Runtime, user_id: str, count: int) -> list[str]:
    """`count` finished jobs of `user_id`, newest last, the newest four one batch; every one has
    its thumbnail stored, the newest 24 their full image too. Returns the ids, oldest first."""
    now = datetime.now(UTC)
    ids = [str(uuid.uuid4()) for _ in range(count)]
    batch_id = str(uuid.uuid4())
    rows = []
    for i, job_id in enumerate(ids):
        created = now - timedelta(minutes=count - i)
        rows.append(
            (
                job_id,
                user_id,
                f"job {i}",
                f"{user_id}/{job_id}.png",
                f"{user_id}/{job_id}.thumb.webp",
                batch_id if i >= count - BATCH_SIZE else None,
                created,
                created + timedelta(seconds=1),
                created + timedelta(seconds=2),
            )
        )
    with dep_gw.cluster.connect() as conn:
        with conn.cursor() as cur:
            cur.executemany(
                "insert into public.jobs (id, user_id, provider, model, prompt, status, attempts, "
                "result_path, thumb_path, result_meta, batch_id, created_at, started_at, "
                "finished_at) values (%s, %s, 'demo', 'demo-pattern', %s, 'done', 1, %s, %s, "
                '\'{"mime": "image/png", "width": 64, "height": 64}\', %s, %s, %s, %s)',
                rows,
            )
        conn.commit()
    full, thumb = _png((200, 80, 40)), _png((200, 80, 40), 32, "WEBP")
    for job_id in ids:
        runtime.backend.blobs.put(f"{user_id}/{job_id}.thumb.webp", thumb, "image/webp")
    for job_id in ids[-24:]:
        runtime.backend.blobs.put(f"{user_id}/{job_id}.png", full, "image/png")
    return ids


@contextmanager
def deployment(settings: Settings, tmp_path: Path) -> Iterator[Deployment]:
    gw = gateway()
    config = replace(
        supabase_settings(settings, gw), worker_enabled=False, rate_limit_per_minute=100_000
    )
    factory = make_supabase_backend(config, tmp_path)
    backend = next(factory)
    try:
        providers = build_providers(config)
        runtime = Runtime(config, backend, providers, build_services(backend, providers, config))
        install_runtime(runtime)
        try:
            admin = runtime.services.accounts.sign_up("admin@example.com", PASSWORD)
            ada = runtime.services.accounts.sign_up("ada@example.com", PASSWORD)
            ids = _seed_jobs(gw, runtime, ada.user.id, FINISHED_JOBS)
            batch = [runtime.services.jobs.get_job(ada.user, i) for i in ids[-BATCH_SIZE:]]
            yield Deployment(
                gw,
                runtime,
                admin.user,
                admin.session_token,
                ada.user,
                ada.session_token,
                batch,
            )
        finally:
            shutdown_runtime()
    finally:
        factory.close()


def _queued_batch(dep: Deployment) -> list[Job]:
    request = JobRequest(provider="demo", model="demo-pattern", prompt="queued")
    jobs = dep.runtime.services.jobs.submit(dep.ada, request, count=BATCH_SIZE)
    assert all(j.status is JobStatus.QUEUED for j in jobs)
    return jobs


def measure(dep: Deployment) -> dict[str, tuple[list[str], float]]:
    """Each render of the issue's table: (requests in order, seconds)."""
    out: dict[str, tuple[list[str], float]] = {}

    at = dep.app(dep.ada_token)
    out["Generate, no batch"] = dep.counted(at.run)
    assert not at.exception, at.exception
    out["History page 1 (24 tiles)"] = dep.counted(lambda: at.switch_page("pages/history.py").run())
    assert not at.exception, at.exception

    at = dep.app(dep.ada_token)
    at.run()  # the page is open (and the app warm), then the batch is there
    dep.keep_batch(at, dep.batch)
    out["Generate, 4-job batch done"] = dep.counted(at.run)
    assert not at.exception, at.exception

    queued = _queued_batch(dep)
    at = dep.app(dep.ada_token, queued)
    at.run()
    # The tick's wait for a change (nothing changes here: no worker) is not a round trip.
    polls = widgets.LIVE_POLL_S, widgets.LIVE_POLL_OWN_WORKER_S
    widgets.LIVE_POLL_S = widgets.LIVE_POLL_OWN_WORKER_S = 0.0
    try:
        out["One live tick, 4 queued"] = dep.counted(lambda: tick_live_fragments(at))
    finally:
        widgets.LIVE_POLL_S, widgets.LIVE_POLL_OWN_WORKER_S = polls
    assert not at.exception, at.exception

    at = dep.app(dep.admin_token)
    at.run()
    out["Review queue (admin), first"] = dep.counted(
        lambda: at.switch_page("pages/review.py").run()
    )
    assert not at.exception, at.exception
    at = dep.app(dep.admin_token)
    at.run()
    out["Review queue (admin)"] = dep.counted(lambda: at.switch_page("pages/review.py").run())
    assert not at.exception, at.exception

    app = Starlette(routes=api_routes())
    with TestClient(app) as client:
        jwt = _access_token(dep.gw, "ada@example.com")
        client.get("/api/jobs", headers={"Authorization": f"Bearer {jwt}"})  # warm (signing in)
        out["GET /api/jobs with a Supabase JWT"] = dep.counted(
            lambda: _ok(client.get("/api/jobs", headers={"Authorization": f"Bearer {jwt}"}))
        )
    return out


def _ok(response: Any) -> None:
    assert response.status_code == 200, response.text


def _access_token(gw: Gateway, email: str) -> str:
    from supabase import ClientOptions, create_client

    options = ClientOptions(auto_refresh_token=False, persist_session=False)
    supabase = create_client(gw.url, gw.anon_key, options)
    session = supabase.auth.sign_in_with_password({"email": email, "password": PASSWORD})
    assert session.session is not None
    return session.session.access_token


def summary(requests: list[str]) -> str:
    """ "METHOD /path ×n" in first-seen order."""
    counts = Counter(requests)
    return ", ".join(f"{r} ×{n}" if n > 1 else r for r, n in counts.items())
