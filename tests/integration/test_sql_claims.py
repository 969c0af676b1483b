"""What a caller can do with JWT claims that do not match its database role, and with values the
server should choose: requests run the way PostgREST runs them, on a connection logged in as
`authenticator` that switches to the token's database role (`set local role`) and sets
`request.jwt.claims`. Roles come from the database role and the profile, never from a claim;
batch ids are looked up per user; a user's daily quota is the server's, not the caller's."""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest
from psycopg import errors
from psycopg.types.json import Jsonb

from tests.integration.conftest import job_json

Claims = dict[str, Any]


@contextlib.contextmanager
def request_as(
    conn: psycopg.Connection, db_role: str, claims: Claims | None
) -> Iterator[psycopg.Connection]:
    """One request as PostgREST runs it: the login role stays `authenticator`, the transaction
    switches to `db_role`, and the claims are whatever the token carried (None: no claims)."""
    with conn.transaction():
        conn.execute("select set_config('role', %s, true)", [db_role])
        if claims is not None:
            conn.execute("select set_config('request.jwt.claims', %s, true)", [json.dumps(claims)])
        yield conn


def user_claims(user_id: str) -> Claims:
    """What a real Supabase access token of a signed-in user carries."""
    return {"sub": user_id, "role": "authenticated", "aud": "authenticated"}


@pytest.fixture
def api(db: psycopg.Connection, role_conn: Callable[[], psycopg.Connection]) -> psycopg.Connection:
    """An `authenticator` connection to a freshly emptied database (like PostgREST's pool)."""
    return role_conn()


def _in_batch(batch: Jsonb, batch_id: str) -> Jsonb:
    for job in batch.obj:
        job["batch_id"] = batch_id
    return batch


def _submit(conn: psycopg.Connection, user: str, batch: Jsonb) -> list[dict[str, Any]]:
    with request_as(conn, "authenticated", user_claims(user)):
        return conn.execute("select * from public.submit_jobs(%s, 30)", [batch]).fetchall()


def test_the_harness_runs_requests_like_postgrest(api):
    user = str(uuid.uuid4())
    with request_as(api, "authenticated", user_claims(user)):
        row = api.execute("select session_user, current_user, auth.uid()::text as uid").fetchone()
    assert row == {"session_user": "authenticator", "current_user": "authenticated", "uid": user}


# ---- item 4: batch ids are looked up per user -------------------------------------------------


def test_replaying_a_key_with_another_users_batch_id_returns_only_the_callers_rows(
    db, api, make_user
):
    victim, attacker = make_user(), make_user()
    (mine,) = _submit(api, victim, job_json(victim, key="v-key", prompt="the victim's prompt"))
    db.execute("update public.jobs set result_path = %s where id = %s", ["v/1.png", mine["id"]])
    forged = _in_batch(job_json(attacker, key="a-key", prompt="attacker"), str(mine["batch_id"]))
    first = _submit(api, attacker, forged)
    again = _submit(api, attacker, forged)
    assert [r["id"] for r in again] == [r["id"] for r in first]
    assert {str(r["user_id"]) for r in again} == {attacker}
    assert {r["prompt"] for r in again} == {"attacker"}
    assert all(r["result_path"] is None for r in again)


def test_another_users_rows_in_a_batch_never_answer_the_owners_retry(db, api, make_user):
    victim, attacker = make_user(), make_user()
    payload = job_json(victim, 2, key="retry-key", prompt="victim")
    first = _submit(api, victim, payload)
    batch_id = str(first[0]["batch_id"])
    _submit(api, attacker, _in_batch(job_json(attacker, prompt="attacker"), batch_id))

    retry = _submit(api, victim, payload)
    assert [r["id"] for r in retry] == [r["id"] for r in first]

    # the victim's batch is gone (deleted by the server): the key is free again, and the
    # attacker's row with the same batch id does not hold it
    db.execute("delete from public.jobs where user_id = %s", [victim])
    fresh = _submit(api, victim, job_json(victim, key="retry-key", prompt="victim again"))
    assert {str(r["user_id"]) for r in fresh} == {victim}
    assert {r["prompt"] for r in fresh} == {"victim again"}
    left = db.execute("select user_id, prompt from public.jobs where user_id = %s", [attacker])
    assert [r["prompt"] for r in left.fetchall()] == ["attacker"]


