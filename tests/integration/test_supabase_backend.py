"""The supabase backend beyond the shared contract suite: stores made with a user's JWT are held
by row-level security, the browser session maps to a server-side refresh token that is refreshed
and revoked at Supabase Auth, and the whole pipeline (the services + worker) runs in Supabase mode.
All against the test gateway on real PostgreSQL."""

from __future__ import annotations

import hashlib
import time
from dataclasses import replace

import httpx
import pytest

from core.backends.supabase import SupabaseBackend, open_supabase_backend
from core.backends.supabase.client import SupabaseConfigError
from core.domain.errors import Forbidden, InvalidCredentials, NotFound, ValidationError
from core.domain.models import JobQuery, JobRequest, JobStatus, ReviewStatus, Role, User
from core.domain.settings import Settings
from core.ports import Backend
from core.providers import build_providers
from core.services import build_services
from tests.constants import NO_LIMIT, PASSWORD
from tests.contract.support import new_jobs
from tests.integration.supabase_factory import make_supabase_backend, supabase_settings


def _sign_up(backend: Backend, email: str) -> User:
    return backend.accounts.sign_up(email, PASSWORD, admin_emails=frozenset()).user


@pytest.fixture
def people(backend: Backend) -> dict[str, User]:
    """An admin (the first account), a reviewer and two plain users, each holding a JWT."""
    names = ("admin", "reviewer", "alice", "bob")
    users = {name: _sign_up(backend, f"{name}@example.com") for name in names}
    backend.accounts.set_role(users["reviewer"].id, Role.REVIEWER)
    signed = {n: backend.accounts.sign_in(f"{n}@example.com", PASSWORD).user for n in names}
    assert all(u.access_token for u in signed.values())
    return signed


def _store_result(backend: Backend, user: User) -> tuple[str, str]:
    job = backend.for_user(user).jobs.create_jobs(new_jobs(user), rate_limit_per_minute=NO_LIMIT)[0]
    claimed = backend.jobs.claim("w", 60, 3)
    path = f"{user.id}/{job.id}.png"
    backend.blobs.put(path, b"\x89PNG-" + user.id.encode(), "image/png")
    assert backend.jobs.finish(claimed.id, "w", result_path=path, thumb_path=None, result_meta={})
    return job.id, path


def test_open_refuses_a_url_without_keys(settings):
    with pytest.raises(SupabaseConfigError, match="SUPABASE_SERVICE_ROLE_KEY"):
        open_supabase_backend(
            replace(settings, supabase_url="http://127.0.0.1:9", supabase_anon_key="x")
        )


def test_supabase_env_vars_switch_open_backend_to_supabase(gw, tmp_path):
    from core.backends import open_backend

    env = {
        "NEXT_PUBLIC_SUPABASE_URL": gw.url,  # the original system's name is accepted
        "SUPABASE_ANON_KEY": gw.anon_key,
        "SUPABASE_SERVICE_ROLE_KEY": gw.service_key,
        "DATA_DIR": str(tmp_path),
    }
    backend = open_backend(Settings.load(env=env, secrets_path=None))
    try:
        assert isinstance(backend, SupabaseBackend) and backend.name == "supabase"
        assert backend.jobs.queue_depth().queued >= 0
    finally:
        backend.close()


def test_with_email_confirmation_on_sign_up_asks_to_confirm_first(backend, gw):
    gw.autoconfirm = False
    try:
        with pytest.raises(ValidationError, match="confirm your email"):
            backend.accounts.sign_up("new@example.com", PASSWORD, admin_emails=frozenset())
        with pytest.raises(InvalidCredentials):
            backend.accounts.sign_in("new@example.com", PASSWORD)
    finally:
        gw.autoconfirm = True
    assert backend.accounts.find_user_by_email("new@example.com") is not None


