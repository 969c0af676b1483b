"""Open the deployment's backend: `supabase` when a Supabase URL is set, else `local`."""

from __future__ import annotations

from core.backends.sqlite import open_local_backend
from core.domain.settings import Settings
from core.ports import Backend


def open_backend(settings: Settings) -> Backend:
    """The Backend chosen by `settings`: Supabase when SUPABASE_URL is set, else the embedded
    local one. The Supabase backend is imported only when it is used, so the local default
    loads none of the Supabase SDK."""
    if settings.supabase_url:
        from core.backends.supabase import open_supabase_backend

        return open_supabase_backend(settings)

    return open_local_backend(settings)
