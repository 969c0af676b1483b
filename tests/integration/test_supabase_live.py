"""Against a real Supabase project, only when SUPABASE_URL, SUPABASE_ANON_KEY and
SUPABASE_SERVICE_ROLE_KEY are set (skipped otherwise). It creates one throwaway confirmed user
through the Auth admin API, exercises sign-in, RLS-scoped rows, Storage and sign-out, and
deletes the user (and with it their rows) at the end. It never claims jobs, so it cannot take
work from a deployment's workers."""

from __future__ import annotations

import os
import secrets
import uuid
from collections.abc import Iterator

import httpx
import pytest

from core.backends.supabase import SupabaseBackend, open_supabase_backend
from core.domain.models import JobQuery, JobStatus
from core.domain.settings import Settings
from tests.contract.support import new_jobs
from tests.integration.supabase_factory import gateway, make_supabase_backend, supabase_settings

REQUIRED = ("SUPABASE_URL", "SUPABASE_ANON_KEY", "SUPABASE_SERVICE_ROLE_KEY")

LIVE = all(os.environ.get(k) or os.environ.get(f"NEXT_PUBLIC_{k}") for k in REQUIRED)


@pytest.fixture
def live() -> Iterator[SupabaseBackend]:
    if not LIVE:
        pytest.skip(
            "live Supabase test: set SUPABASE_URL, SUPABASE_ANON_KEY, SUPABASE_SERVICE_ROLE_KEY"
        )
    backend = open_supabase_backend(Settings.load(secrets_path=None))
    try:
        yield backend
    finally:
        backend.close()


def test_live_project_round_trip(live: SupabaseBackend):
    round_trip(live)


def round_trip(live: SupabaseBackend) -> None:
    """The live scenario (also run against the test gateway, so it is known to work)."""
    assert live.clients is not None
    email = f"studio-live-{uuid.uuid4().hex[:10]}@example.com"
    password = secrets.token_urlsafe(16)
    admin = live.clients.service.auth.admin
    created = admin.create_user({"email": email, "password": password, "email_confirm": True})
    user_id = created.user.id
    try:
        signed = live.accounts.sign_in(email, password)
        user = live.accounts.resolve_session(signed.session_token)
        assert user is not None and user.id == user_id and user.access_token

        mine = live.for_user(user)
        job = mine.jobs.create_jobs(new_jobs(user), rate_limit_per_minute=30)[0]
        assert mine.jobs.get_job(job.id).status is JobStatus.QUEUED
        assert [j.id for j in mine.jobs.list_jobs(JobQuery(user_id=user.id)).items] == [job.id]
        assert mine.jobs.cancel(job.id) is True

        path = f"{user.id}/{job.id}.png"
        live.blobs.put(path, b"\x89PNG-live", "image/png")
        url = mine.blobs.signed_urls([path], 60)[path]
        assert httpx.get(url, timeout=30).content == b"\x89PNG-live"
        assert live.blobs.delete([path]) == []
        assert mine.jobs.delete_jobs([job.id]) == 1

        live.accounts.sign_out(signed.session_token)
        assert live.accounts.resolve_session(signed.session_token) is None
    finally:
        admin.delete_user(user_id)


def test_the_live_scenario_passes_against_the_gateway(settings, tmp_path):
    gw = gateway()
    factory = make_supabase_backend(supabase_settings(settings, gw), tmp_path)
    backend = next(factory)
    try:
        round_trip(backend)  # type: ignore[arg-type]
        with gw.cluster.connect() as conn:
            assert conn.execute("select count(*) from auth.users").fetchone()[0] == 0
    finally:
        factory.close()
