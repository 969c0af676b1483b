"""The one harness for a running studio: the real app (`streamlit run app.py`) on a free port
and headless workers (`python -m core worker`), each a subprocess with its own log, started
from the repository with a scrubbed environment. For e2e, HTTP, scale-out and crash tests.
Use `start_live_server(...)` as a context manager or the `live_server_factory` fixture:

    from tests.live_server import live_server_factory  # noqa: F401  (in a conftest.py)

    def test_x(live_server_factory):
        server = live_server_factory(env={"DEMO_LATENCY_MS": "300"})
        httpx.get(server.url + "/api/health")

and `launch_worker(data_dir, env=...)` for a headless worker.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from core.providers.registry import provider_specs
from tests.constants import REPO_ROOT

START_TIMEOUT = 60.0
STOP_TIMEOUT = 15.0

# Settings a test server must not inherit from the developer's shell (every provider's key
# variables included, as the registry names them).
_SCRUBBED_ENV = (
    "SUPABASE_URL",
    "NEXT_PUBLIC_SUPABASE_URL",
    "SUPABASE_ANON_KEY",
    "NEXT_PUBLIC_SUPABASE_ANON_KEY",
    "SUPABASE_SERVICE_ROLE_KEY",
    *(name for spec in provider_specs() for name in spec.key_env),
    "ADMIN_EMAILS",
    "PUBLIC_URL",
    "FORWARDED_ALLOW_IPS",
    "BODY_READ_TIMEOUT",
)


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class StudioProcess:
    """A running process of the studio (the app or a headless worker), writing to `log_path`."""

    data_dir: Path
    log_path: Path
    process: subprocess.Popen[bytes] = field(repr=False)

    def log(self) -> str:
        """Everything the process wrote to stdout/stderr so far (for failure messages)."""
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self, timeout: float = STOP_TIMEOUT) -> int | None:
        """Ctrl-C (SIGINT) like a person would, then kill if it does not exit in time.
        Returns the exit code."""
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        return self.process.returncode


@dataclass(kw_only=True)
class LiveServer(StudioProcess):
    """A running `streamlit run app.py`. `url` has no trailing slash."""

    url: str
    port: int


def _wait_healthy(server: LiveServer, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    last_error = "no answer yet"
    with httpx.Client(timeout=2.0) as client:
        while time.monotonic() < deadline:
            if not server.alive:
                raise RuntimeError(
                    f"the server exited with code {server.process.returncode} before it was "
                    f"ready; its log:\n{server.log()[-4000:]}"
                )
            try:
                response = client.get(f"{server.url}/_stcore/health")
                if response.status_code == 200:
                    return
                last_error = f"HTTP {response.status_code}"
            except httpx.HTTPError as exc:
                last_error = type(exc).__name__
            time.sleep(0.2)
    raise TimeoutError(
        f"the server did not answer /_stcore/health within {timeout:.0f} s ({last_error}); "
        f"its log:\n{server.log()[-4000:]}"
    )


def studio_env(data_dir: Path, env: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of a studio process: this one's without the settings a test must not
    inherit from the developer's shell, with `DATA_DIR=data_dir` and `env` on top."""
    child_env = {k: v for k, v in os.environ.items() if k not in _SCRUBBED_ENV}
    child_env.update(
        {
            "DATA_DIR": str(data_dir),
            "PYTHONUNBUFFERED": "1",
            "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false",
        }
    )
    child_env.update(env or {})
    return child_env


def _spawn(
    arguments: list[str], data_dir: Path, env: Mapping[str, str] | None, log_path: Path
) -> subprocess.Popen[bytes]:
    """`python ARGUMENTS` from the repository, its output appended to `log_path`."""
    data_dir.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log_file:
        return subprocess.Popen(
            [sys.executable, *arguments],
            cwd=REPO_ROOT,
            env=studio_env(data_dir, env),
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )


def launch_live_server(
    data_dir: Path,
    *,
    env: Mapping[str, str] | None = None,
    log_path: Path | None = None,
    timeout: float = START_TIMEOUT,
) -> LiveServer:
    """Start the app on a free port with `DATA_DIR=data_dir` and wait until it is healthy.
    The caller must call `.stop()`."""
    log_path = log_path or data_dir.parent / f"server-{data_dir.name}.log"
    port = free_port()
    arguments = [
        "-m",
        "streamlit",
        "run",
        "app.py",
        "--server.port",
        str(port),
        "--server.address",
        "127.0.0.1",
        "--server.headless",
        "true",
        "--server.fileWatcherType",
        "none",
        "--server.runOnSave",
        "false",
    ]
    server = LiveServer(
        data_dir=data_dir,
        log_path=log_path,
        process=_spawn(arguments, data_dir, env, log_path),
        url=f"http://127.0.0.1:{port}",
        port=port,
    )
    try:
        _wait_healthy(server, timeout)
    except BaseException:
        server.stop(timeout=5)
        raise
    return server


def launch_worker(
    data_dir: Path, *, env: Mapping[str, str] | None = None, log_path: Path | None = None
) -> StudioProcess:
    """Start a headless worker (`python -m core worker`) with `DATA_DIR=data_dir`, logging at
    INFO whatever `env` says (its log tells when it takes jobs: "headless worker running").
    The caller must stop it."""
    log_path = log_path or data_dir.parent / f"worker-{data_dir.name}.log"
    return StudioProcess(
        data_dir=data_dir,
        log_path=log_path,
        process=_spawn(
            ["-m", "core", "worker"], data_dir, {**(env or {}), "LOG_LEVEL": "INFO"}, log_path
        ),
    )


@contextlib.contextmanager
def start_live_server(
    data_dir: Path, *, env: Mapping[str, str] | None = None, timeout: float = START_TIMEOUT
) -> Iterator[LiveServer]:
    """A healthy server for the duration of the `with` block."""
    server = launch_live_server(data_dir, env=env, timeout=timeout)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def live_server_factory(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Callable[..., LiveServer]]:
    """A function that starts a fresh server (own temp DATA_DIR unless given) and stops every
    server it started when the test ends: `live_server_factory(env={...}, data_dir=None)`."""
    servers: list[LiveServer] = []

    def start(*, env: Mapping[str, str] | None = None, data_dir: Path | None = None) -> LiveServer:
        base = tmp_path_factory.mktemp("live")
        log_path = base / "server.log"
        server = launch_live_server(data_dir or base / "data", env=env, log_path=log_path)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()
