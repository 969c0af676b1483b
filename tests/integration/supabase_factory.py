"""A fresh `supabase` deployment for the backend contract suite: the real supabase-py backend
against the test gateway on the throwaway PostgreSQL, emptied before each test."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

from core.backends.supabase import open_supabase_backend
from core.domain.settings import Settings
from core.ports import Backend
from tests.integration.gateway import Gateway, shared_gateway
from tests.integration.pg import reset_database, shared_cluster

_files: Path | None = None


def gateway() -> Gateway:
    """The test process's gateway (and cluster), started on first use."""
    global _files
    if _files is None:
        _files = Path(tempfile.mkdtemp(prefix="studio-storage-"))
    return shared_gateway(shared_cluster(), _files)


def supabase_settings(settings: Settings, gw: Gateway) -> Settings:
    return replace(
        settings,
        supabase_url=gw.url,
        supabase_anon_key=gw.anon_key,
        supabase_service_role_key=gw.service_key,
    )


def make_supabase_backend(settings: Settings, tmp_path: Path) -> Iterator[Backend]:
    """An empty Supabase deployment: no users, no jobs, no stored objects."""
    gw = gateway()
    reset_database(gw.cluster)
    shutil.rmtree(gw.files / "results", ignore_errors=True)
    gw.sent_emails.clear()
    gw.recovery_tokens.clear()
    backend = open_supabase_backend(supabase_settings(settings, gw))
    try:
        yield backend
    finally:
        backend.close()
