"""The Supabase backend: Postgres (RLS), Storage and Auth through supabase-py."""

from __future__ import annotations

from dataclasses import dataclass, field

from core.backends.notify import NotifyingJobStore
from core.backends.supabase.accounts import SupabaseAccounts
from core.backends.supabase.admin import SupabaseAdminStore
from core.backends.supabase.client import Clients, SupabaseBlobStore, SupabaseConfigError
from core.backends.supabase.jobs import SupabaseJobStore
from core.backends.supabase.webhooks import SupabaseWebhookStore
from core.domain.changes import JobChanges
from core.domain.models import User
from core.domain.settings import Settings
from core.ports import Backend

# ---- the backend -----------------------------------------------------------------------------


@dataclass
class SupabaseBackend(Backend):
    """The supabase Backend; `for_user` gives stores acting with the user's JWT."""

    clients: Clients | None = field(default=None, repr=False)

    def for_user(self, user: User) -> Backend:
        """Stores with the user's JWT. A user signed in by API token has no JWT; their calls
        go through the server's credentials, where the services' ownership checks apply."""
        if not user.access_token or self.clients is None:
            return self

        client = self.clients.for_jwt(user.access_token)
        owner_id = None if user.is_admin else user.id
        return Backend(
            name=self.name,
            jobs=NotifyingJobStore(
                SupabaseJobStore(client, server=self.clients.service, owner_id=owner_id),
                self.changes,
            ),
            blobs=SupabaseBlobStore(client),
            accounts=self.accounts,
            admin=None,
            changes=self.changes,
        )

    def close(self) -> None:
        if self.clients is not None:
            self.clients.close()


def open_supabase_backend(settings: Settings) -> SupabaseBackend:
    """Connect to the project named by SUPABASE_URL with the anon and service-role keys, and
    publish the server settings the SQL functions read (admin emails, limits)."""

    if not settings.supabase_url:
        raise SupabaseConfigError("SUPABASE_URL is not set.")
    missing = [
        name
        for name, value in (
            ("SUPABASE_ANON_KEY", settings.supabase_anon_key),
            ("SUPABASE_SERVICE_ROLE_KEY", settings.supabase_service_role_key),
        )
        if not value
    ]
    if missing:
        raise SupabaseConfigError(f"SUPABASE_URL is set but {', '.join(missing)} is missing.")
    clients = Clients(
        settings.supabase_url,
        settings.supabase_anon_key,  # type: ignore[arg-type]
        settings.supabase_service_role_key,  # type: ignore[arg-type]
    )
    accounts = SupabaseAccounts(clients)
    accounts.publish_config(settings)
    service = clients.service
    changes = JobChanges()
    return SupabaseBackend(
        name="supabase",
        jobs=NotifyingJobStore(SupabaseJobStore(service), changes),
        blobs=SupabaseBlobStore(service),
        accounts=accounts,
        admin=SupabaseAdminStore(service),
        changes=changes,
        # webhook secrets are derived from SECRET_KEY: without one there are no webhooks
        webhooks=(
            SupabaseWebhookStore(service, settings.secret_key.encode())
            if settings.secret_key
            else None
        ),
        clients=clients,
    )
