"""What a signed-in user can do by calling PostgREST directly with their JWT (the anon key is
public): submit_jobs takes its limits from the server, review identity stays with reviewers,
rows are deleted only by the server, disabled accounts read nothing, and ADMIN_EMAILS / the first
account become admin only with a confirmed email."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
from psycopg import errors

from tests.integration.conftest import acting_as, job_json


def _reviewed_job(db: psycopg.Connection, submit, make_user) -> tuple[str, str, dict[str, Any]]:
    """(owner, reviewer, job): a job the reviewer flagged with an internal note."""
    owner = make_user()
    reviewer = make_user(role="reviewer")
    job = submit(owner, 1)[0]
    with acting_as(db, "authenticated", reviewer):
        db.execute(
            "select public.set_review(%s, 'flagged', 'internal note', %s)", [[job["id"]], reviewer]
        )
    return owner, reviewer, job


# ---- submit_jobs called directly --------------------------------------------------------------


def test_a_users_own_submit_takes_max_attempts_from_the_server_not_the_caller(db, make_user):
    a = make_user()
    with acting_as(db, "authenticated", a):
        row = db.execute(
            "select * from public.submit_jobs(%s, 30)", [job_json(a, max_attempts=100)]
        ).fetchone()
    assert row["max_attempts"] == 4  # the default while the server has published nothing
    db.execute("update public.app_config set max_attempts = 2")
    with acting_as(db, "authenticated", a):
        rows = db.execute(
            "select * from public.submit_jobs(%s, 30)", [job_json(a, 2, max_attempts=100)]
        ).fetchall()
    assert [r["max_attempts"] for r in rows] == [2, 2]
    stored = db.execute("select max(max_attempts) as m from public.jobs").fetchone()["m"]
    assert stored == 4


def test_a_users_own_submit_takes_a_prompt_as_long_as_the_largest_provider_limit(db, make_user):
    a = make_user()
    with acting_as(db, "authenticated", a):
        row = db.execute(
            "select * from public.submit_jobs(%s, 30)", [job_json(a, prompt="x" * 32_000)]
        ).fetchone()
    assert len(row["prompt"]) == 32_000


def test_the_service_role_still_sets_max_attempts_itself(db, make_user, submit):
    db.execute("update public.app_config set max_attempts = 2")
    assert submit(make_user(), 1, max_attempts=7)[0]["max_attempts"] == 7


@pytest.mark.parametrize(
    ("fields", "n"),
    [
        ({"params": {"blob": "x" * 20_000}}, 1),
        ({"params": {f"k{i}": i for i in range(2_000)}}, 1),
        ({"prompt": "   "}, 1),
        ({"prompt": "x" * 32_001}, 1),
        ({}, 17),
    ],
    ids=["params-too-large", "params-too-many-keys", "blank-prompt", "prompt-too-long", "batch"],
)
def test_a_users_own_submit_rejects_oversized_or_empty_requests_and_stores_nothing(
    db, make_user, fields, n
):
    a = make_user()
    with pytest.raises(psycopg.Error) as caught, acting_as(db, "authenticated", a):
        db.execute("select * from public.submit_jobs(%s, 1000)", [job_json(a, n, **fields)])
    assert caught.value.sqlstate in ("22023", "23514")
    assert db.execute("select count(*) as n from public.jobs").fetchone()["n"] == 0
    assert db.execute("select count(*) as n from public.submissions").fetchone()["n"] == 0


def test_a_users_own_submit_rejects_params_that_are_not_an_object(db, make_user):
    a = make_user()
    with pytest.raises(psycopg.Error) as caught, acting_as(db, "authenticated", a):
        db.execute("select * from public.submit_jobs(%s, 30)", [job_json(a, params=[1, 2])])
    assert caught.value.sqlstate in ("22023", "23514")


# ---- review identity ------------------------------------------------------------------------


@pytest.mark.parametrize("column", ["reviewed_by", "review_note"])
def test_an_owner_cannot_read_who_reviewed_their_job_from_the_table(db, make_user, submit, column):
    owner, _reviewer, job = _reviewed_job(db, submit, make_user)
    with pytest.raises(errors.InsufficientPrivilege), acting_as(db, "authenticated", owner):
        db.execute(f"select {column} from public.jobs where id = %s", [job["id"]])
    with acting_as(db, "authenticated", owner):
        row = db.execute(
            "select id, review_status, reviewed_at from public.jobs where id = %s", [job["id"]]
        ).fetchone()
    assert row["review_status"] == "flagged" and row["reviewed_at"] is not None


def test_owners_get_review_status_but_not_identity_from_the_functions(db, make_user, submit):
    owner, reviewer, job = _reviewed_job(db, submit, make_user)
    for fn, args in (
        ("public.list_jobs()", []),
        ("public.get_job(%s)", [job["id"]]),
    ):
        with acting_as(db, "authenticated", owner):
            (mine,) = db.execute(f"select * from {fn}", args).fetchall()
        assert mine["review_status"] == "flagged"
        assert mine["reviewed_by"] is None and mine["review_note"] is None
        with acting_as(db, "authenticated", reviewer):
            (seen,) = db.execute(f"select * from {fn}", args).fetchall()
        assert str(seen["reviewed_by"]) == reviewer and seen["review_note"] == "internal note"
        with acting_as(db, "service_role"):
            (full,) = db.execute(f"select * from {fn}", args).fetchall()
        assert str(full["reviewed_by"]) == reviewer


def test_replaying_an_idempotency_key_does_not_reveal_the_reviewer(db, make_user):
    owner = make_user()
    reviewer = make_user(role="reviewer")
    batch = job_json(owner, key="k1")
    with acting_as(db, "authenticated", owner):
        job = db.execute("select * from public.submit_jobs(%s, 30)", [batch]).fetchone()
    with acting_as(db, "authenticated", reviewer):
        db.execute("select public.set_review(%s, 'approved', 'ok', %s)", [[job["id"]], reviewer])
    with acting_as(db, "authenticated", owner):
        again = db.execute("select * from public.submit_jobs(%s, 30)", [batch]).fetchone()
    assert again["id"] == job["id"] and again["review_status"] == "approved"
    assert again["reviewed_by"] is None and again["review_note"] is None


def test_get_job_shows_nothing_of_another_users_job(db, make_user, submit):
    a, b = make_user(), make_user()
    b_job = submit(b, 1)[0]
    with acting_as(db, "authenticated", a):
        assert db.execute("select * from public.get_job(%s)", [b_job["id"]]).fetchall() == []
    with pytest.raises(errors.InsufficientPrivilege), acting_as(db, "anon"):
        db.execute("select * from public.get_job(%s)", [b_job["id"]])


# ---- deleting rows --------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["user", "admin"])
def test_signed_in_users_cannot_delete_rows_directly(db, make_user, submit, role):
    who = make_user(role=role)
    job = submit(who, 1)[0]
    db.execute("update public.jobs set status = 'done' where id = %s", [job["id"]])
    with pytest.raises(errors.InsufficientPrivilege), acting_as(db, "authenticated", who):
        db.execute("delete from public.jobs where id = %s", [job["id"]])
    assert db.execute("select count(*) as n from public.jobs").fetchone()["n"] == 1


# ---- disabled accounts ----------------------------------------------------------------------


def test_a_disabled_user_reads_none_of_their_jobs_or_files(db, make_user, submit):
    a = make_user()
    job = submit(a, 1)[0]
    db.execute(
        "insert into storage.objects (bucket_id, name, metadata) values ('results', %s, '{}')",
        [f"{a}/{job['id']}.png"],
    )
    db.execute("update public.profiles set disabled = true where id = %s", [a])
    with acting_as(db, "authenticated", a):
        assert db.execute("select id from public.jobs").fetchall() == []
        assert db.execute("select * from public.list_jobs()").fetchall() == []
        assert db.execute("select * from public.get_job(%s)", [job["id"]]).fetchall() == []
        assert db.execute("select name from storage.objects").fetchall() == []
    db.execute("update public.profiles set disabled = false where id = %s", [a])
    with acting_as(db, "authenticated", a):
        assert len(db.execute("select id from public.jobs").fetchall()) == 1


# ---- admins only with a confirmed email -----------------------------------------------------


def _role(db: psycopg.Connection, user_id: str) -> str:
    return db.execute("select role from public.profiles where id = %s", [user_id]).fetchone()[
        "role"
    ]


def _confirm(db: psycopg.Connection, user_id: str) -> None:
    db.execute("update auth.users set email_confirmed_at = now() where id = %s", [user_id])


def test_an_admin_email_becomes_admin_only_once_confirmed(db, make_user):
    make_user("first@example.com", role=None)
    db.execute("update public.app_config set admin_emails = '{boss@example.com}'")
    boss = make_user("boss@example.com", role=None, confirmed=False)
    assert _role(db, boss) == "user"
    db.execute("update auth.users set email = email where id = %s", [boss])  # not a confirmation
    assert _role(db, boss) == "user"
    _confirm(db, boss)
    assert _role(db, boss) == "admin"


def test_an_unconfirmed_first_sign_up_is_not_admin_and_the_first_confirmed_one_is(db, make_user):
    squatter = make_user("squatter@example.com", role=None, confirmed=False)
    owner = make_user("owner@example.com", role=None, confirmed=False)
    assert (_role(db, squatter), _role(db, owner)) == ("user", "user")
    _confirm(db, owner)
    assert _role(db, owner) == "admin"
    _confirm(db, squatter)
    assert _role(db, squatter) == "user"


def test_with_confirmation_off_the_first_account_is_admin_at_sign_up(db, make_user):
    first = make_user("first@example.com", role=None)
    second = make_user("second@example.com", role=None)
    assert (_role(db, first), _role(db, second)) == ("admin", "user")


def test_a_users_own_submit_is_rate_limited_even_before_the_server_publishes_a_limit(db, make_user):
    a = make_user()
    with acting_as(db, "authenticated", a):
        assert (
            len(
                db.execute(
                    "select * from public.submit_jobs(%s, null)", [job_json(a, 16)]
                ).fetchall()
            )
            == 16
        )
    with pytest.raises(psycopg.Error) as caught, acting_as(db, "authenticated", a):
        db.execute("select * from public.submit_jobs(%s, null)", [job_json(a, 16)])
    assert caught.value.sqlstate == "SR429"
    assert db.execute("select count(*) as n from public.jobs").fetchone()["n"] == 16


# ---- the last admin ---------------------------------------------------------------------------


def test_an_admin_who_cannot_sign_in_yet_does_not_keep_the_last_admin_seat(db, make_user):
    owner = make_user("owner@example.com", role=None)
    invited = make_user("invited@example.com", role="admin", confirmed=False)
    assert (_role(db, owner), _role(db, invited)) == ("admin", "admin")

    with pytest.raises(psycopg.Error) as refused, acting_as(db, "service_role"):
        db.execute("update public.profiles set role = 'user' where id = %s", [owner])
    assert refused.value.sqlstate == "SL409"
    assert _role(db, owner) == "admin"

    _confirm(db, invited)
    with acting_as(db, "service_role"):
        db.execute("update public.profiles set disabled = true where id = %s", [owner])
    with pytest.raises(psycopg.Error) as refused, acting_as(db, "service_role"):
        db.execute("update public.profiles set disabled = true where id = %s", [invited])
    assert refused.value.sqlstate == "SL409"


def test_the_database_owner_is_not_held_to_the_last_admin_rule(db, make_user):
    owner = make_user("owner@example.com", role=None)
    db.execute("update public.profiles set role = 'user' where id = %s", [owner])  # SQL editor
    assert _role(db, owner) == "user"
