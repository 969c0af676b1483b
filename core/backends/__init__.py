"""Open the deployment's backend: `supabase` when a Supabase URL is set, else `local`."""

from __future__ import annotations

from core.domain.settings import Settings
from core.ports import Backend


def open_backend(settings: Settings) -> Backend:
    """The Backend chosen by `settings`: Supabase when SUPABASE_URL is set, else the embedded
    local one. Each backend is imported only when chosen (not to dodge a cycle: the local
    default never loads supabase-py and its HTTP stack, which keeps start-up light)."""
    if settings.supabase_url:
        from core.backends.supabase import open_supabase_backend

        return open_supabase_backend(settings)
    from core.backends.sqlite import open_local_backend

    return open_local_backend(settings)
