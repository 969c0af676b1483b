"""Row-level security, grants and storage policies of supabase-schema.sql, checked as each
Supabase role with JWT claims set, the way PostgREST and storage-api run requests."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest
from psycopg import errors

from tests.integration.conftest import acting_as, job_json
from tests.integration.pg import SCHEMA_SQL


def _store_object(db: psycopg.Connection, name: str) -> None:
    db.execute(
        "insert into storage.objects (bucket_id, name, metadata) values ('results', %s, '{}')",
        [name],
    )


def test_schema_runs_again_over_data_without_changing_it(pg, db, make_user, submit):
    user = make_user("first@example.com", role=None)
    jobs = submit(user, 2)
    policies = db.execute("select count(*) as n from pg_policies").fetchone()["n"]
    pg.psql_file(SCHEMA_SQL)
    assert db.execute("select count(*) as n from public.jobs").fetchone()["n"] == len(jobs)
    assert db.execute("select role from public.profiles").fetchone()["role"] == "admin"
    assert db.execute("select count(*) as n from pg_policies").fetchone()["n"] == policies
    bucket = db.execute("select public from storage.buckets where id = 'results'").fetchone()
    assert bucket["public"] is False


def test_user_sees_only_own_jobs(db, make_user, submit):
    a, b = make_user(), make_user()
    submit(a, 2)
    b_job = submit(b, 1)[0]
    with acting_as(db, "authenticated", a):
        rows = db.execute("select user_id from public.jobs").fetchall()
        assert {str(r["user_id"]) for r in rows} == {a}
        assert (
            db.execute("select id from public.jobs where id = %s", [b_job["id"]]).fetchone() is None
        )
        listed = db.execute("select user_id from public.list_jobs()").fetchall()
        assert {str(r["user_id"]) for r in listed} == {a}


def test_user_cannot_change_cancel_or_delete_another_users_job(db, make_user, submit):
    a, b = make_user(), make_user()
    b_job = submit(b, 1)[0]
    with acting_as(db, "authenticated", a):
        assert (
            db.execute("select public.cancel_job(%s) as ok", [b_job["id"]]).fetchone()["ok"]
            is False
        )
    with pytest.raises(errors.InsufficientPrivilege), acting_as(db, "authenticated", a):
        db.execute("delete from public.jobs where id = %s", [b_job["id"]])
    with pytest.raises(errors.InsufficientPrivilege), acting_as(db, "authenticated", a):
        db.execute("update public.jobs set prompt = 'x' where id = %s", [b_job["id"]])
    after = db.execute(
        "select status, prompt from public.jobs where id = %s", [b_job["id"]]
    ).fetchone()
    assert after == {"status": "queued", "prompt": "a lighthouse"}


def test_user_cancels_own_queued_job_once(db, make_user, submit):
    a = make_user()
    job = submit(a, 1)[0]
    with acting_as(db, "authenticated", a):
        assert (
            db.execute("select public.cancel_job(%s) as ok", [job["id"]]).fetchone()["ok"] is True
        )
        assert (
            db.execute("select public.cancel_job(%s) as ok", [job["id"]]).fetchone()["ok"] is False
        )
    assert db.execute("select status from public.jobs").fetchone()["status"] == "canceled"


def test_user_cannot_submit_for_someone_else_nor_insert_directly(db, make_user):
    a, b = make_user(), make_user()
    with pytest.raises(errors.InsufficientPrivilege), acting_as(db, "authenticated", a):
        db.execute("select * from public.submit_jobs(%s, 30)", [job_json(b)])
    with pytest.raises(errors.InsufficientPrivilege), acting_as(db, "authenticated", a):
        db.execute(
            "insert into public.jobs (user_id, provider, model, prompt) "
            "values (%s, 'demo', 'demo-1', 'x')",
            [a],
        )
    assert db.execute("select count(*) as n from public.jobs").fetchone()["n"] == 0


def test_user_submits_own_jobs_within_the_servers_rate_limit(db, make_user):
    a = make_user()
    db.execute("update public.app_config set rate_limit_per_minute = 2")
    with acting_as(db, "authenticated", a):
        # asking for a huge limit does not lift the server's ceiling
        rows = db.execute(
            "select * from public.submit_jobs(%s, 1000000)", [job_json(a, 2)]
        ).fetchall()
        assert len(rows) == 2
    with pytest.raises(psycopg.Error) as caught, acting_as(db, "authenticated", a):
        db.execute("select * from public.submit_jobs(%s, 1000000)", [job_json(a)])
    assert caught.value.sqlstate == "SR429"


def test_user_cannot_edit_another_users_image(db, make_user):
    a, b = make_user(), make_user()
    batch = job_json(a)
    batch.obj[0].update(kind="edit", input_path=f"{b}/source.png")
    with pytest.raises(errors.InsufficientPrivilege), acting_as(db, "authenticated", a):
        db.execute("select * from public.submit_jobs(%s, 30)", [batch])
    batch.obj[0].update(input_path=f"{a}/source.png")
    with acting_as(db, "authenticated", a):
        row = db.execute("select * from public.submit_jobs(%s, 30)", [batch]).fetchone()
    assert row["input_path"] == f"{a}/source.png"


def test_disabled_user_cannot_submit(db, make_user):
    a = make_user()
    db.execute("update public.profiles set disabled = true where id = %s", [a])
    with pytest.raises(errors.InsufficientPrivilege), acting_as(db, "authenticated", a):
        db.execute("select * from public.submit_jobs(%s, 30)", [job_json(a)])


def test_anon_reaches_nothing(db, make_user, submit):
    a = make_user()
    job = submit(a, 1)[0]
    _store_object(db, f"{a}/{job['id']}.png")
    for statement in (
        "select * from public.jobs",
        "select * from public.profiles",
        "select * from public.sessions",
        "select * from public.api_tokens",
        "select * from public.app_config",
        "select * from public.list_jobs()",
        "select public.claim_job('x', 60, 3)",
    ):
        with pytest.raises(errors.InsufficientPrivilege), acting_as(db, "anon"):
            db.execute(statement)
    with pytest.raises(errors.InsufficientPrivilege), acting_as(db, "anon"):
        db.execute("select * from public.submit_jobs(%s, 30)", [job_json(a)])
    with acting_as(db, "anon"):
        assert db.execute("select * from storage.objects").fetchall() == []


def test_server_tables_are_closed_to_signed_in_users(db, make_user):
    a = make_user()
    for table in ("sessions", "api_tokens", "app_config", "leases", "submissions", "sweep_runs"):
        with pytest.raises(errors.InsufficientPrivilege), acting_as(db, "authenticated", a):
            db.execute(f"select * from public.{table}")


def test_queue_functions_are_for_the_service_role_only(db, make_user, submit):
    reviewer = make_user(role="reviewer")
    admin = make_user(role="admin")
    job = submit(reviewer, 1)[0]
    for user in (reviewer, admin):
        for statement, args in (
            ("select * from public.claim_job('w', 60, 3)", []),
            ("select public.finish_job(%s, 'w', 'p', null, '{}')", [job["id"]]),
            ("select public.fail_job(%s, 'w', 'e', 'm')", [job["id"]]),
            ("select * from public.purge_candidates('{done}', now())", []),
            ("select public.try_acquire_lease('sweeper', 'w', 60)", []),
        ):
            with pytest.raises(errors.InsufficientPrivilege), acting_as(db, "authenticated", user):
                db.execute(statement, args)
    assert db.execute("select status from public.jobs").fetchone()["status"] == "queued"


def test_reviewer_reads_all_and_reviews_but_cannot_delete_others(db, make_user, submit):
    a = make_user()
    reviewer = make_user(role="reviewer")
    job = submit(a, 1)[0]
    with acting_as(db, "authenticated", reviewer):
        assert len(db.execute("select id from public.jobs").fetchall()) == 1
        n = db.execute(
            "select public.set_review(%s, 'approved', 'fine', %s) as n", [[job["id"]], reviewer]
        ).fetchone()["n"]
        assert n == 1
        assert (
            db.execute("select public.cancel_job(%s) as ok", [job["id"]]).fetchone()["ok"] is False
        )
    with pytest.raises(errors.InsufficientPrivilege), acting_as(db, "authenticated", reviewer):
        db.execute("delete from public.jobs")
    row = db.execute("select review_status, reviewed_by from public.jobs").fetchone()
    assert row["review_status"] == "approved" and str(row["reviewed_by"]) == reviewer


def test_reviewer_cannot_review_in_someone_elses_name_and_users_cannot_review(
    db, make_user, submit
):
    a = make_user()
    reviewer = make_user(role="reviewer")
    job = submit(a, 1)[0]
    with pytest.raises(errors.InsufficientPrivilege), acting_as(db, "authenticated", reviewer):
        db.execute("select public.set_review(%s, 'approved', null, %s)", [[job["id"]], a])
    with pytest.raises(errors.InsufficientPrivilege), acting_as(db, "authenticated", a):
        db.execute("select public.set_review(%s, 'approved', null, %s)", [[job["id"]], a])
    assert db.execute("select review_status from public.jobs").fetchone()["review_status"] == (
        "unreviewed"
    )


def test_first_account_and_configured_emails_become_admin(db, make_user):
    db.execute("update public.app_config set admin_emails = '{Boss@Example.com}'")
    first = make_user("first@example.com", role=None)
    second = make_user("second@example.com", role=None)
    boss = make_user("boss@example.com", role=None)
    roles = {
        str(r["id"]): r["role"]
        for r in db.execute("select id, role from public.profiles").fetchall()
    }
    assert roles == {first: "admin", second: "user", boss: "admin"}


def test_concurrent_first_sign_ups_make_exactly_one_admin(db, role_conn, pg):
    barrier = threading.Barrier(8)

    def sign_up(n: int) -> None:
        with pg.connect() as conn:
            barrier.wait()
            conn.execute(
                "insert into auth.users (email, email_confirmed_at) values (%s, now())",
                [f"u{n}@example.com"],
            )

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(sign_up, range(8)))
    roles = [r["role"] for r in db.execute("select role from public.profiles").fetchall()]
    assert sorted(roles) == ["admin"] + ["user"] * 7


def test_users_read_only_their_profile_and_cannot_change_roles(db, make_user):
    make_user()  # the first account (admin)
    a, b = make_user(), make_user()
    with acting_as(db, "authenticated", a):
        rows = db.execute("select id from public.profiles").fetchall()
        assert [str(r["id"]) for r in rows] == [a]
    with pytest.raises(errors.InsufficientPrivilege), acting_as(db, "authenticated", a):
        db.execute("update public.profiles set role = 'admin' where id = %s", [a])
    assert (
        db.execute("select role from public.profiles where id = %s", [a]).fetchone()["role"]
        == "user"
    )
    assert b


def test_storage_user_reads_own_folder_reviewer_all_anon_none(db, make_user):
    a, b = make_user(), make_user()
    reviewer = make_user(role="reviewer")
    _store_object(db, f"{a}/one.png")
    _store_object(db, f"{b}/two.png")
    query = "select name from storage.objects where bucket_id = 'results' order by name"
    with acting_as(db, "authenticated", a):
        assert [r["name"] for r in db.execute(query).fetchall()] == [f"{a}/one.png"]
    with acting_as(db, "authenticated", reviewer):
        assert len(db.execute(query).fetchall()) == 2
    with acting_as(db, "anon"):
        assert db.execute(query).fetchall() == []


def test_storage_uploads_and_deletes_are_the_servers(db, make_user):
    a = make_user()
    _store_object(db, f"{a}/mine.png")
    with pytest.raises(errors.InsufficientPrivilege), acting_as(db, "authenticated", a):
        db.execute(
            "insert into storage.objects (bucket_id, name) values ('results', %s)", [f"{a}/x.png"]
        )
    with acting_as(db, "authenticated", a):
        assert db.execute("delete from storage.objects").rowcount == 0
    with acting_as(db, "service_role"):
        _store_object(db, f"{a}/x.png")
    assert db.execute("select count(*) as n from storage.objects").fetchone()["n"] == 2


def test_queue_positions_only_for_jobs_the_caller_may_see(db, make_user, submit):
    a, b = make_user(), make_user()
    b_first = submit(b, 1)[0]
    a_job = submit(a, 1)[0]
    with acting_as(db, "authenticated", a):
        rows = db.execute(
            "select * from public.queue_positions(%s)", [[a_job["id"], b_first["id"]]]
        ).fetchall()
    assert rows == [{"job_id": a_job["id"], "queue_position": 2}]