def test_two_users_with_the_same_key_and_batch_id_get_independent_batches(api, make_user):
    a, b = make_user(), make_user()
    shared = str(uuid.uuid4())
    a_jobs = _submit(api, a, _in_batch(job_json(a, 2, key="same"), shared))
    b_jobs = _submit(api, b, _in_batch(job_json(b, 1, key="same"), shared))
    assert {str(r["user_id"]) for r in b_jobs} == {b} and len(b_jobs) == 1
    assert [r["id"] for r in _submit(api, a, _in_batch(job_json(a, 2, key="same"), shared))] == [
        r["id"] for r in a_jobs
    ]
    assert [r["id"] for r in _submit(api, b, _in_batch(job_json(b, 1, key="same"), shared))] == [
        r["id"] for r in b_jobs
    ]


# ---- item 5: a user's daily quota is the server's ------------------------------------------------


@pytest.mark.parametrize(
    "call",
    [
        "select * from public.submit_jobs(%s, 30, null)",
        "select * from public.submit_jobs(p_jobs => %s, p_rate_limit => 30, p_daily_quota => 1000)",
        "select * from public.submit_jobs_with_quota(%s, 30, null)",
    ],
    ids=["positional-null", "named-large", "server-door"],
)
def test_a_user_cannot_choose_their_own_daily_quota(db, api, make_user, call):
    a = make_user()
    with pytest.raises(psycopg.Error) as caught, request_as(api, "authenticated", user_claims(a)):
        api.execute(call, [job_json(a)])
    assert caught.value.sqlstate in ("42883", "42501")  # no such function / not allowed
    assert db.execute("select count(*) as n from public.jobs").fetchone()["n"] == 0
    assert db.execute("select count(*) as n from public.submissions").fetchone()["n"] == 0


def test_no_function_a_user_may_call_takes_a_daily_quota(db):
    rows = db.execute(
        "select p.oid::regprocedure::text as fn from pg_proc p "
        "where p.pronamespace = 'public'::regnamespace "
        "and 'p_daily_quota' = any (p.proargnames) "
        "and has_function_privilege('authenticated', p.oid, 'execute')"
    ).fetchall()
    assert rows == []


def test_a_users_own_submit_takes_the_daily_quota_from_the_server(db, api, make_user):
    a = make_user()
    db.execute("update public.app_config set daily_quota = 2")
    _submit(api, a, job_json(a, 2))
    with pytest.raises(psycopg.Error) as caught:
        _submit(api, a, job_json(a))
    assert caught.value.sqlstate == "SQ429"
    assert json.loads(caught.value.diag.message_detail)["quota"] == 2
    # the per-user override on the profile wins over the global setting
    db.execute("update public.profiles set daily_quota = 3 where id = %s", [a])
    assert len(_submit(api, a, job_json(a))) == 1
    with pytest.raises(psycopg.Error) as caught:
        _submit(api, a, job_json(a))
    assert json.loads(caught.value.diag.message_detail)["quota"] == 3


def test_the_server_submits_with_the_quota_it_computed(db, api, make_user):
    a = make_user()
    with request_as(api, "service_role", {"role": "service_role"}):
        api.execute("select * from public.submit_jobs_with_quota(%s, 100, 1)", [job_json(a)])
    with (
        pytest.raises(psycopg.Error) as caught,
        request_as(api, "service_role", {"role": "service_role"}),
    ):
        api.execute("select * from public.submit_jobs_with_quota(%s, 100, 1)", [job_json(a)])
    assert caught.value.sqlstate == "SQ429"


# ---- item 6: roles come from the database role and the profile, not from claims ----------------

FORGED = [
    pytest.param(lambda uid: {"sub": uid, "aud": "authenticated"}, id="no-role-claim"),
    pytest.param(lambda uid: {"sub": uid, "role": "service_role"}, id="role-service_role"),
    pytest.param(lambda uid: {"sub": uid, "role": "postgres"}, id="role-postgres"),
    pytest.param(lambda uid: {"sub": uid, "role": "admin"}, id="role-admin"),
    pytest.param(
        lambda uid: {
            "sub": uid,
            "role": "authenticated",
            "app_metadata": {"role": "admin"},
            "user_role": "reviewer",
        },
        id="extra-role-claims",
    ),
]


