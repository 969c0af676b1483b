"""A full disk under DATA_DIR (local backend): reads go on answering, writes answer a JSON 503
saying storage is full and change nothing, /api/health says what is wrong until the disk takes
writes again, and an API token's last use is written at most once a minute, best effort."""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

import core.backends.sqlite.accounts
import core.backends.sqlite.db
from core.backends.sqlite.db import seconds_us
from core.domain.models import JobQuery, JobRequest
from core.domain.settings import Settings
from core.runtime import Runtime, install_runtime, shutdown_runtime
from tests.api.conftest import ApiUser, build_test_runtime, make_app
from tests.fakes.full_disk import FullDisk

JOB = {"provider": "demo", "type": "image", "prompt": "a red kite", "params": {"quality": "draft"}}


@pytest.fixture
def disk(monkeypatch: pytest.MonkeyPatch) -> FullDisk:
    disk = FullDisk()
    monkeypatch.setattr(core.backends.sqlite.db, "StudioConnection", disk.connection_class)
    return disk


@pytest.fixture
def runtime(disk: FullDisk, api_settings: Settings) -> Iterator[Runtime]:
    """The API tests' runtime, on a disk that can be made full."""
    runtime = build_test_runtime(api_settings)
    install_runtime(runtime)
    yield runtime
    shutdown_runtime()


def post_job(client: TestClient, user: ApiUser) -> Any:
    return client.post("/api/jobs", json=JOB, headers=user.headers)


def assert_storage_full(response: Any) -> None:
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/json"
    error = response.json()["error"]
    assert error["code"] == "storage_full"
    assert "storage is full" in error["message"] and "nothing was saved" in error["message"]


