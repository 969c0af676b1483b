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
from core.services.jobs import JobService
from tests.admin.conftest import Deployment
from tests.constants import PASSWORD

REQUEST = JobRequest(provider="demo", model="demo-pattern", prompt="a red kite")


def test_the_user_list_shows_role_job_count_and_last_activity(dep: Deployment):
    dep.finished(dep.alice, 2, age=timedelta(days=2))
    latest = dep.queued(dep.alice)[0]
    rows = {row.user.email: row for row in dep.service.list_users(dep.admin)}

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
            dep.service.list_users(person)
        with pytest.raises(Forbidden):
            dep.service.set_role(person, person.id, Role.ADMIN)
        with pytest.raises(Forbidden):
            dep.service.set_disabled(person, dep.bob.id, True)
        with pytest.raises(Forbidden):
            dep.service.set_daily_quota(person, person.id, 100)
        with pytest.raises(Forbidden):
            dep.service.stats(person)
    assert dep.user(dep.alice.id).role is Role.USER
    assert dep.user(dep.reviewer.id).role is Role.REVIEWER


def test_an_admin_changes_roles(dep: Deployment):
    assert dep.service.set_role(dep.admin, dep.alice.id, "reviewer").role is Role.REVIEWER
    assert dep.service.set_role(dep.admin, dep.reviewer.id, Role.USER).role is Role.USER
    with pytest.raises(ValidationError, match="Unknown role"):
        dep.service.set_role(dep.admin, dep.bob.id, "owner")
    with pytest.raises(NotFound):
        dep.service.set_role(dep.admin, "no-such-user", Role.ADMIN)
    assert dep.user(dep.bob.id).role is Role.USER


def test_the_last_admin_cannot_give_up_the_admin_role(dep: Deployment):
    with pytest.raises(Conflict, match="last admin"):
        dep.service.set_role(dep.admin, dep.admin.id, Role.USER)
    assert dep.user(dep.admin.id).role is Role.ADMIN

    dep.service.set_role(dep.admin, dep.bob.id, Role.ADMIN)
    assert dep.service.set_role(dep.admin, dep.admin.id, Role.REVIEWER).role is Role.REVIEWER
    bob = dep.user(dep.bob.id)
    with pytest.raises(Conflict, match="last admin"):
        dep.service.set_role(bob, bob.id, Role.USER)


def test_a_disabled_admin_does_not_count_as_the_remaining_admin(dep: Deployment):
    dep.service.set_role(dep.admin, dep.bob.id, Role.ADMIN)
    dep.service.set_disabled(dep.admin, dep.bob.id, True)
    with pytest.raises(Conflict, match="last admin"):
        dep.service.set_role(dep.admin, dep.admin.id, Role.USER)


def test_disabling_blocks_sign_in_tokens_and_submit_and_cancels_queued_jobs(dep: Deployment):
    service = dep.service
    session = service.sign_in("alice@example.com", PASSWORD).session_token
    _token, secret = service.create_api_token(dep.alice, "script")
    done = dep.finished(dep.alice)[0]
    queued = dep.queued(dep.alice, 2)
    bobs = dep.queued(dep.bob)[0]

    canceled = service.set_disabled(dep.admin, dep.alice.id, True)

    assert canceled == 2
    assert {dep.job(j.id).status for j in queued} == {JobStatus.CANCELED}
    assert dep.job(done.id).status is JobStatus.DONE
    assert dep.job(bobs.id).status is JobStatus.QUEUED
    with pytest.raises(AccountDisabled):
        service.sign_in("alice@example.com", PASSWORD)
    assert service.user_for_session(session) is None
    assert service.user_for_api_token(secret) is None
    with pytest.raises(AccountDisabled):
        service.submit(dep.user(dep.alice.id), REQUEST)

    assert service.set_disabled(dep.admin, dep.alice.id, False) == 0
    assert service.sign_in("alice@example.com", PASSWORD).user.id == dep.alice.id


def test_an_admin_cannot_disable_themselves_or_the_last_admin(dep: Deployment):
    with pytest.raises(Conflict, match="your own account"):
        dep.service.set_disabled(dep.admin, dep.admin.id, True)
    assert not dep.user(dep.admin.id).disabled

    # bob becomes admin and demotes the first admin, whose open page still shows "admin"
    dep.service.set_role(dep.admin, dep.bob.id, Role.ADMIN)
    bob = dep.user(dep.bob.id)
    dep.service.set_role(bob, dep.admin.id, Role.USER)
    with pytest.raises(Conflict, match="last admin"):
        dep.service.set_disabled(dep.admin, bob.id, True)
    assert not dep.user(bob.id).disabled and dep.user(bob.id).role is Role.ADMIN


def test_a_per_user_daily_quota_overrides_the_global_default(dep: Deployment):
    service = JobService(dep.backend, dep.service.providers, replace(dep.settings, daily_quota=1))
    assert service.set_daily_quota(dep.admin, dep.alice.id, 3).daily_quota == 3
    alice = dep.user(dep.alice.id)
    service.submit(alice, REQUEST, count=2)
    service.submit(alice, REQUEST)
    with pytest.raises(QuotaExceeded):
        service.submit(alice, REQUEST)

    service.submit(dep.bob, REQUEST)  # the global default: 1
    with pytest.raises(QuotaExceeded):
        service.submit(dep.bob, REQUEST)

    rows = {r.user.id: r for r in service.list_users(dep.admin)}
    assert rows[dep.alice.id].effective_quota == 3
    assert rows[dep.bob.id].effective_quota == 1
    assert service.set_daily_quota(dep.admin, dep.alice.id, None).daily_quota is None
    with pytest.raises(QuotaExceeded):
        service.submit(dep.user(dep.alice.id), REQUEST)


@pytest.mark.parametrize("bad", [-1, 100_001, 2.5, "10", True])
def test_a_bad_quota_is_refused(dep: Deployment, bad: object):
    dep.service.set_daily_quota(dep.admin, dep.alice.id, 5)
    with pytest.raises(ValidationError, match="daily quota"):
        dep.service.set_daily_quota(dep.admin, dep.alice.id, bad)  # type: ignore[arg-type]
    assert dep.user(dep.alice.id).daily_quota == 5
