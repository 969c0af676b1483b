"""The supabase backend after the security review: an Auth hiccup during a token refresh neither
signs people out for good nor crashes the page, an expired JWT asks to sign in again, owners never
get the reviewer's identity, rows are deleted with server credentials (users have no DELETE), and
a user's own submit gets max_attempts from the server's settings. Real supabase-py against the
test gateway on PostgreSQL."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import replace

import pytest

from core.domain.errors import AuthRequired, ValidationError
from core.domain.models import JobQuery, JobStatus, ReviewStatus, Role, User
from core.domain.settings import Settings
from core.ports import Backend
from core.providers import build_providers
from core.services import build_services
from tests.constants import NO_LIMIT, PASSWORD
from tests.contract.support import new_jobs
from tests.integration.gateway import Gateway
from tests.integration.supabase_factory import make_supabase_backend


@pytest.fixture
def backend(settings: Settings, tmp_path) -> Iterator[Backend]:
    yield from make_supabase_backend(replace(settings, max_attempts=2), tmp_path)


@pytest.fixture
def people(backend: Backend) -> dict[str, User]:
    names = ("admin", "reviewer", "alice", "bob")
    for name in names:
        backend.accounts.sign_up(f"{name}@example.com", PASSWORD, admin_emails=frozenset())
    reviewer = backend.accounts.find_user_by_email("reviewer@example.com")
    backend.accounts.set_role(reviewer.id, Role.REVIEWER)
    return {n: backend.accounts.sign_in(f"{n}@example.com", PASSWORD).user for n in names}


def _sessions(gw: Gateway) -> int:
    with gw.cluster.connect() as conn:
        return conn.execute("select count(*) from public.sessions").fetchone()[0]


def _job(backend: Backend, user: User, status: JobStatus = JobStatus.DONE) -> str:
    """A job of `user` in `status` (done: with a stored image)."""
    job = backend.for_user(user).jobs.create_jobs(new_jobs(user), rate_limit_per_minute=NO_LIMIT)[0]
    if status is JobStatus.QUEUED:
        return job.id
    claimed = backend.jobs.claim(f"w-{job.id}", 60, 100)
    assert claimed is not None and claimed.id == job.id
    if status is JobStatus.DONE:
        path = f"{user.id}/{job.id}.png"
        backend.blobs.put(path, b"\x89PNG-x", "image/png")
        assert backend.jobs.finish(
            job.id, f"w-{job.id}", result_path=path, thumb_path=None, result_meta={}
        )
    return job.id


# ---- refreshing during an Auth hiccup ---------------------------------------------------------

RATE_LIMITED = (
    429,
    json.dumps({"code": 429, "error_code": "over_request_rate_limit", "msg": "Too many"}),
    "application/json",
)
UNAVAILABLE = (503, "upstream connect error", "text/plain")
BROKEN = (
    500,
    json.dumps({"code": 500, "error_code": "unexpected_failure", "msg": "boom"}),
    "application/json",
)


@pytest.mark.parametrize("fault", [RATE_LIMITED, UNAVAILABLE, BROKEN], ids=["429", "503", "500"])
def test_an_auth_hiccup_on_refresh_keeps_the_session_and_uses_the_still_valid_jwt(
    backend, gw, fault
):
    gw.access_ttl = 30  # inside the refresh margin: every resolve tries to refresh
    signed = backend.accounts.sign_up("me@example.com", PASSWORD, admin_emails=frozenset())
    gw.refresh_fault = fault
    user = backend.accounts.resolve_session(signed.session_token)
    assert user is not None and user.access_token == signed.user.access_token
    assert _sessions(gw) == 1
    gw.refresh_fault = None
    time.sleep(1.1)  # a new `iat`, so the refreshed JWT differs
    again = backend.accounts.resolve_session(signed.session_token)
    assert again is not None and again.access_token != signed.user.access_token


@pytest.mark.parametrize("fault", [UNAVAILABLE, BROKEN], ids=["503", "500"])
def test_an_auth_outage_with_an_expired_jwt_signs_nobody_in_but_keeps_the_session(
    backend, gw, fault
):
    signed = backend.accounts.sign_up("me@example.com", PASSWORD, admin_emails=frozenset())
    with gw.cluster.connect() as conn:
        conn.execute("update public.sessions set access_expires_at = now() - interval '1 minute'")
    gw.refresh_fault = fault
    assert backend.accounts.resolve_session(signed.session_token) is None
    assert _sessions(gw) == 1
    gw.refresh_fault = None
    user = backend.accounts.resolve_session(signed.session_token)
    assert user is not None and user.email == "me@example.com"


def test_a_refresh_token_auth_calls_an_invalid_grant_ends_the_session(backend, gw):
    gw.access_ttl = 30
    signed = backend.accounts.sign_up("me@example.com", PASSWORD, admin_emails=frozenset())
    gw.refresh_fault = (
        400,
        json.dumps(
            {"error": "invalid_grant", "error_description": "Invalid Refresh Token: Already Used"}
        ),
        "application/json",
    )
    assert backend.accounts.resolve_session(signed.session_token) is None
    assert _sessions(gw) == 0


# ---- an expired JWT -------------------------------------------------------------------------


def test_an_expired_jwt_on_a_users_call_asks_to_sign_in_again(backend, gw):
    gw.access_ttl = 1
    user = backend.accounts.sign_up("me@example.com", PASSWORD, admin_emails=frozenset()).user
    time.sleep(2.1)
    jobs = backend.for_user(user).jobs
    with pytest.raises(AuthRequired, match=r"^Your session expired; sign in again\.$"):
        jobs.list_jobs(JobQuery())
    with pytest.raises(AuthRequired, match="session expired"):
        jobs.create_jobs(new_jobs(user), rate_limit_per_minute=NO_LIMIT)


# ---- review identity ------------------------------------------------------------------------


def test_an_owners_store_never_returns_who_reviewed_their_job(backend, people, settings):
    bob, reviewer = people["bob"], people["reviewer"]
    job_id = _job(backend, bob)
    backend.for_user(reviewer).jobs.set_review(
        [job_id], status=ReviewStatus.FLAGGED, note="internal", reviewer_id=reviewer.id
    )
    as_bob = backend.for_user(bob).jobs
    for job in (as_bob.get_job(job_id), *as_bob.list_jobs(JobQuery(user_id=bob.id)).items):
        assert job.review_status is ReviewStatus.FLAGGED
        assert job.reviewed_by is None and job.review_note is None
    seen = backend.for_user(reviewer).jobs.get_job(job_id)
    assert (seen.reviewed_by, seen.review_note) == (reviewer.id, "internal")
    services = build_services(backend, build_providers(settings), settings)
    (queued,) = services.review.review_queue(reviewer, JobQuery()).items
    assert (queued.reviewed_by, queued.review_note) == (reviewer.id, "internal")


# ---- deleting -------------------------------------------------------------------------------


def test_users_stores_delete_own_finished_rows_with_server_credentials(backend, people):
    alice, bob, admin = people["alice"], people["bob"], people["admin"]
    mine, running = _job(backend, alice), _job(backend, alice, JobStatus.PROCESSING)
    bobs = _job(backend, bob)
    as_alice = backend.for_user(alice).jobs
    assert as_alice.delete_jobs([bobs, running]) == 0
    assert as_alice.delete_jobs([mine]) == 1
    assert as_alice.get_job(mine) is None
    assert backend.jobs.get_job(running).status is JobStatus.PROCESSING
    assert backend.for_user(admin).jobs.delete_jobs([bobs, running]) == 1
    assert backend.jobs.get_job(bobs) is None


def test_deleting_a_job_removes_its_file_and_row_in_supabase_mode(backend, people, settings):
    alice = people["alice"]
    job_id = _job(backend, alice)
    path = backend.jobs.get_job(job_id).result_path
    services = build_services(backend, build_providers(settings), settings)
    services.jobs.delete(alice, job_id)
    assert backend.jobs.get_job(job_id) is None
    assert backend.blobs.size(path) is None


# ---- max_attempts ---------------------------------------------------------------------------


def test_a_users_own_submit_gets_max_attempts_from_the_servers_settings(backend, people):
    alice = people["alice"]
    jobs = backend.for_user(alice).jobs.create_jobs(
        new_jobs(alice, 2, max_attempts=100), rate_limit_per_minute=NO_LIMIT
    )
    assert [j.max_attempts for j in jobs] == [2, 2]
    served = backend.jobs.create_jobs(
        new_jobs(alice, max_attempts=5), rate_limit_per_minute=NO_LIMIT
    )
    assert served[0].max_attempts == 5


# ---- the first account --------------------------------------------------------------------


def test_with_confirmation_on_the_first_sign_up_is_admin_only_once_confirmed(backend, gw):
    gw.autoconfirm = False
    try:
        with pytest.raises(ValidationError, match="confirm your email"):
            backend.accounts.sign_up("owner@example.com", PASSWORD, admin_emails=frozenset())
    finally:
        gw.autoconfirm = True
    pending = backend.accounts.find_user_by_email("owner@example.com")
    assert pending.role is Role.USER
    with gw.cluster.connect() as conn:
        conn.execute("update auth.users set email_confirmed_at = now() where id = %s", [pending.id])
    assert backend.accounts.get_user(pending.id).role is Role.ADMIN
    later = backend.accounts.sign_up("later@example.com", PASSWORD, admin_emails=frozenset())
    assert later.user.role is Role.USER


def test_an_admin_emails_address_is_promoted_only_once_its_owner_confirms_it(backend, gw):
    backend.accounts.sign_up("owner@example.com", PASSWORD, admin_emails=frozenset())
    admins = frozenset({"boss@example.com"})
    gw.autoconfirm = False
    try:
        with pytest.raises(ValidationError, match="confirm your email"):
            backend.accounts.sign_up("Boss@Example.com", PASSWORD, admin_emails=admins)
    finally:
        gw.autoconfirm = True
    claimed = backend.accounts.find_user_by_email("boss@example.com")
    assert claimed.role is Role.USER  # anyone can type the address; nobody proved it yet
    with gw.cluster.connect() as conn:
        conn.execute("update auth.users set email_confirmed_at = now() where id = %s", [claimed.id])
    assert backend.accounts.get_user(claimed.id).role is Role.ADMIN
