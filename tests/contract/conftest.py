"""The backend contract suite: every test here runs once per registered backend and uses only
the protocols of core/backends/base.py, so the same file proves `local` and `supabase` alike.

Hook for another backend: write a factory `(settings, tmp_path) -> Iterator[Backend]` that
yields a fresh, empty deployment (service-role powers, no users, no jobs) and cleans it up after
the `yield`, then add it to `BACKEND_FACTORIES` under the backend's name. The `backend` fixture
is parametrised over that registry; tests that only make sense for one backend live in
`test_<name>_*.py` and open that backend themselves.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from core.backends.sqlite import open_local_backend
from core.domain.models import User
from core.domain.settings import Settings
from core.ports import Backend
from tests.constants import FAST_HASHER, PASSWORD
from tests.integration.supabase_factory import make_supabase_backend

BackendFactory = Callable[[Settings, Path], Iterator[Backend]]


def make_local_backend(settings: Settings, tmp_path: Path) -> Iterator[Backend]:
    """A local backend in its own temp DATA_DIR."""
    backend = open_local_backend(
        replace(settings, data_dir=tmp_path / "data"), password_hasher=FAST_HASHER
    )
    try:
        yield backend
    finally:
        backend.close()


BACKEND_FACTORIES: dict[str, BackendFactory] = {
    "local": make_local_backend,
    "supabase": make_supabase_backend,
}


@pytest.fixture(params=sorted(BACKEND_FACTORIES))
def backend(
    request: pytest.FixtureRequest, settings: Settings, tmp_path: Path
) -> Iterator[Backend]:
    """A fresh, empty deployment of each registered backend in turn."""
    yield from BACKEND_FACTORIES[request.param](settings, tmp_path)


_emails = itertools.count(1)


@pytest.fixture
def new_user(backend: Backend) -> Callable[..., User]:
    """Sign up a new user (the first one of a backend becomes admin)."""

    def make(email: str | None = None, password: str = PASSWORD) -> User:
        email = email or f"user{next(_emails)}-{uuid.uuid4().hex[:6]}@example.com"
        return backend.accounts.sign_up(email, password, admin_emails=frozenset()).user

    return make