@pytest.fixture
def world(db, api, make_user) -> dict[str, Any]:
    """A plain user `a`, another user `b` with a reviewed (noted) job and a queued one."""
    a, b = make_user(), make_user()
    reviewer = make_user(role="reviewer")
    (a_job,) = _submit(api, a, job_json(a, prompt="a's"))
    b_reviewed, b_queued = _submit(api, b, job_json(b, 2, prompt="b's"))
    with request_as(api, "authenticated", user_claims(reviewer)):
        api.execute(
            "select public.set_review(%s, 'flagged', 'internal note', %s)",
            [[b_reviewed["id"]], reviewer],
        )
    return {
        "a": a,
        "b": b,
        "reviewer": reviewer,
        "a_job": str(a_job["id"]),
        "b_reviewed": str(b_reviewed["id"]),
        "b_queued": str(b_queued["id"]),
    }


@pytest.mark.parametrize("forge", FORGED)
def test_forged_claims_on_the_authenticated_role_read_only_the_users_own_jobs(
    db, api, world, forge
):
    claims = forge(world["a"])
    with request_as(api, "authenticated", claims):
        listed = api.execute("select * from public.list_jobs()").fetchall()
        other = api.execute("select * from public.get_job(%s)", [world["b_reviewed"]]).fetchall()
        positions = api.execute(
            "select * from public.queue_positions(%s)", [[world["b_queued"], world["a_job"]]]
        ).fetchall()
    assert [str(r["id"]) for r in listed] == [world["a_job"]]
    assert all(r["review_note"] is None and r["reviewed_by"] is None for r in listed)
    assert other == []
    assert [str(r["job_id"]) for r in positions] == [world["a_job"]]


@pytest.mark.parametrize("forge", FORGED)
def test_forged_claims_on_the_authenticated_role_change_nothing_of_another_user(
    db, api, world, forge
):
    a, b = world["a"], world["b"]
    claims = forge(a)
    with request_as(api, "authenticated", claims):
        ok = api.execute("select public.cancel_job(%s) as ok", [world["b_queued"]]).fetchone()
    assert ok["ok"] is False
    with pytest.raises(errors.InsufficientPrivilege), request_as(api, "authenticated", claims):
        api.execute(
            "select public.set_review(%s, 'approved', 'mine now', %s)", [[world["b_reviewed"]], a]
        )
    with pytest.raises(errors.InsufficientPrivilege), request_as(api, "authenticated", claims):
        api.execute("select * from public.submit_jobs(%s, 30)", [job_json(b, prompt="forged")])
    rows = db.execute(
        "select id, status, review_status, review_note from public.jobs where user_id = %s "
        "order by created_at",
        [b],
    ).fetchall()
    assert [(str(r["id"]), r["status"]) for r in rows] == [
        (world["b_reviewed"], "queued"),
        (world["b_queued"], "queued"),
    ]
    assert (rows[0]["review_status"], rows[0]["review_note"]) == ("flagged", "internal note")


@pytest.mark.parametrize("forge", FORGED)
def test_forged_claims_do_not_lift_a_users_limits(db, api, world, forge):
    a = world["a"]
    db.execute("update public.app_config set rate_limit_per_minute = 2, max_attempts = 2")
    with request_as(api, "authenticated", forge(a)):
        row = api.execute(
            "select * from public.submit_jobs(%s, 1000000)", [job_json(a, max_attempts=100)]
        ).fetchone()
    assert row["max_attempts"] == 2
    with pytest.raises(psycopg.Error) as caught, request_as(api, "authenticated", forge(a)):
        api.execute("select * from public.submit_jobs(%s, 1000000)", [job_json(a)])
    assert caught.value.sqlstate == "SR429"


SERVER_ONLY = [
    "select * from public.claim_job('w', 60, 3)",
    "select public.cancel_user_jobs(%(b)s)",
    "select public.job_stats(now() - interval '1 day')",
    "select * from public.user_activity()",
    "select * from public.purge_candidates('{done}', now(), null, '{}', 10)",
    "select * from public.submit_jobs_with_quota(%(jobs)s, 30, null)",
]


