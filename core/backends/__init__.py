"""Open the deployment's backend: `supabase` when a Supabase URL is set, else `local`."""

from __future__ import annotations

from core.domain.settings import Settings
from core.ports import Backend


def open_backend(settings: Settings) -> Backend:
    """The Backend chosen by `settings`: Supabase when SUPABASE_URL is set, else the embedded
    local one. The Supabase package is imported only when it is used, so the local default
    needs none of its dependencies."""
    if settings.supabase_url:
        from core.backends.supabase import open_supabase_backend

        return open_supabase_backend(settings)
    from core.backends.sqlite import open_local_backend

    return open_local_backend(settings)