def test_a_users_stores_see_and_change_only_their_own_jobs(backend, people):
    alice, bob = people["alice"], people["bob"]
    bob_job, _ = _store_result(backend, bob)
    queued = backend.for_user(bob).jobs.create_jobs(new_jobs(bob), rate_limit_per_minute=NO_LIMIT)
    as_alice = backend.for_user(alice).jobs
    assert as_alice.get_job(bob_job) is None
    assert as_alice.list_jobs(JobQuery(user_id=None)).items == []
    assert as_alice.queue_positions([queued[0].id]) == {}
    assert as_alice.cancel(queued[0].id) is False
    assert as_alice.delete_jobs([bob_job, queued[0].id]) == 0
    assert backend.jobs.get_job(queued[0].id).status is JobStatus.QUEUED
    with pytest.raises(Forbidden):
        as_alice.create_jobs(new_jobs(bob), rate_limit_per_minute=NO_LIMIT)
    with pytest.raises(Forbidden):
        as_alice.set_review(
            [bob_job], status=ReviewStatus.APPROVED, note=None, reviewer_id=alice.id
        )


def test_a_users_storage_reads_only_their_own_folder(backend, people):
    alice, bob = people["alice"], people["bob"]
    _, bob_path = _store_result(backend, bob)
    _, alice_path = _store_result(backend, alice)
    as_alice = backend.for_user(alice).blobs
    assert set(as_alice.signed_urls([alice_path, bob_path], 60)) == {alice_path}
    with pytest.raises(NotFound):
        as_alice.get(bob_path)
    assert as_alice.get(alice_path).startswith(b"\x89PNG-")
    assert backend.for_user(people["reviewer"]).blobs.get(bob_path).startswith(b"\x89PNG-")


def test_signed_urls_serve_the_bytes_until_they_expire_and_only_for_their_object(backend, people):
    alice = people["alice"]
    _, path = _store_result(backend, alice)
    _, other = _store_result(backend, alice)
    url = backend.blobs.signed_urls([path], 2)[path]
    assert httpx.get(url).content == b"\x89PNG-" + alice.id.encode()
    forged = url.replace(path, other)
    assert httpx.get(forged).status_code == 400
    time.sleep(3)
    assert httpx.get(url).status_code == 400


def test_reviewers_read_and_review_everything_but_cannot_run_the_queue(backend, people):
    bob_job, _ = _store_result(backend, people["bob"])
    reviewer = people["reviewer"]
    as_reviewer = backend.for_user(reviewer).jobs
    assert [j.id for j in as_reviewer.list_jobs(JobQuery(user_id=None)).items] == [bob_job]
    changed = as_reviewer.set_review(
        [bob_job], status=ReviewStatus.FLAGGED, note="check", reviewer_id=reviewer.id
    )
    assert changed == 1
    assert backend.jobs.get_job(bob_job).reviewed_by == reviewer.id
    with pytest.raises(Forbidden):
        as_reviewer.claim("w", 60, 3)
    with pytest.raises(Forbidden):
        as_reviewer.purge_candidates(
            statuses=(JobStatus.DONE,), finished_before=backend.jobs.get_job(bob_job).created_at
        )


def test_the_cookie_token_is_opaque_and_only_its_hash_is_stored(backend, gw):
    signed = backend.accounts.sign_up("me@example.com", PASSWORD, admin_emails=frozenset())
    with gw.cluster.connect() as conn:
        row = conn.execute("select token_hash, refresh_token from public.sessions").fetchone()
        refresh_tokens = [r[0] for r in conn.execute("select token from auth.refresh_tokens")]
    assert row[0] == hashlib.sha256(signed.session_token.encode()).hexdigest()
    assert signed.session_token not in refresh_tokens
    assert signed.session_token != signed.user.access_token
    assert row[1] in refresh_tokens


def test_a_short_lived_jwt_is_refreshed_and_the_refresh_token_rotates(backend, gw):
    gw.access_ttl = 30  # inside the refresh margin: every resolve refreshes
    try:
        signed = backend.accounts.sign_up("me@example.com", PASSWORD, admin_emails=frozenset())
        with gw.cluster.connect() as conn:
            first_refresh = conn.execute("select refresh_token from public.sessions").fetchone()[0]
        time.sleep(1.1)  # a new `iat`, so the new JWT differs
        user = backend.accounts.resolve_session(signed.session_token)
    finally:
        gw.access_ttl = 3600
    assert user is not None and user.access_token != signed.user.access_token
    with gw.cluster.connect() as conn:
        current = conn.execute("select refresh_token from public.sessions").fetchone()[0]
        revoked = conn.execute(
            "select revoked from auth.refresh_tokens where token = %s", [first_refresh]
        ).fetchone()[0]
    assert current != first_refresh and revoked is True
    # the refreshed JWT works for the user's own calls
    jobs = backend.for_user(user).jobs
    assert jobs.create_jobs(new_jobs(user), rate_limit_per_minute=NO_LIMIT)[0].user_id == user.id