@pytest.mark.parametrize("forge", FORGED)
def test_forged_claims_reach_no_server_or_admin_function(db, api, world, forge):
    args = {"b": world["b"], "jobs": job_json(world["b"])}
    for statement in SERVER_ONLY:
        with (
            pytest.raises(errors.InsufficientPrivilege),
            request_as(api, "authenticated", forge(world["a"])),
        ):
            api.execute(statement, args)
    assert db.execute("select count(*) as n from public.jobs").fetchone()["n"] == 3


def test_a_disabled_reviewer_is_no_reviewer_whatever_the_claims(db, api, world):
    reviewer = world["reviewer"]
    db.execute("update public.profiles set disabled = true where id = %s", [reviewer])
    for claims in ({"sub": reviewer}, {"sub": reviewer, "role": "service_role"}):
        with request_as(api, "authenticated", claims):
            assert api.execute("select * from public.list_jobs()").fetchall() == []
            assert (
                api.execute("select * from public.get_job(%s)", [world["b_reviewed"]]).fetchall()
                == []
            )
        with pytest.raises(errors.InsufficientPrivilege), request_as(api, "authenticated", claims):
            api.execute(
                "select public.set_review(%s, 'approved', null, %s)",
                [[world["b_reviewed"]], reviewer],
            )


def test_real_reviewers_and_admins_still_act_on_every_users_jobs(db, api, make_user, world):
    reviewer = world["reviewer"]
    admin = make_user(role="admin")
    # a reviewer's token without a role claim: the profile decides
    with request_as(api, "authenticated", {"sub": reviewer}):
        listed = {str(r["id"]): r for r in api.execute("select * from public.list_jobs()")}
        assert (
            api.execute(
                "select public.set_review(%s, 'approved', 'fine', %s) as n",
                [[world["a_job"]], reviewer],
            ).fetchone()["n"]
            == 1
        )
    assert set(listed) == {world["a_job"], world["b_reviewed"], world["b_queued"]}
    assert listed[world["b_reviewed"]]["review_note"] == "internal note"
    with request_as(api, "authenticated", user_claims(admin)):
        ok = api.execute("select public.cancel_job(%s) as ok", [world["b_queued"]]).fetchone()
    assert ok["ok"] is True


@pytest.mark.parametrize(
    "claims",
    [{"role": "service_role"}, {}, None, {"role": "authenticated", "sub": str(uuid.uuid4())}],
    ids=["service-claims", "empty-claims", "no-claims", "user-claims"],
)
def test_the_service_role_is_the_server_whatever_its_claims(db, api, world, claims):
    with request_as(api, "service_role", claims):
        listed = {str(r["id"]): r for r in api.execute("select * from public.list_jobs()")}
        full = api.execute("select * from public.get_job(%s)", [world["b_reviewed"]]).fetchone()
        ok = api.execute("select public.cancel_job(%s) as ok", [world["b_queued"]]).fetchone()
    assert set(listed) == {world["a_job"], world["b_reviewed"], world["b_queued"]}
    assert full["review_note"] == "internal note" and str(full["reviewed_by"]) == world["reviewer"]
    assert ok["ok"] is True


def test_the_database_owner_without_a_request_role_is_the_server(db, world):
    # psql as the owner (a migration, the SQL editor): no `set role`, no claims
    listed = db.execute("select * from public.list_jobs()").fetchall()
    assert len(listed) == 3
    assert db.execute("select public.is_service() as s").fetchone()["s"] is True


def test_the_login_role_alone_is_not_the_server(api, world):
    # `authenticator` before PostgREST switched roles (it cannot call the doors at all)
    with pytest.raises(errors.InsufficientPrivilege):
        api.execute("select * from public.list_jobs()")


def test_no_function_or_policy_reads_a_role_from_the_jwt(db):
    pattern = r"auth\.(role|jwt)\s*\(|request\.jwt"
    functions = db.execute(
        "select p.oid::regprocedure::text as fn from pg_proc p "
        "where p.pronamespace = 'public'::regnamespace and p.prosrc ~* %s",
        [pattern],
    ).fetchall()
    policies = db.execute(
        "select schemaname, tablename, policyname from pg_policies "
        "where coalesce(qual, '') ~* %s or coalesce(with_check, '') ~* %s",
        [pattern, pattern],
    ).fetchall()
    assert functions == [] and policies == []
