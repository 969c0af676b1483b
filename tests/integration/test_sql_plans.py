"""The hot listing queries of supabase-schema.sql use their indexes (issue 13, scale): History,
Review and the admin user list read a range of an index in the order they return, never a
sequential scan of jobs and never a sort of every matching row.

The queries run inside functions, so `EXPLAIN` of the call shows only a function scan: the plans
come from auto_explain (`log_nested_statements`, JSON, sent to the client as notices), i.e. the
plans PostgreSQL really ran for the statements inside list_jobs / list_jobs_of_kinds /
user_activity. 20,000 jobs of 50 users with fresh statistics (`ANALYZE`), so the choices are the
planner's own; bench/scale.py measures the same calls at 1,000,000 jobs."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest

from tests.constants import STATS_ROLLUP_TABLES
from tests.integration.conftest import acting_as

JOBS = 20_000
USERS = 50

SEED = f"""
insert into auth.users (id, email)
select gen_random_uuid(), 'plan' || g || '@example.com' from generate_series(1, {USERS}) g;
with u as (select array_agg(id order by id) as ids from auth.users)
insert into public.jobs (user_id, provider, model, prompt, status, review_status, created_at,
                         run_after, started_at, finished_at, batch_id)
select u.ids[1 + g % {USERS}],
       (array['openai', 'gemini', 'ideogram', 'demo'])[1 + g % 4],
       'model-' || g % 3,
       'a lighthouse at dusk ' || g,
       case when g % 20 < 16 then 'done' when g % 20 < 18 then 'failed'
            when g % 20 = 18 then 'canceled' else 'queued' end,
       case when g % 20 >= 16 then 'unreviewed' when g % 3 = 0 then 'approved'
            when g % 7 = 0 then 'flagged' else 'unreviewed' end,
       now() - g * interval '1 minute', now() - g * interval '1 minute',
       case when g % 20 < 18 then now() - g * interval '1 minute' + interval '1 second' end,
       case when g % 20 < 19 then now() - g * interval '1 minute' + interval '5 seconds' end,
       gen_random_uuid()