def test_a_session_whose_refresh_token_auth_revoked_resolves_to_nobody(backend, gw):
    gw.access_ttl = 30
    try:
        signed = backend.accounts.sign_up("me@example.com", PASSWORD, admin_emails=frozenset())
        with gw.cluster.connect() as conn:
            conn.execute("update auth.refresh_tokens set revoked = true")
        assert backend.accounts.resolve_session(signed.session_token) is None
    finally:
        gw.access_ttl = 3600
    with gw.cluster.connect() as conn:
        assert conn.execute("select count(*) from public.sessions").fetchone()[0] == 0


def test_sign_out_also_ends_the_session_at_supabase_auth(backend, gw):
    first = backend.accounts.sign_up("me@example.com", PASSWORD, admin_emails=frozenset())
    second = backend.accounts.sign_in("me@example.com", PASSWORD)
    backend.accounts.sign_out(first.session_token)
    with gw.cluster.connect() as conn:
        states = conn.execute(
            "select revoked, count(*) from auth.refresh_tokens group by revoked"
        ).fetchall()
    assert dict(states) == {True: 1, False: 1}
    assert backend.accounts.resolve_session(second.session_token) is not None


def test_a_user_signed_in_by_api_token_acts_with_server_credentials(backend, people):
    alice = people["alice"]
    _, secret = backend.accounts.create_api_token(alice.id, "cli")
    user = backend.accounts.resolve_api_token(secret)
    assert user.id == alice.id and user.access_token is None
    assert backend.for_user(user) is backend


def test_the_whole_pipeline_runs_in_supabase_mode(settings, tmp_path, gw):
    from core.queue.worker import Worker

    settings = replace(supabase_settings(settings, gw), worker_poll_seconds=0.05)
    gen = make_supabase_backend(settings, tmp_path)
    backend = next(gen)
    providers = build_providers(settings)
    services = build_services(backend, providers, settings)
    worker = Worker(backend, providers, settings)
    services.jobs.set_wake_worker(worker.wake)
    worker.start()
    try:
        user = services.accounts.sign_up("me@example.com", PASSWORD).user
        other = services.accounts.sign_up("other@example.com", PASSWORD).user
        jobs = services.jobs.submit(
            user, JobRequest(provider="demo", model="", prompt="a fox"), count=2
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            page = services.jobs.list_jobs(user, JobQuery())
            if all(j.status is JobStatus.DONE for j in page.items):
                break
            time.sleep(0.1)
        assert {j.id for j in page.items} == {j.id for j in jobs}
        assert all(j.status is JobStatus.DONE and j.attempts == 1 for j in page.items)
        urls = services.jobs.image_urls(user, page.items)
        assert set(urls) == {j.id for j in jobs}
        for url in urls.values():
            response = httpx.get(url)
            assert response.status_code == 200 and response.content[:4] in (b"RIFF", b"\x89PNG")
        data, mime, _name = services.jobs.image_bytes(user, jobs[0].id)
        assert data and mime.startswith("image/")
        with pytest.raises(NotFound):
            services.jobs.get_job(other, jobs[0].id)
        services.jobs.delete(user, jobs[0].id)
        with pytest.raises(NotFound):
            services.jobs.get_job(user, jobs[0].id)
        kept = next(j for j in page.items if j.id != jobs[0].id)
        assert backend.blobs.size(kept.result_path or "") is not None
        deleted = next(j for j in page.items if j.id == jobs[0].id)
        assert backend.blobs.size(deleted.result_path or "") is None
    finally:
        worker.stop(5)
        gen.close()
