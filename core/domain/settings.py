"""Settings from environment variables, falling back to `.streamlit/secrets.toml` (same keys)."""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")
_UNIT_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(value: str | int | float) -> float:
    """Seconds in '90', '90s', '15m', '24h' or '7d'."""
    if isinstance(value, int | float):
        return float(value)
    match = _DURATION.match(value)
    if not match:
        raise ValueError(f"not a duration: {value!r} (use e.g. 90s, 15m, 24h, 7d)")
    return float(match.group(1)) * _UNIT_SECONDS[match.group(2)]


def parse_public_url(value: str) -> str:
    """The app's public origin (and optional path prefix) without a trailing slash:
    'https://studio.example.com' or 'https://example.com/studio'."""
    parts = urlsplit(value.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(
            f"PUBLIC_URL must be an http(s) URL like https://studio.example.com: {value!r}"
        )
    if parts.query or parts.fragment or parts.username or parts.password:
        raise ValueError(f"PUBLIC_URL takes no query, fragment or credentials: {value!r}")
    return f"{parts.scheme}://{parts.netloc}{parts.path}".rstrip("/")


@dataclass(frozen=True)
class Settings:
    """Every knob of DESIGN.md §9. Secrets are kept out of repr."""

    supabase_url: str | None = None
    supabase_anon_key: str | None = field(default=None, repr=False)
    supabase_service_role_key: str | None = field(default=None, repr=False)
    data_dir: Path = Path("data")
    openai_api_key: str | None = field(default=None, repr=False)
    gemini_api_key: str | None = field(default=None, repr=False)
    ideogram_api_key: str | None = field(default=None, repr=False)
    openai_base_url: str | None = None
    gemini_base_url: str | None = None
    ideogram_base_url: str | None = None
    openai_default_model: str | None = None
    gemini_default_model: str | None = None
    ideogram_default_model: str | None = None
    worker_concurrency: int = 3
    rate_limit_per_minute: int = 30
    daily_quota: int | None = None
    max_attempts: int = 4
    signed_url_ttl: int = 3600
    retention_done: float = 7 * 86400
    retention_failed: float = 24 * 3600
    cleanup_interval: float = 3600
    worker_lease_seconds: float = 60
    worker_poll_seconds: float = 1.0
    worker_enabled: bool = True
    shutdown_grace_seconds: float = 20
    admin_emails: frozenset[str] = frozenset()
    demo_latency_ms: int = 0
    demo_fail_rate: float = 0.0
    secret_key: str | None = field(default=None, repr=False)
    public_url: str | None = None
    body_read_timeout: float = 15.0

    @classmethod
    def load(
        cls,
        env: Mapping[str, str] | None = None,
        secrets_path: Path | None = Path(".streamlit/secrets.toml"),
    ) -> Settings:
        """Read settings from `env` (default os.environ), then secrets.toml for missing keys."""
        env = dict(os.environ if env is None else env)
        secrets: dict[str, Any] = {}
        if secrets_path is not None and secrets_path.is_file():
            with secrets_path.open("rb") as fh:
                secrets = {k: v for k, v in tomllib.load(fh).items() if not isinstance(v, dict)}

        def get(key: str, *aliases: str) -> str | None:
            for name in (key, *aliases):
                if env.get(name) not in (None, ""):
                    return str(env[name])
                if secrets.get(name) not in (None, ""):
                    return str(secrets[name])
            return None

        def get_int(key: str, default: int) -> int:
            raw = get(key)
            return default if raw is None else int(raw)

        def get_float(key: str, default: float) -> float:
            raw = get(key)
            return default if raw is None else float(raw)

        def get_duration(key: str, default: float) -> float:
            raw = get(key)
            return default if raw is None else parse_duration(raw)

        quota = get("DAILY_QUOTA")
        public_url = get("PUBLIC_URL")
        admins = get("ADMIN_EMAILS") or ""
        return cls(
            supabase_url=get("SUPABASE_URL", "NEXT_PUBLIC_SUPABASE_URL"),
            supabase_anon_key=get("SUPABASE_ANON_KEY", "NEXT_PUBLIC_SUPABASE_ANON_KEY"),
            supabase_service_role_key=get("SUPABASE_SERVICE_ROLE_KEY"),
            data_dir=Path(get("DATA_DIR") or "data"),
            openai_api_key=get("OPENAI_API_KEY"),
            gemini_api_key=get("GEMINI_API_KEY", "GOOGLE_API_KEY"),
            ideogram_api_key=get("IDEOGRAM_API_KEY"),
            openai_base_url=get("OPENAI_BASE_URL"),
            gemini_base_url=get("GEMINI_BASE_URL"),
            ideogram_base_url=get("IDEOGRAM_BASE_URL"),
            openai_default_model=get("OPENAI_DEFAULT_MODEL"),
            gemini_default_model=get("GEMINI_DEFAULT_MODEL"),
            ideogram_default_model=get("IDEOGRAM_DEFAULT_MODEL"),
            worker_concurrency=get_int("WORKER_CONCURRENCY", 3),
            rate_limit_per_minute=get_int("RATE_LIMIT_PER_MINUTE", 30),
            daily_quota=int(quota) if quota and int(quota) > 0 else None,
            max_attempts=get_int("MAX_ATTEMPTS", 4),
            signed_url_ttl=get_int("SIGNED_URL_TTL", 3600),
            retention_done=get_duration("RETENTION_DONE", 7 * 86400),
            retention_failed=get_duration("RETENTION_FAILED", 24 * 3600),
            cleanup_interval=get_duration("CLEANUP_INTERVAL", 3600),
            worker_lease_seconds=get_duration("WORKER_LEASE_SECONDS", 60),
            worker_poll_seconds=get_duration("WORKER_POLL_SECONDS", 1.0),
            worker_enabled=(get("WORKER_ENABLED") or "1").lower() not in ("0", "false", "no"),
            shutdown_grace_seconds=get_duration("SHUTDOWN_GRACE_SECONDS", 20),
            admin_emails=frozenset(e.strip().lower() for e in admins.split(",") if e.strip()),
            demo_latency_ms=get_int("DEMO_LATENCY_MS", 0),
            demo_fail_rate=get_float("DEMO_FAIL_RATE", 0.0),
            secret_key=get("SECRET_KEY"),
            public_url=parse_public_url(public_url) if public_url else None,
            body_read_timeout=get_duration("BODY_READ_TIMEOUT", 15.0),
        )
