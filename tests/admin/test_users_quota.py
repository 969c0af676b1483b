"""User management: list, roles and the last-admin rule, disabling, per-user daily quota."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from core.domain.errors import (
    AccountDisabled,
    Conflict,
    Forbidden,
    NotFound,
    QuotaExceeded,
    ValidationError,
)
from core.domain.models import JobRequest, JobStatus, Role
from core.services import build_services
from tests.admin.conftest import Deployment
from tests.constants import PASSWORD

REQUEST = JobRequest(provider="demo", model="demo-pattern", prompt="a red kite")


def test_the_user_list_shows_role_job_count_and_last_activity(dep: Deployment):
    dep.finished(dep.alice, 2, age=timedelta(days=2))
    latest = dep.queued(dep.alice)[0]
    rows = {row.user.email: row for row in dep.services.admin.list_users(dep.admin)}

    assert set(rows) == {
        "admin@example.com",
        "reviewer@example.com",
        "alice@example.com",
        "bob@example.com",
    }
    assert rows["alice@example.com"].jobs == 3
    assert rows["alice@example.com"].last_activity == latest.created_at
    assert rows["bob@example.com"].jobs == 0 and rows["bob@example.com"].last_activity is None
    assert rows["reviewer@example.com"].user.role is Role.REVIEWER
    assert rows["admin@example.com"].user.role is Role.ADMIN


def test_only_admins_manage_users(dep: Deployment):
    for person in (dep.reviewer, dep.alice):
        with pytest.raises(Forbidden):
            dep.services.admin.list_users(person)
        with pytest.raises(Forbidden):
            dep.services.admin.set_role(person, person.id, Role.ADMIN)
        with pytest.raises(Forbidden):
            dep.services.admin.set_disabled(person, dep.bob.id, True)
        with pytest.raises(Forbidden):
            dep.services.admin.set_daily_quota(person, person.id, 100)
        with pytest.raises(Forbidden):
            dep.services.admin.stats(person)
    assert dep.user(dep.alice.id).role is Role.USER
    assert dep.user(dep.reviewer.id).role is Role.REVIEWER


def test_an_admin_changes_roles(dep: Deployment):
    assert dep.services.admin.set_role(dep.admin, dep.alice.id, "reviewer").role is Role.REVIEWER
    assert dep.services.admin.set_role(dep.admin, dep.reviewer.id, Role.USER).role is Role.USER
    with pytest.raises(ValidationError, match="Unknown role"):
        dep.services.admin.set_role(dep.admin, dep.bob.id, "owner")
    with pytest.raises(NotFound):
        dep.services.admin.set_role(dep.admin, "no-such-user", Role.ADMIN)
    assert dep.user(dep.bob.id).role is Role.USER


def test_the_last_admin_cannot_give_up_the_admin_role(dep: Deployment):
    with pytest.raises(Conflict, match="last admin"):
        dep.services.admin.set_role(dep.admin, dep.admin.id, Role.USER)
    assert dep.user(dep.admin.id).role is Role.ADMIN

    dep.services.admin.set_role(dep.admin, dep.bob.id, Role.ADMIN)
    assert dep.services.admin.set_role(dep.admin, dep.admin.id, Role.REVIEWER).role is Role.REVIEWER
    bob = dep.user(dep.bob.id)
    with pytest.raises(Conflict, match="last admin"):
        dep.services.admin.set_role(bob, bob.id, Role.USER)


def test_a_disabled_admin_does_not_count_as_the_remaining_admin(dep: Deployment):
    dep.services.admin.set_role(dep.admin, dep.bob.id, Role.ADMIN)
    dep.services.admin.set_disabled(dep.admin, dep.bob.id, True)
    with pytest.raises(Conflict, match="last admin"):
        dep.services.admin.set_role(dep.admin, dep.admin.id, Role.USER)


def test_disabling_blocks_sign_in_tokens_and_submit_and_cancels_queued_jobs(dep: Deployment):
    accounts = dep.services.accounts
    session = accounts.sign_in("alice@example.com", PASSWORD).session_token
    _token, secret = accounts.create_api_token(dep.alice, "script")
    done = dep.finished(dep.alice)[0]
    queued = dep.queued(dep.alice, 2)
    bobs = dep.queued(dep.bob)[0]

    canceled = dep.services.admin.set_disabled(dep.admin, dep.alice.id, True)

    assert canceled == 2
    assert {dep.job(j.id).status for j in queued} == {JobStatus.CANCELED}
    assert dep.job(done.id).status is JobStatus.DONE
    assert dep.job(bobs.id).status is JobStatus.QUEUED
    with pytest.raises(AccountDisabled):
        accounts.sign_in("alice@example.com", PASSWORD)
    assert accounts.user_for_session(session) is None
    assert accounts.user_for_api_token(secret) is None
    with pytest.raises(AccountDisabled):
        dep.services.jobs.submit(dep.user(dep.alice.id), REQUEST)

    assert dep.services.admin.set_disabled(dep.admin, dep.alice.id, False) == 0
    assert accounts.sign_in("alice@example.com", PASSWORD).user.id == dep.alice.id


def test_an_admin_cannot_disable_themselves_or_the_last_admin(dep: Deployment):
    with pytest.raises(Conflict, match="your own account"):
        dep.services.admin.set_disabled(dep.admin, dep.admin.id, True)
    assert not dep.user(dep.admin.id).disabled

    # bob becomes admin and demotes the first admin, whose open page still shows "admin"
    dep.services.admin.set_role(dep.admin, dep.bob.id, Role.ADMIN)
    bob = dep.user(dep.bob.id)
    dep.services.admin.set_role(bob, dep.admin.id, Role.USER)
    with pytest.raises(Conflict, match="last admin"):
        dep.services.admin.set_disabled(dep.admin, bob.id, True)
    assert not dep.user(bob.id).disabled and dep.user(bob.id).role is Role.ADMIN


def test_a_per_user_daily_quota_overrides_the_global_default(dep: Deployment):
    services = build_services(
        dep.backend, dep.services.jobs.providers, replace(dep.settings, daily_quota=1)
    )
    jobs, admin = services.jobs, services.admin
    assert admin.set_daily_quota(dep.admin, dep.alice.id, 3).daily_quota == 3
    alice = dep.user(dep.alice.id)
    jobs.submit(alice, REQUEST, count=2)
    jobs.submit(alice, REQUEST)
    with pytest.raises(QuotaExceeded):
        jobs.submit(alice, REQUEST)

    jobs.submit(dep.bob, REQUEST)  # the global default: 1
    with pytest.raises(QuotaExceeded):
        jobs.submit(dep.bob, REQUEST)

    rows = {r.user.id: r for r in admin.list_users(dep.admin)}
    assert rows[dep.alice.id].effective_quota == 3
    assert rows[dep.bob.id].effective_quota == 1
    assert admin.set_daily_quota(dep.admin, dep.alice.id, None).daily_quota is None
    with pytest.raises(QuotaExceeded):
        jobs.submit(dep.user(dep.alice.id), REQUEST)


@pytest.mark.parametrize("bad", [-1, 100_001, 2.5, "10", True])
def test_a_bad_quota_is_refused(dep: Deployment, bad: object):
    dep.services.admin.set_daily_quota(dep.admin, dep.alice.id, 5)
    with pytest.raises(ValidationError, match="daily quota"):
        dep.services.admin.set_daily_quota(dep.admin, dep.alice.id, bad)  # type: ignore[arg-type]
    assert dep.user(dep.alice.id).daily_quota == 5


def test_the_operator_finds_adds_and_lists_users_without_signing_in(dep: Deployment):
    admin = dep.services.admin
    assert admin.find_user("  Alice@Example.com ").id == dep.alice.id
    with pytest.raises(NotFound, match="No user with the email"):
        admin.find_user("nobody@example.com")
    added = admin.add_user("carol@example.com", PASSWORD, "reviewer")
    assert added.role is Role.REVIEWER and admin.find_user("carol@example.com").id == added.id
    assert admin.add_user("dave@example.com", PASSWORD).role is Role.USER  # the sign-up default
    with pytest.raises(ValidationError):
        admin.add_user("erin@example.com", PASSWORD, "owner")
    with pytest.raises(NotFound):
        admin.find_user("erin@example.com")  # refused before the account was made
    emails = [u.email for u in admin.all_users()]
    assert emails[0] == "admin@example.com" and emails[-2:] == [
        "carol@example.com",
        "dave@example.com",
    ]


def test_only_admins_make_reset_links_for_existing_users(dep: Deployment):
    for who in (dep.reviewer, dep.bob):
        with pytest.raises(Forbidden):
            dep.services.admin.create_reset_link(who, dep.alice.id)
    with pytest.raises(NotFound):
        dep.services.admin.create_reset_link(dep.admin, "no-such-user")
    with pytest.raises(NotFound):
        dep.services.admin.operator_reset_link("ghost@example.com")
    link = dep.services.admin.create_reset_link(dep.admin, dep.alice.id)
    assert link.startswith("/?reset=")
    dep.services.accounts.reset_password(link.removeprefix("/?reset="), "a brand new passphrase")
    dep.services.accounts.sign_in("alice@example.com", "a brand new passphrase")


def test_a_disabled_user_gets_no_reset_link(dep: Deployment):
    dep.services.admin.set_disabled(dep.admin, dep.bob.id, True)
    with pytest.raises(AccountDisabled):
        dep.services.admin.create_reset_link(dep.admin, dep.bob.id)


def test_forgot_password_in_local_mode_sends_nothing_and_says_ask_your_admin(dep: Deployment):
    from core.domain.policy import NO_MAIL_HINT

    assert dep.services.accounts.mails_reset_links() is False
    assert dep.services.accounts.forgot_password("alice@example.com") == NO_MAIL_HINT
    with pytest.raises(ValidationError):
        dep.services.accounts.forgot_password("not-an-email")
