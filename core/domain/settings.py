"""Settings from environment variables, falling back to `.streamlit/secrets.toml` (same keys).

`Settings` holds the app-wide knobs as typed fields. Everything else is read by name through
`Settings.variables` (the merged environment and secrets): that is how each provider adapter
reads its own key, base URL and default model, so adding a provider adds no field here.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Self
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


class Variables:
    """Configuration values by variable name: the environment first, then secrets.toml for the
    names the environment leaves unset or empty. Empty values count as unset. Values never
    appear in repr (keys live here), only how many are set."""

    __slots__ = ("_values",)

    def __init__(self, values: Mapping[str, object] | None = None) -> None:
        self._values: dict[str, str] = {
            name: str(value) for name, value in (values or {}).items() if value not in (None, "")
        }

    @classmethod
    def from_sources(cls, env: Mapping[str, str], secrets: Mapping[str, object]) -> Self:
        """Secrets fill in what the environment does not set."""
        merged: dict[str, object] = {k: v for k, v in secrets.items() if v not in (None, "")}
        merged.update({k: v for k, v in env.items() if v not in (None, "")})
        return cls(merged)

    def get(self, name: str, *aliases: str) -> str | None:
        """The value of the first of `name`, `*aliases` that is set, else None."""
        for candidate in (name, *aliases):
            if candidate in self._values:
                return self._values[candidate]
        return None

    def get_int(self, name: str, default: int) -> int:
        raw = self.get(name)
        return default if raw is None else int(raw)

    def get_float(self, name: str, default: float) -> float:
        raw = self.get(name)
        return default if raw is None else float(raw)

    def get_duration(self, name: str, default: float) -> float:
        raw = self.get(name)
        return default if raw is None else parse_duration(raw)

    def merged(self, values: Mapping[str, object]) -> Variables:
        """A copy with `values` set on top (an empty value unsets a name)."""
        combined: dict[str, object] = dict(self._values)
        combined.update(values)
        return Variables(combined)

    def names(self) -> frozenset[str]:
        return frozenset(self._values)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Variables) and self._values == other._values

    def __hash__(self) -> int:
        return hash(frozenset(self._values.items()))

    def __repr__(self) -> str:
        return f"Variables(<{len(self._values)} set>)"


@dataclass(frozen=True)
class Settings:
    """Every app-wide knob (the README's Configuration table), plus `variables` to read any
    other variable (a provider's key, base URL, default model) by name. Secrets are kept out
    of repr."""

    supabase_url: str | None = None
    supabase_anon_key: str | None = field(default=None, repr=False)
    supabase_service_role_key: str | None = field(default=None, repr=False)
    data_dir: Path = Path("data")
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
    secret_key: str | None = field(default=None, repr=False)
    public_url: str | None = None
    body_read_timeout: float = 15.0
    variables: Variables = field(default_factory=Variables, repr=False)

    def with_variables(self, **values: str) -> Settings:
        """A copy with these variables set (tests, tools): `with_variables(OPENAI_API_KEY=…)`."""
        return replace(self, variables=self.variables.merged(values))

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
        variables = Variables.from_sources(env, secrets)
        get = variables.get
        get_int = variables.get_int
        get_duration = variables.get_duration

        quota = get("DAILY_QUOTA")
        public_url = get("PUBLIC_URL")
        admins = get("ADMIN_EMAILS") or ""
        return cls(
            supabase_url=get("SUPABASE_URL", "NEXT_PUBLIC_SUPABASE_URL"),
            supabase_anon_key=get("SUPABASE_ANON_KEY", "NEXT_PUBLIC_SUPABASE_ANON_KEY"),
            supabase_service_role_key=get("SUPABASE_SERVICE_ROLE_KEY"),
            data_dir=Path(get("DATA_DIR") or "data"),
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
            secret_key=get("SECRET_KEY"),
            public_url=parse_public_url(public_url) if public_url else None,
            body_read_timeout=get_duration("BODY_READ_TIMEOUT", 15.0),
            variables=variables,
        )
