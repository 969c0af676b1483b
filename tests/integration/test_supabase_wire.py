"""What supabase-py actually puts on the wire for our backend's calls (captured by the test
gateway). The gateway and the real Supabase APIs agree on these shapes;
if a client upgrade changes them, these tests fail before production does."""

from __future__ import annotations

import json
from importlib.metadata import version
from urllib.parse import parse_qs

import pytest

from core.domain.models import JobQuery, Role, User
from core.ports import Backend
from tests.constants import PASSWORD
from tests.contract.support import new_jobs
from tests.integration.gateway import Gateway, Recorded


@pytest.fixture
def user(backend: Backend) -> User:
    backend.accounts.sign_up("me@example.com", PASSWORD, admin_emails=frozenset())
    return backend.accounts.sign_in("me@example.com", PASSWORD).user


def _capture(gw: Gateway) -> list[Recorded]:
    gw.recorded.clear()
    gw.record = True
    return gw.recorded


def test_the_client_is_the_pinned_version():
    assert version("supabase") == "2.34.1"
    assert version("postgrest") == "2.34.1"
    assert version("storage3") == "2.34.1"
    assert version("supabase-auth") == "2.34.1"


def test_service_calls_carry_the_service_key_and_user_calls_the_users_jwt(backend, user, gw):
    seen = _capture(gw)
    backend.jobs.queue_depth()
    backend.for_user(user).jobs.get_job(new_jobs(user)[0].id)
    service, mine = seen
    assert service.headers["apikey"] == gw.service_key
    assert service.headers["authorization"] == f"Bearer {gw.service_key}"
    assert mine.headers["apikey"] == gw.anon_key
    assert mine.headers["authorization"] == f"Bearer {user.access_token}"


def test_a_row_read_is_a_filtered_get_with_the_profile_header(backend, user, gw):
    seen = _capture(gw)
    backend.accounts.get_user(user.id)
    (req,) = seen
    assert (req.method, req.path) == ("GET", "/rest/v1/profiles")
    assert parse_qs(req.query) == {"select": ["*"], "id": [f"eq.{user.id}"], "limit": ["1"]}
    assert req.headers["accept-profile"] == "public"


def test_a_job_read_is_the_get_job_rpc_which_hides_review_identity_from_owners(backend, user, gw):
    job_id = new_jobs(user)[0].id
    seen = _capture(gw)
    backend.for_user(user).jobs.get_job(job_id)
    (req,) = seen
    assert (req.method, req.path) == ("POST", "/rest/v1/rpc/get_job")
    assert json.loads(req.body) == {"p_id": job_id}


def test_a_users_delete_goes_with_the_service_key_filtered_to_their_idle_rows(backend, user, gw):
    assert user.role is Role.ADMIN  # the first account; the next one is a plain user
    plain = backend.accounts.sign_up("plain@example.com", PASSWORD, admin_emails=frozenset()).user
    job_id = new_jobs(plain)[0].id
    seen = _capture(gw)
    backend.for_user(plain).jobs.delete_jobs([job_id])
    (req,) = seen
    assert (req.method, req.path) == ("DELETE", "/rest/v1/jobs")
    assert req.headers["authorization"] == f"Bearer {gw.service_key}"
    assert parse_qs(req.query) == {
        "id": [f"in.({job_id})"],
        "status": ["neq.processing"],
        "user_id": [f"eq.{plain.id}"],
    }


def test_queue_calls_are_rpc_posts_with_named_json_arguments(backend, user, gw):
    seen = _capture(gw)
    backend.jobs.create_jobs(new_jobs(user, 2), rate_limit_per_minute=5, daily_quota=None)
    backend.jobs.claim("worker-1", 60, 3)
    backend.jobs.list_jobs(JobQuery(user_id=user.id, limit=10))
    submit, claim, listing = seen
    # the server's store: the quota it computed goes to the service-role-only door
    assert (submit.method, submit.path) == ("POST", "/rest/v1/rpc/submit_jobs_with_quota")
    assert submit.headers["content-profile"] == "public"
    body = json.loads(submit.body)
    assert set(body) == {"p_jobs", "p_rate_limit", "p_daily_quota"}
    assert len(body["p_jobs"]) == 2 and body["p_rate_limit"] == 5
    assert json.loads(claim.body) == {
        "p_owner": "worker-1",
        "p_lease_seconds": 60,
        "p_concurrency": 3,
    }
    assert listing.path == "/rest/v1/rpc/list_jobs"
    assert json.loads(listing.body)["p_limit"] == 11


def test_a_page_of_signed_urls_is_one_batch_request(backend, user, gw):
    paths = [f"{user.id}/{n}.png" for n in ("a", "b", "c")]
    for path in paths:
        backend.blobs.put(path, b"x", "image/png")
    seen = _capture(gw)
    urls = backend.blobs.signed_urls(paths, 3600)
    (req,) = seen
    assert (req.method, req.path) == ("POST", "/storage/v1/object/sign/results")
    assert json.loads(req.body) == {"paths": paths, "expiresIn": "3600"}
    assert all(u.startswith(f"{gw.url}/storage/v1/object/sign/results/") for u in urls.values())


def test_uploads_are_multipart_upserts_and_removal_sends_prefixes(backend, user, gw):
    path = f"{user.id}/job.png"
    seen = _capture(gw)
    backend.blobs.put(path, b"\x89PNG", "image/png")
    backend.blobs.delete([path])
    upload, remove = seen
    assert (upload.method, upload.path) == ("POST", f"/storage/v1/object/results/{path}")
    assert upload.headers["x-upsert"] == "true"
    assert upload.headers["content-type"].startswith("multipart/form-data")
    assert b'name="file"' in upload.body and b"image/png" in upload.body
    assert (remove.method, remove.path) == ("DELETE", "/storage/v1/object/results")
    assert json.loads(remove.body) == {"prefixes": [path]}


def test_sign_in_refresh_and_sign_out_use_gotrues_endpoints(backend, gw):
    backend.accounts.sign_up("me@example.com", PASSWORD, admin_emails=frozenset())
    seen = _capture(gw)
    signed = backend.accounts.sign_in("me@example.com", PASSWORD)
    gw.access_ttl = 30
    try:
        signed_again = backend.accounts.sign_in("me@example.com", PASSWORD)
        backend.accounts.resolve_session(signed_again.session_token)
    finally:
        gw.access_ttl = 3600
    backend.accounts.sign_out(signed.session_token)
    auth = [r for r in seen if r.path.startswith("/auth/")]
    password, _again, refresh, logout = auth
    assert (password.path, password.query) == ("/auth/v1/token", "grant_type=password")
    body = json.loads(password.body)
    assert body["email"] == "me@example.com" and body["password"] == PASSWORD
    assert password.headers["apikey"] == gw.anon_key
    assert (refresh.path, refresh.query) == ("/auth/v1/token", "grant_type=refresh_token")
    assert set(json.loads(refresh.body)) == {"refresh_token"}
    assert (logout.method, logout.path, logout.query) == ("POST", "/auth/v1/logout", "scope=local")
    assert logout.headers["authorization"] == f"Bearer {signed.user.access_token}"


def test_no_request_carries_the_cookie_token(backend, gw):
    seen = _capture(gw)
    signed = backend.accounts.sign_up("me@example.com", PASSWORD, admin_emails=frozenset())
    backend.accounts.resolve_session(signed.session_token)
    backend.accounts.sign_out(signed.session_token)
    token = signed.session_token.encode()
    for req in seen:
        assert token not in req.body and signed.session_token not in req.query
        assert all(signed.session_token not in v for v in req.headers.values())
