"""The webhook outbox of supabase-schema.sql on real PostgreSQL: events written by the trigger
in the state change's own transaction (a rollback leaves none), fan-out into deliveries with
the same body as the local backend, claims with SKIP LOCKED (concurrent dispatchers take
disjoint deliveries), lease-checked settling and 410 disabling the endpoint."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import psycopg
import pytest

from tests.integration.conftest import acting_as

JOB_KEYS = {
    "id",
    "status",
    "provider",
    "model",
    "kind",
    "prompt",
    "params",
    "batch_id",
    "attempts",
    "error_code",
    "error_message",
    "result_meta",
    "created_at",
    "started_at",
    "finished_at",
}  # fmt: skip — core.domain.webhooks.job_document


def _events(db: psycopg.Connection, job_id: object) -> list[str]:
    rows = db.execute(
        "select status from public.job_events where job_id = %s order by seq", [job_id]
    ).fetchall()
    return [r["status"] for r in rows]


def _endpoint(
    db: psycopg.Connection, user_id: str, events: list[str], url: str = "https://h.example/x"
) -> str:
    return db.execute(
        "insert into public.webhook_endpoints (user_id, url, events, salt) "
        "values (%s, %s, %s, 'salt') returning id",
        [user_id, url, events],
    ).fetchone()["id"]


def _as_service(db: psycopg.Connection, sql: str, args: list[Any]) -> list[dict[str, Any]]:
    with acting_as(db, "service_role"):
        return db.execute(sql, args).fetchall()


def test_the_trigger_logs_each_state_change_in_its_transaction(
    db: psycopg.Connection, make_user: Callable[..., str], submit: Callable[..., list]
) -> None:
    user = make_user()
    [job] = submit(user)
    _as_service(db, "select * from public.claim_job('w', 60, 3)", [])
    _as_service(db, "select public.finish_job(%s, 'w', 'r.png', null, '{}') as ok", [job["id"]])
    assert _events(db, job["id"]) == ["queued", "processing", "done"]
    # a state change rolled back leaves no event behind
    with pytest.raises(psycopg.errors.RaiseException), db.transaction():
        db.execute("update public.jobs set status = 'failed' where id = %s", [job["id"]])
        db.execute("do $$ begin raise exception 'boom'; end $$")
    assert _events(db, job["id"]) == ["queued", "processing", "done"]


def test_fan_out_matches_filters_and_builds_the_same_body(
    db: psycopg.Connection, make_user: Callable[..., str], submit: Callable[..., list]
) -> None:
    user, other = make_user(), make_user()
    all_events = _endpoint(db, user, ["job.queued", "job.started"])
    _endpoint(db, user, ["job.failed"])
    _endpoint(db, other, ["job.queued"])
    [job] = submit(user, prompt="a fox")
    _as_service(db, "select * from public.claim_job('w', 60, 3)", [])
    [taken] = _as_service(db, "select public.webhook_fan_out(100) as n", [])
    assert taken["n"] == 2
    rows = db.execute("select * from public.webhook_deliveries order by event_seq").fetchall()
    assert [(str(r["endpoint_id"]), r["event"]) for r in rows] == [
        (str(all_events), "job.queued"),
        (str(all_events), "job.started"),
    ]
    body = json.loads(rows[0]["payload"])
    assert body["type"] == "job.queued" and set(body["data"]) == JOB_KEYS
    assert body["data"]["status"] == "queued" and body["data"]["prompt"] == "a fox"
    assert body["data"]["id"] == str(job["id"])
    assert all(r["id"].startswith("msg_") for r in rows)
    # taken once: a second fan-out finds nothing new
    assert _as_service(db, "select public.webhook_fan_out(100) as n", [])[0]["n"] == 0


def test_concurrent_dispatchers_claim_disjoint_deliveries(
    db: psycopg.Connection,
    make_user: Callable[..., str],
    submit: Callable[..., list],
    role_conn: Callable[[], psycopg.Connection],
) -> None:
    user = make_user()
    _endpoint(db, user, ["job.queued"])
    submit(user, 4)
    _as_service(db, "select public.webhook_fan_out(100)", [])
    first, second = role_conn(), role_conn()
    with acting_as(first, "service_role"):
        mine = first.execute(
            "select id from public.claim_webhook_deliveries('a', 30, 2)"
        ).fetchall()
        # the first claim's rows stay locked until it commits: the second skips them
        with acting_as(second, "service_role"):
            theirs = second.execute(
                "select id from public.claim_webhook_deliveries('b', 30, 10)"
            ).fetchall()
    assert len(mine) == 2 and len(theirs) == 2
    assert not {r["id"] for r in mine} & {r["id"] for r in theirs}
    # all four are leased now
    assert _as_service(db, "select * from public.claim_webhook_deliveries('c', 30, 10)", []) == []


def test_settling_is_lease_checked_and_410_disables_the_endpoint(
    db: psycopg.Connection, make_user: Callable[..., str], submit: Callable[..., list]
) -> None:
    user = make_user()
    endpoint = _endpoint(db, user, ["job.queued"])
    submit(user, 2)
    _as_service(db, "select public.webhook_fan_out(100)", [])
    first = _as_service(db, "select * from public.claim_webhook_deliveries('a', 30, 1)", [])[0]
    record = "select public.record_webhook_attempt(%s, %s, %s, null, %s, null) as ok"
    assert not _as_service(db, record, [first["id"], "intruder", "delivered", 200])[0]["ok"]
    assert _as_service(db, record, [first["id"], "a", "gone", 410])[0]["ok"]
    row = db.execute(
        "select disabled_at from public.webhook_endpoints where id = %s", [endpoint]
    ).fetchone()
    assert row["disabled_at"] is not None
    statuses = {
        r["status"] for r in db.execute("select status from public.webhook_deliveries").fetchall()
    }
    assert statuses == {"gone"}


def test_users_cannot_reach_the_webhook_tables(
    db: psycopg.Connection, make_user: Callable[..., str]
) -> None:
    user = make_user()
    for table in ("job_events", "webhook_endpoints", "webhook_deliveries", "job_webhooks"):
        with (
            pytest.raises(psycopg.errors.InsufficientPrivilege),
            acting_as(db, "authenticated", user),
        ):
            db.execute(f"select * from public.{table}")
    with pytest.raises(psycopg.errors.InsufficientPrivilege), acting_as(db, "authenticated", user):
        db.execute("select public.webhook_fan_out(10)")


def test_deleting_an_account_takes_its_event_log_and_webhooks(
    db: psycopg.Connection, make_user: Callable[..., str], submit: Callable[..., list]
) -> None:
    user, other = make_user(), make_user()
    _endpoint(db, user, ["job.queued"])
    submit(user)
    submit(other)
    _as_service(db, "select public.webhook_fan_out(100)", [])
    db.execute("delete from auth.users where id = %s", [user])
    left = db.execute("select user_id from public.job_events").fetchall()
    assert [str(r["user_id"]) for r in left] == [str(other)]
    assert db.execute("select count(*) as n from public.webhook_deliveries").fetchone()["n"] == 0
    assert db.execute("select count(*) as n from public.webhook_endpoints").fetchone()["n"] == 0
