"""The embedded `local` backend: SQLite + files under DATA_DIR + local accounts."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from argon2 import PasswordHasher

from core.backends.notify import NotifyingJobStore
from core.backends.sqlite.accounts import LocalAccounts
from core.backends.sqlite.admin import LocalAdminStore
from core.backends.sqlite.blobs import LocalBlobStore, load_secret_key
from core.backends.sqlite.db import DB_FILE, Database
from core.backends.sqlite.jobs import LocalJobStore
from core.backends.sqlite.webhooks import LocalWebhookStore
from core.domain.changes import JobChanges
from core.domain.settings import Settings
from core.ports import Backend

# ---- the backend -------------------------------------------------------------------------------


@dataclass
class LocalBackend(Backend):
    """The local Backend; `close()` closes its SQLite connections."""

    db: Database | None = field(default=None, repr=False)

    def storage_problem(self) -> str | None:
        return None if self.db is None else self.db.storage.problem()

    def close(self) -> None:
        if self.db is not None:
            self.db.close()


def open_local_backend(
    settings: Settings, *, password_hasher: PasswordHasher | None = None
) -> LocalBackend:
    """Open (creating on first use) the local backend under `settings.data_dir`.
    `password_hasher` lets tests use cheaper argon2 parameters."""

    data_dir = Path(settings.data_dir)
    db = Database(data_dir / DB_FILE)
    changes = JobChanges()
    key = load_secret_key(settings)
    return LocalBackend(
        name="local",
        jobs=NotifyingJobStore(LocalJobStore(db), changes),
        blobs=LocalBlobStore(data_dir / "blobs", key, db.storage),
        accounts=LocalAccounts(db, password_hasher=password_hasher),
        admin=LocalAdminStore(db),
        changes=changes,
        webhooks=LocalWebhookStore(db, key),
        db=db,
    )
