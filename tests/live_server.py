"""Run the real app (`streamlit run app.py`) on a free port in a subprocess, for e2e and HTTP
tests. Use `start_live_server(...)` as a context manager or the `live_server_factory` fixture:

    from tests.live_server import live_server_factory  # noqa: F401  (in a conftest.py)

    def test_x(live_server_factory):
        server = live_server_factory(env={"DEMO_LATENCY_MS": "300"})
        httpx.get(server.url + "/api/health")
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

REPO_ROOT = Path(__file__).resolve().parent.parent
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
class LiveServer:
    """A running `streamlit run app.py`. `url` has no trailing slash."""

    url: str
    port: int
    data_dir: Path
    log_path: Path
    process: subprocess.Popen[bytes] = field(repr=False)

    def log(self) -> str:
        """Everything the server wrote to stdout/stderr so far (for failure messages)."""
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


def launch_live_server(
    data_dir: Path,
    *,
    env: Mapping[str, str] | None = None,
    log_path: Path | None = None,
    timeout: float = START_TIMEOUT,
) -> LiveServer:
    """Start the app on a free port with `DATA_DIR=data_dir` and wait until it is healthy.
    The caller must call `.stop()`."""
    data_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_path or data_dir.parent / f"server-{data_dir.name}.log"
    port = free_port()
    child_env = {k: v for k, v in os.environ.items() if k not in _SCRUBBED_ENV}
    child_env.update(
        {
            "DATA_DIR": str(data_dir),
            "PYTHONUNBUFFERED": "1",
            "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false",
        }
    )
    child_env.update(env or {})
    command = [
        sys.executable,
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
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(
            command,
            cwd=REPO_ROOT,
            env=child_env,
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    server = LiveServer(
        url=f"http://127.0.0.1:{port}",
        port=port,
        data_dir=data_dir,
        log_path=log_path,
        process=process,
    )
    try:
        _wait_healthy(server, timeout)
    except BaseException:
        server.stop(timeout=5)
        raise
    return server


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