def test_reads_answer_while_writes_fail_and_a_write_is_a_json_503_that_changes_nothing(
    client: TestClient,
    runtime: Runtime,
    disk: FullDisk,
    alice: ApiUser,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Made before any API call: the token's first use (a write) happens on the full disk.
    request = JobRequest(provider="demo", model="", prompt="a red kite")
    job_id = runtime.services.jobs.submit(alice.user, request)[0].id
    disk.full = True

    one = client.get("/api/jobs", params={"id": job_id}, headers=alice.headers)
    page = client.get("/api/jobs", headers=alice.headers)
    assert (one.status_code, one.json()["id"]) == (200, job_id)
    assert (page.status_code, [j["id"] for j in page.json()["items"]]) == (200, [job_id])
    assert disk.refused >= 1  # the token's last use could not be written: logged, not fatal
    assert "could not record the use of API token" in caplog.text

    assert_storage_full(post_job(client, alice))
    cancel = client.delete("/api/jobs", params={"id": job_id}, headers=alice.headers)
    assert_storage_full(cancel)

    disk.full = False
    assert [j.id for j in runtime.services.jobs.list_jobs(alice.user, JobQuery()).items] == [job_id]
    assert runtime.backend.jobs.get_job(job_id).status.value == "queued"
    assert alice.token not in caplog.text


def test_health_is_503_with_the_reason_while_storage_is_full_and_200_once_writes_work(
    client: TestClient, disk: FullDisk, alice: ApiUser
) -> None:
    healthy = client.get("/api/health")
    assert healthy.status_code == 200
    assert healthy.json()["storage"] == {"ok": True, "problem": None}

    disk.full = True
    assert_storage_full(post_job(client, alice))
    sick = client.get("/api/health")
    assert sick.status_code == 503
    body = sick.json()
    assert body["status"] == "unavailable" and body["storage"]["ok"] is False
    assert "Storage is full" in body["storage"]["problem"]
    assert body["queue"]["queued"] == 0  # the rest of the report still comes

    disk.full = False
    assert post_job(client, alice).status_code == 201
    assert client.get("/api/health").status_code == 200


def test_health_is_503_when_free_space_under_data_dir_runs_low(
    client: TestClient, runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = shutil.disk_usage(runtime.settings.data_dir)
    almost_full = real._replace(used=real.total - 1024 * 1024, free=1024 * 1024)
    monkeypatch.setattr(core.backends.sqlite.db.shutil, "disk_usage", lambda _path: almost_full)
    sick = client.get("/api/health")
    assert sick.status_code == 503
    assert sick.json()["storage"]["problem"] == (
        "Storage is full: 1024 KB free in the data directory."
    )
    monkeypatch.setattr(core.backends.sqlite.db.shutil, "disk_usage", lambda _path: real)
    assert client.get("/api/health").status_code == 200


def test_a_tokens_last_use_is_written_at_most_once_a_minute(
    client: TestClient,
    runtime: Runtime,
    disk: FullDisk,
    alice: ApiUser,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    start = core.backends.sqlite.db.now_us()
    clock = {"now": start}
    monkeypatch.setattr(core.backends.sqlite.accounts, "now_us", lambda: clock["now"])

    def last_used() -> int:
        token = runtime.services.accounts.list_api_tokens(alice.user)[0]
        assert token.last_used_at is not None
        return core.backends.sqlite.db.to_us(token.last_used_at)

    def read_at(offset_seconds: float) -> None:
        clock["now"] = start + seconds_us(offset_seconds)
        assert client.get("/api/jobs", headers=alice.headers).status_code == 200

    read_at(0)
    assert last_used() == start
    disk.full = True  # any write now would be refused and counted
    for offset in (1, 30, 59.9):
        read_at(offset)
    assert disk.refused == 0 and last_used() == start
    disk.full = False
    read_at(60)
    assert last_used() == start + seconds_us(60)
    read_at(90)
    assert last_used() == start + seconds_us(60)


# ---- a real full disk: a small tmpfs (needs root; skipped where mounting is not allowed) ----


@contextlib.contextmanager
def _tmpfs(where: Path, size: str) -> Iterator[Path]:
    where.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(where)],
        capture_output=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def _fill(directory: Path) -> Path:
    """Write a file until the volume is full; returns it."""
    filler = directory / "filler"
    chunk = b"\0" * 65536
    with open(filler, "wb") as fh:
        try:
            while True:
                fh.write(chunk)
                fh.flush()
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
    with contextlib.suppress(OSError), open(filler, "ab") as fh:  # the last partial block
        for _ in range(64):
            fh.write(b"\0" * 1024)
            fh.flush()
    return filler


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting a tmpfs needs root")
def test_on_a_really_full_disk_reads_work_writes_are_503_and_health_recovers(
    tmp_path: Path, api_settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    with _tmpfs(tmp_path / "volume", "4m") as volume:
        runtime = build_test_runtime(replace(api_settings, data_dir=volume / "data"))
        install_runtime(runtime)
        try:
            with TestClient(make_app()) as client:
                secret = _fill_the_disk_and_back(client, runtime, volume)
        finally:
            shutdown_runtime()
    assert secret not in caplog.text


def _fill_the_disk_and_back(client: TestClient, runtime: Runtime, volume: Path) -> str:
    signed = runtime.services.accounts.sign_up("tmpfs@example.com", "pw-12345678")
    _, secret = runtime.services.accounts.create_api_token(signed.user, "tests")
    alice = ApiUser(signed.user, secret)
    first = post_job(client, alice)
    assert first.status_code == 201
    assert client.get("/api/health").status_code == 200

    filler = _fill(volume)
    one = client.get("/api/jobs", params={"id": first.json()["id"]}, headers=alice.headers)
    assert client.get("/api/jobs", headers=alice.headers).status_code == one.status_code == 200
    assert_storage_full(post_job(client, alice))
    sick = client.get("/api/health")
    assert sick.status_code == 503
    assert "Storage is full" in sick.json()["storage"]["problem"]

    filler.unlink()
    assert post_job(client, alice).status_code == 201
    assert client.get("/api/health").status_code == 200
    listed = client.get("/api/jobs", headers=alice.headers).json()["items"]
    assert len(listed) == 2 and first.json()["id"] in {j["id"] for j in listed}  # none lost
    return secret
