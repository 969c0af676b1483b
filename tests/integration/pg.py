"""A throwaway PostgreSQL 15 cluster for the integration tests: `initdb` + `pg_ctl` on a free port
with the socket in a temp dir, the Supabase shim, then `supabase-schema.sql` applied twice with
psql (the README's command) to prove it is re-runnable. One cluster per test process."""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg

from tests.constants import REPO_ROOT

SCHEMA_SQL = REPO_ROOT / "supabase-schema.sql"
SHIM_SQL = Path(__file__).with_name("supabase_shim.sql")
DB_NAME = "studio"


def pg_bin_dir() -> Path:
    """PG_BIN, else Debian's PostgreSQL 15, else whatever `pg_config` names."""
    candidates = [os.environ.get("PG_BIN"), "/usr/lib/postgresql/15/bin"]
    with contextlib.suppress(OSError, subprocess.CalledProcessError):
        out = subprocess.run(["pg_config", "--bindir"], capture_output=True, check=True, text=True)
        candidates.append(out.stdout.strip())
    for candidate in candidates:
        if candidate and (Path(candidate) / "initdb").is_file():
            return Path(candidate)
    raise RuntimeError(
        "PostgreSQL 15 is not installed: apt-get install postgresql-15 (or set PG_BIN)"
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class PgCluster:
    """A running cluster; `dsn(user)` connects over TCP with trust auth."""

    bin_dir: Path
    root: Path
    port: int

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    def dsn(self, user: str = "postgres", dbname: str = DB_NAME) -> str:
        return f"host=127.0.0.1 port={self.port} user={user} dbname={dbname}"

    def connect(self, user: str = "postgres", **kwargs: object) -> psycopg.Connection:
        return psycopg.connect(self.dsn(user), autocommit=True, **kwargs)  # type: ignore[arg-type]

    def psql_file(self, path: Path) -> None:
        """Run a SQL file with psql, stopping at the first error."""
        subprocess.run(
            [
                str(self.bin_dir / "psql"),
                "-X",
                "-q",
                "-v",
                "ON_ERROR_STOP=1",
                "-d",
                self.dsn(),
                "-f",
                str(path),
            ],
            check=True,
            capture_output=True,
            text=True,
        )

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            _run_as_postgres(
                [str(self.bin_dir / "pg_ctl"), "-D", str(self.data_dir), "-m", "immediate", "stop"]
            )
        shutil.rmtree(self.root, ignore_errors=True)


def _run_as_postgres(cmd: list[str]) -> subprocess.CompletedProcess[str]:
    # initdb refuses to run as root: hand the command to the `postgres` OS user.
    if os.geteuid() == 0:
        cmd = ["runuser", "-u", "postgres", "--", *cmd]
    return subprocess.run(cmd, check=True, capture_output=True, text=True)


def start_cluster() -> PgCluster:
    """initdb + pg_ctl start on a free port, then the shim and the schema (twice)."""
    bin_dir = pg_bin_dir()
    root = Path(tempfile.mkdtemp(prefix="studio-pg-"))
    if os.geteuid() == 0:
        shutil.chown(root, user="postgres")
    cluster = PgCluster(bin_dir=bin_dir, root=root, port=free_port())
    try:
        _run_as_postgres(
            [
                str(bin_dir / "initdb"),
                "-D",
                str(cluster.data_dir),
                "-A",
                "trust",
                "-U",
                "postgres",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            ]
        )
        options = (
            f"-p {cluster.port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
        )
        _run_as_postgres(
            [
                str(bin_dir / "pg_ctl"),
                "-D",
                str(cluster.data_dir),
                "-o",
                options,
                "-l",
                str(root / "postgres.log"),
                "-w",
                "start",
            ]
        )
        with psycopg.connect(cluster.dsn(dbname="postgres"), autocommit=True) as conn:
            conn.execute(f"create database {DB_NAME}")
        cluster.psql_file(SHIM_SQL)
        cluster.psql_file(SCHEMA_SQL)
        cluster.psql_file(SCHEMA_SQL)
    except subprocess.CalledProcessError as exc:
        cluster.stop()
        raise RuntimeError(f"{exc.cmd[0]} failed: {exc.stderr}") from exc
    except BaseException:
        cluster.stop()
        raise
    return cluster


_lock = threading.Lock()
_shared: PgCluster | None = None


def shared_cluster() -> PgCluster:
    """The test process's cluster, started on first use and stopped at exit."""
    global _shared
    with _lock:
        if _shared is None:
            _shared = start_cluster()
            atexit.register(_shared.stop)
        return _shared


# Everything a test may have written; auth.users cascades to profiles, jobs, sessions...
RESET_SQL = """
truncate auth.users, auth.refresh_tokens, storage.objects, public.leases, public.sweep_runs,
    public.sign_in_failures, public.job_events
    restart identity cascade;
update public.app_config
    set admin_emails = '{}', rate_limit_per_minute = null, daily_quota = null,
        max_attempts = null;
"""


def reset_database(cluster: PgCluster) -> None:
    with cluster.connect() as conn:
        conn.execute(RESET_SQL)


@contextlib.contextmanager
def superuser(cluster: PgCluster) -> Iterator[psycopg.Connection]:
    with cluster.connect() as conn:
        yield conn
