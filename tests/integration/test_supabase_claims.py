"""The Python side of submit_jobs after the claims review, with real supabase-py against the test
gateway on PostgreSQL: a user's store never sends a daily quota (the server's setting applies),
the server's store passes the one it computed, and idempotency keys and batch ids are per user."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from core.domain.errors import QuotaExceeded
from core.domain.models import JobRequest, User
from core.ports import Backend
from core.providers import build_providers
from core.services import build_services
from tests.constants import NO_LIMIT, PASSWORD
from tests.contract.support import new_jobs

REQUEST = JobRequest(provider="demo", model="demo-pattern", prompt="a kite over dunes")


@pytest.fixture
def people(backend: Backend) -> dict[str, User]:
    names = ("admin", "alice", "bob")
    for name in names:
        backend.accounts.sign_up(f"{name}@example.com", PASSWORD, admin_emails=frozenset())
    return {n: backend.accounts.sign_in(f"{n}@example.com", PASSWORD).user for n in names}


def test_a_users_store_sends_no_quota_and_the_servers_store_its_own(backend, people, gw):
    alice = people["alice"]
    gw.recorded.clear()
    gw.record = True
    backend.for_user(alice).jobs.create_jobs(
        new_jobs(alice), rate_limit_per_minute=5, daily_quota=7
    )
    backend.jobs.create_jobs(new_jobs(alice), rate_limit_per_minute=5, daily_quota=7)
    gw.record = False
    mine, server = gw.recorded
    assert (mine.path, mine.headers["authorization"]) == (
        "/rest/v1/rpc/submit_jobs",
        f"Bearer {alice.access_token}",
    )
    assert set(json.loads(mine.body)) == {"p_jobs", "p_rate_limit"}
    assert (server.path, server.headers["authorization"]) == (
        "/rest/v1/rpc/submit_jobs_with_quota",
        f"Bearer {gw.service_key}",
    )
    assert json.loads(server.body)["p_daily_quota"] == 7


def test_a_signed_in_users_submits_stop_at_the_servers_daily_quota(backend, people, settings):
    alice, bob = people["alice"], people["bob"]
    settings = replace(settings, daily_quota=2, rate_limit_per_minute=NO_LIMIT)
    backend.accounts.publish_config(settings)  # what the app does at start
    services = build_services(backend, build_providers(settings), settings)
    assert len(services.jobs.submit(alice, REQUEST, count=2)) == 2
    with pytest.raises(QuotaExceeded):
        services.jobs.submit(alice, REQUEST)
    # the per-user override, set by an admin, is read by SQL from the profile
    services.admin.set_daily_quota(people["admin"], bob.id, 1)
    services.jobs.submit(bob, REQUEST)
    with pytest.raises(QuotaExceeded):
        services.jobs.submit(bob, REQUEST)


def test_idempotency_keys_and_batch_ids_are_per_user(backend, people):
    alice, bob = people["alice"], people["bob"]
    as_alice, as_bob = backend.for_user(alice).jobs, backend.for_user(bob).jobs
    alices = new_jobs(alice, 2, key="click-1", prompt="alice's")
    first = as_alice.create_jobs(alices, rate_limit_per_minute=NO_LIMIT)
    again = as_alice.create_jobs(alices, rate_limit_per_minute=NO_LIMIT)
    assert [j.id for j in again] == [j.id for j in first]

    # bob sends the same key and alice's batch id: his own batch, then his own replay
    bobs = [replace(j, batch_id=alices[0].batch_id) for j in new_jobs(bob, 1, key="click-1")]
    his = as_bob.create_jobs(bobs, rate_limit_per_minute=NO_LIMIT)
    replay = as_bob.create_jobs(bobs, rate_limit_per_minute=NO_LIMIT)
    assert [j.id for j in replay] == [j.id for j in his]
    assert {j.user_id for j in replay} == {bob.id}
    assert [j.id for j in as_alice.create_jobs(alices, rate_limit_per_minute=NO_LIMIT)] == [
        j.id for j in first
    ]


def test_the_service_replays_a_key_per_user(backend, people, settings):
    alice, bob = people["alice"], people["bob"]
    services = build_services(backend, build_providers(settings), settings)
    first = services.jobs.submit(alice, REQUEST, count=2, idempotency_key="k")
    assert [j.id for j in services.jobs.submit(alice, REQUEST, count=2, idempotency_key="k")] == [
        j.id for j in first
    ]
    bobs = services.jobs.submit(bob, REQUEST, idempotency_key="k")
    assert len(bobs) == 1 and bobs[0].user_id == bob.id
    assert {j.id for j in bobs}.isdisjoint(j.id for j in first)
