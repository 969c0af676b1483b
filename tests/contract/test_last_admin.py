"""The last enabled admin stays one, enforced where the accounts live (a guarded UPDATE in
SQLite, a trigger in Postgres), so it holds for every caller and when two admins demote or
disable each other at the same moment."""

from __future__ import annotations

import pytest

from core.domain.errors import Conflict
from core.domain.models import Role
from core.ports import Backend
from tests.constants import PASSWORD
from tests.contract.test_races import _together

TRIALS = 20


def _sign_up(backend: Backend, email: str) -> str:
    return backend.accounts.sign_up(email, PASSWORD, admin_emails=frozenset()).user.id


def _enabled_admins(backend: Backend) -> set[str]:
    return {u.id for u in backend.accounts.list_users() if u.role is Role.ADMIN and not u.disabled}


def test_the_last_enabled_admin_cannot_be_demoted_or_disabled(backend):
    admin = _sign_up(backend, "admin@example.com")
    other = _sign_up(backend, "other@example.com")

    for change in (
        lambda: backend.accounts.set_role(admin, Role.REVIEWER),
        lambda: backend.accounts.set_disabled(admin, True),
    ):
        with pytest.raises(Conflict, match="last admin"):
            change()
    assert _enabled_admins(backend) == {admin}

    backend.accounts.set_role(other, Role.ADMIN)
    backend.accounts.set_disabled(other, True)  # a disabled admin does not count
    with pytest.raises(Conflict, match="last admin"):
        backend.accounts.set_role(admin, Role.USER)
    backend.accounts.set_disabled(other, False)
    backend.accounts.set_role(admin, Role.USER)
    assert _enabled_admins(backend) == {other}


def test_two_admins_demoting_or_disabling_each_other_at_once_leave_one(backend):
    a = _sign_up(backend, "a@example.com")
    b = _sign_up(backend, "b@example.com")
    backend.accounts.set_role(b, Role.ADMIN)

    for trial in range(TRIALS):
        disable = trial % 2 == 1  # odd trials: b disables a while a demotes b
        changes = [
            lambda: backend.accounts.set_role(b, Role.USER),
            (lambda: backend.accounts.set_disabled(a, True))
            if disable
            else (lambda: backend.accounts.set_role(a, Role.USER)),
        ]
        outcomes = _together(2, lambda i, changes=changes: changes[i]())

        refused = [o for o in outcomes if isinstance(o, Conflict)]
        assert len(refused) == 1, f"trial {trial}: {outcomes}"
        assert len(_enabled_admins(backend)) == 1, f"trial {trial}: no admin left"
        # put both back for the next trial
        backend.accounts.set_disabled(a, False)
        backend.accounts.set_role(a, Role.ADMIN)
        backend.accounts.set_role(b, Role.ADMIN)