from u, generate_series(1, {JOBS}) g;
analyze;
"""


@pytest.fixture
def seeded(db: psycopg.Connection) -> list[str]:
    db.execute(SEED)
    return [r["id"] for r in db.execute("select id::text from auth.users order by id")]


def _log_nested_plans(db: psycopg.Connection) -> list[str]:
    """Have PostgreSQL log, as notices into the returned list, the JSON plan of every statement
    it runs, including those inside functions (auto_explain); `log_min_duration = -1` stops it."""
    notices: list[str] = []
    db.add_notice_handler(lambda diag: notices.append(diag.message_primary or ""))
    db.execute("load 'auto_explain'")
    for name, value in (
        ("auto_explain.log_min_duration", "0"),
        ("auto_explain.log_nested_statements", "on"),
        ("auto_explain.log_format", "json"),
        ("auto_explain.log_level", "notice"),
        ("client_min_messages", "notice"),
    ):
        db.execute(f"set {name} = '{value}'")
    return notices


@pytest.fixture
def plans(db: psycopg.Connection) -> Iterator[Callable[..., list[dict[str, Any]]]]:
    """run(sql, params, role, user) -> the JSON plans of the statements that read public.jobs
    directly, as PostgreSQL executed them inside the called function."""
    notices = _log_nested_plans(db)

    def run(sql: str, params: list[Any], role: str = "service_role", user: str | None = None):
        notices.clear()
        with acting_as(db, role, user):
            rows = db.execute(sql, params).fetchall()
        assert rows, "the call returned nothing: the plan would prove nothing"
        found = []
        for notice in notices:
            if "plan:" not in notice:
                continue
            plan = json.loads(notice.split("plan:", 1)[1])
            if any(n.get("Relation Name") == "jobs" for n in _nodes(plan["Plan"])):
                found.append(plan)
        assert found, f"no statement read public.jobs: {notices}"
        return found

    yield run
    db.execute("set auto_explain.log_min_duration = -1")


def _nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield plan
    for child in plan.get("Plans", ()):
        yield from _nodes(child)


def _assert_reads(plans: list[dict[str, Any]], *indexes: str) -> None:
    """Every read of public.jobs is a scan of one of `indexes`, and nothing is sorted."""
    for plan in plans:
        nodes = list(_nodes(plan["Plan"]))
        shape = [(n["Node Type"], n.get("Index Name")) for n in nodes]
        reads = [n for n in nodes if n.get("Relation Name") == "jobs"]
        assert reads and all(n.get("Index Name") in indexes for n in reads), shape
        assert all(n["Node Type"] in ("Index Scan", "Index Only Scan") for n in reads), shape
        assert not any("Sort" in n["Node Type"] for n in nodes), shape


REVIEW = (
    "select * from public.list_jobs(p_statuses => '{done}', p_review_statuses => '{unreviewed}', "
    "p_oldest_first => %s, p_limit => 25"
)


def test_history_reads_the_users_index(seeded, plans):
    user = seeded[7]
    as_server = plans("select * from public.list_jobs(p_user_id => %s, p_limit => 25)", [user])
    _assert_reads(as_server, "jobs_history_idx")
    # the user themselves (the select policy's rule, no p_user_id)
    as_user = plans("select * from public.list_jobs(p_limit => 25)", [], "authenticated", user)
    _assert_reads(as_user, "jobs_history_idx")
    # History's kind filter (list_jobs_of_kinds)
    kinds = plans(
        "select * from public.list_jobs_of_kinds('{generate}', p_user_id => %s, p_limit => 25)",
        [user],
    )
    _assert_reads(kinds, "jobs_history_idx")


@pytest.mark.parametrize("oldest_first", [True, False])
def test_review_queue_reads_the_review_index(seeded, plans, db, oldest_first):
    first = plans(REVIEW + ")", [oldest_first])
    _assert_reads(first, "jobs_unreviewed_idx")
    with acting_as(db, "service_role"):
        last = db.execute(REVIEW + ") offset 23 limit 1", [oldest_first]).fetchone()
    later = plans(
        REVIEW + ", p_cursor_created_at => %s, p_cursor_id => %s)",
        [oldest_first, last["created_at"], last["id"]],
    )
    _assert_reads(later, "jobs_unreviewed_idx")
    filtered = plans(REVIEW + ", p_providers => '{gemini}')", [oldest_first])
    _assert_reads(filtered, "jobs_unreviewed_idx")
    # the other review statuses: the general review index
    flagged = plans(REVIEW.replace("unreviewed", "flagged") + ")", [oldest_first])
    _assert_reads(flagged, "jobs_review_queue_idx")


def test_review_any_status_reads_an_index_in_order(seeded, plans):
    # done is most jobs: walking all jobs newest first and skipping the others is as good as
    # the status index, and the planner may take either; a rare status takes the status index
    query = "select * from public.list_jobs(p_statuses => %s, p_limit => 25)"
    newest = plans(query, ["{done}"])
    _assert_reads(newest, "jobs_status_created_idx", "jobs_all_history_idx")
    _assert_reads(plans(query, ["{canceled}"]), "jobs_status_created_idx")


def test_user_list_probes_each_users_latest_job(seeded, plans, db):
    found = plans("select * from public.user_activity()", [])
    _assert_reads(found, "jobs_history_idx")
    totals = [n for p in found for n in _nodes(p["Plan"]) if n.get("Relation Name")]
    assert {n["Relation Name"] for n in totals} == {"jobs", "user_job_totals"}
    with acting_as(db, "service_role"):
        got = db.execute("select sum(jobs) as n from public.user_activity()").fetchone()
    assert got["n"] == JOBS


def test_statistics_read_the_daily_rollups_never_the_jobs(seeded, db):
    """job_stats (the admin statistics page) reads the rollup tables kept by jobs_stats_rollup,
    by day (spend: leading days, then weeks); no statement it runs touches public.jobs."""
    notices = _log_nested_plans(db)
    try:
        with acting_as(db, "service_role"):
            stats = db.execute(
                "select public.job_stats(now() - interval '7 days', 10) as s"
            ).fetchone()["s"]
    finally:
        db.execute("set auto_explain.log_min_duration = -1")
    assert stats["per_day"] and stats["top_users"] and stats["latency"] and stats["spend"]
    counted = db.execute(
        "select count(*) as n from public.jobs where (created_at at time zone 'UTC')::date "
        ">= ((now() - interval '7 days') at time zone 'UTC')::date"
    ).fetchone()["n"]
    assert sum(d["jobs"] for d in stats["per_day"]) == counted > 0  # the seed's one insert
    nodes = [
        n
        for notice in notices
        if "plan:" in notice
        for n in _nodes(json.loads(notice.split("plan:", 1)[1])["Plan"])
    ]
    relations = {n["Relation Name"] for n in nodes if n.get("Relation Name")}
    assert relations == STATS_ROLLUP_TABLES, relations
    for n in nodes:
        if n.get("Relation Name"):
            condition = n.get("Index Cond", "") + n.get("Filter", "") + n.get("Recheck Cond", "")
            assert "day >=" in condition or "week >=" in condition, n
