"""The sign-in lockout under concurrency: "may this email try now" and "count this attempt" are
one step, so parallel wrong guesses cannot all reach the password check, and a right password
entered mid-burst does not forgive the failures recorded concurrently by others.

The password check is counted (and slowed, to widen any check-then-record window) where each
backend does it: the argon2 hasher (local) and Supabase Auth's password grant (supabase)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from core.domain.errors import InvalidCredentials, RateLimited
from core.ports import Backend
from tests.constants import PASSWORD
from tests.contract.test_races import _together

EMAIL = "target@example.com"
WRONG = "not the password"
CHECK_SECONDS = 0.2  # each password check takes this long (production argon2: ~50-100 ms)


class PasswordChecks:
    """Counts the password checks a backend makes; `hold(password)` makes checks of that
    password wait until `release()`."""

    def __init__(self) -> None:
        self.count = 0
        self._lock = threading.Lock()
        self._held: str | None = None
        self.holding = threading.Event()  # set once a held check is waiting
        self._release = threading.Event()

    def hold(self, password: str) -> None:
        self._held = password

    def release(self) -> None:
        self._release.set()

    def checked(self, password: str) -> None:
        with self._lock:
            self.count += 1
        if password == self._held:
            self.holding.set()
            assert self._release.wait(30), "a held password check was never released"
        time.sleep(CHECK_SECONDS)


class _CountingHasher:
    """A PasswordHasher stand-in (its __slots__ forbid patching verify): counts, then
    delegates."""

    def __init__(self, hasher: Any, checks: PasswordChecks) -> None:
        self._hasher, self._checks = hasher, checks

    def verify(self, hash: str, password: str) -> bool:
        self._checks.checked(password)
        return self._hasher.verify(hash, password)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._hasher, name)


def _count_supabase_checks(clients: Any, checks: PasswordChecks) -> Callable[[], Any]:
    """Clients.auth() whose password grants are counted before they reach Supabase Auth."""
    make_auth_client = clients.auth

    def auth() -> Any:
        client = make_auth_client()
        sign_in = client.auth.sign_in_with_password

        def counted(credentials: dict[str, str]) -> Any:
            checks.checked(credentials["password"])
            return sign_in(credentials)

        client.auth.sign_in_with_password = counted
        return client

    return auth


@pytest.fixture
def checks(backend: Backend, monkeypatch: pytest.MonkeyPatch) -> Iterator[PasswordChecks]:
    counter = PasswordChecks()
    accounts: Any = backend.accounts
    if backend.name == "local":
        monkeypatch.setattr(accounts, "_hasher", _CountingHasher(accounts._hasher, counter))
    else:
        monkeypatch.setattr(
            accounts._clients, "auth", _count_supabase_checks(accounts._clients, counter)
        )
    accounts.sign_up(EMAIL, PASSWORD, admin_emails=frozenset())
    yield counter
    counter.release()


def _sign_in(backend: Backend, password: str) -> object:
    try:
        return backend.accounts.sign_in(EMAIL, password)
    except (InvalidCredentials, RateLimited) as exc:
        return exc


def test_parallel_wrong_guesses_reach_the_password_check_at_most_five_times(backend, checks):
    outcomes = _together(12, lambda i: _sign_in(backend, WRONG))

    wrong = [o for o in outcomes if isinstance(o, InvalidCredentials)]
    locked = [o for o in outcomes if isinstance(o, RateLimited)]
    assert checks.count <= 5, f"{checks.count} guesses reached the password check"
    assert len(wrong) == checks.count and len(locked) == 12 - checks.count
    assert all(o.retry_after > 0 for o in locked)
    before = checks.count
    assert isinstance(_sign_in(backend, PASSWORD), RateLimited)  # the right one, while locked
    assert checks.count == before


def test_a_right_password_mid_burst_keeps_the_lock_others_built(backend, checks):
    checks.hold(PASSWORD)
    results: list[object] = []
    right = threading.Thread(target=lambda: results.append(_sign_in(backend, PASSWORD)))
    right.start()
    assert checks.holding.wait(30)
    # while the right password is being checked, four wrong guesses fill the window
    for _ in range(4):
        assert isinstance(_sign_in(backend, WRONG), InvalidCredentials)
    assert isinstance(_sign_in(backend, WRONG), RateLimited)
    checks.release()
    right.join(30)

    assert results and not isinstance(results[0], Exception)  # the owner got in
    assert isinstance(_sign_in(backend, WRONG), RateLimited)  # the lock the guesses built stands
    assert checks.count == 5


def test_a_wrong_guess_still_counts_when_a_later_success_forgave_it_meanwhile(backend, checks):
    checks.hold(WRONG)
    results: list[object] = []
    slow_guess = threading.Thread(target=lambda: results.append(_sign_in(backend, WRONG)))
    slow_guess.start()
    assert checks.holding.wait(30)
    assert not isinstance(_sign_in(backend, PASSWORD), Exception)
    checks.release()
    slow_guess.join(30)
    assert isinstance(results[0], InvalidCredentials)

    for _ in range(4):
        assert isinstance(_sign_in(backend, "another guess"), InvalidCredentials)
    assert isinstance(_sign_in(backend, PASSWORD), RateLimited)
