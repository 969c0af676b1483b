"""Local-only blob behaviour: signed URL format and verification, the secret key file, and
atomic writes on disk."""

from __future__ import annotations

import errno
import os
import stat
import threading
import time
from dataclasses import replace
from urllib.parse import parse_qs, urlsplit

import pytest

import core.backends.sqlite.blobs
from core.backends.sqlite import open_local_backend
from core.backends.sqlite.blobs import LocalBlobStore, load_secret_key
from core.domain.errors import StorageFull


@pytest.fixture
def local(settings):
    backend = open_local_backend(settings)
    yield backend
    backend.close()


def _parts(url: str) -> tuple[str, str, str]:
    split = urlsplit(url)
    query = parse_qs(split.query)
    assert split.path.startswith("/api/files/")
    return split.path.removeprefix("/api/files/"), query["exp"][0], query["sig"][0]


def test_signed_urls_are_relative_and_verify(local):
    blobs: LocalBlobStore = local.blobs
    url = blobs.signed_urls(["u1/job.png"], 120)["u1/job.png"]

    path, exp, sig = _parts(url)

    assert url.startswith("/api/files/u1/job.png?exp=")
    assert path == "u1/job.png"
    assert time.time() + 100 < int(exp) <= time.time() + 121
    assert blobs.verify_signed_path(path, exp, sig)


def test_a_tampered_path_expiry_or_signature_does_not_verify(local):
    blobs: LocalBlobStore = local.blobs
    path, exp, sig = _parts(blobs.signed_urls(["u1/job.png"], 120)["u1/job.png"])

    assert not blobs.verify_signed_path("u2/job.png", exp, sig)
    assert not blobs.verify_signed_path(path, str(int(exp) + 1), sig)
    assert not blobs.verify_signed_path(path, exp, sig[:-1] + ("0" if sig[-1] != "0" else "1"))
    assert not blobs.verify_signed_path(path, exp, "")
    assert not blobs.verify_signed_path(path, "soon", sig)
    assert not blobs.verify_signed_path(path, None, sig)
    assert not blobs.verify_signed_path("../u1/job.png", exp, sig)


def test_an_expired_signature_does_not_verify(local):
    blobs: LocalBlobStore = local.blobs
    path, exp, sig = _parts(blobs.signed_urls(["u1/job.png"], 60)["u1/job.png"])

    assert blobs.verify_signed_path(path, exp, sig, now=int(exp))
    assert not blobs.verify_signed_path(path, exp, sig, now=int(exp) + 1)


def test_paths_with_spaces_are_quoted_in_urls(local):
    url = local.blobs.signed_urls(["u1/my image.png"], 60)["u1/my image.png"]
    assert "/api/files/u1/my%20image.png?" in url


def test_the_generated_secret_key_is_private_and_reused(settings):
    first = load_secret_key(settings)
    key_file = settings.data_dir / "secret.key"

    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert load_secret_key(settings) == first
    assert len(first) >= 64


def test_signatures_survive_reopening_the_backend(settings):
    one = open_local_backend(settings)
    path, exp, sig = _parts(one.blobs.signed_urls(["u/j.png"], 60)["u/j.png"])
    one.close()
    two = open_local_backend(settings)
    try:
        assert two.blobs.verify_signed_path(path, exp, sig)
    finally:
        two.close()


def test_a_configured_secret_key_is_used_instead_of_the_file(settings):
    a = LocalBlobStore(
        settings.data_dir / "blobs", load_secret_key(replace(settings, secret_key="s" * 40))
    )
    b = LocalBlobStore(
        settings.data_dir / "blobs", load_secret_key(replace(settings, secret_key="t" * 40))
    )
    path, exp, sig = _parts(a.signed_urls(["u/j.png"], 60)["u/j.png"])

    assert a.verify_signed_path(path, exp, sig)
    assert not b.verify_signed_path(path, exp, sig)
    assert not (settings.data_dir / "secret.key").exists()


def test_objects_live_under_data_dir_blobs_with_no_temp_files_left(local, settings):
    local.blobs.put("u1/j1.png", b"one", "image/png")
    local.blobs.put("u1/j1.png", b"two", "image/png")

    folder = settings.data_dir / "blobs" / "u1"
    assert (folder / "j1.png").read_bytes() == b"two"
    assert os.listdir(folder) == ["j1.png"]


def test_a_symlink_out_of_the_store_is_refused(local, settings, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("do not serve")
    os.symlink(outside, settings.data_dir / "blobs" / "link")

    with pytest.raises(ValueError):
        local.blobs.get("link/secret.txt")


def test_concurrent_writers_of_one_path_leave_one_complete_version(local):
    versions = [bytes([i]) * 200_000 for i in range(8)]
    barrier = threading.Barrier(len(versions))
    torn: list[int] = []

    def write(data: bytes) -> None:
        barrier.wait()
        for _ in range(5):
            local.blobs.put("u/same.png", data, "image/png")
            seen = local.blobs.get("u/same.png")
            if seen not in versions:  # a torn or partial file
                torn.append(len(seen))

    threads = [threading.Thread(target=write, args=(v,)) for v in versions]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert torn == []
    assert local.blobs.get("u/same.png") in versions


def test_a_write_on_a_full_disk_is_storage_full_leaves_nothing_and_health_recovers(
    local, settings, monkeypatch
):
    def no_space(_fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    local.blobs.put("u1/old.png", b"old", "image/png")
    monkeypatch.setattr(core.backends.sqlite.blobs.os, "fsync", no_space)
    with pytest.raises(StorageFull) as full:
        local.blobs.put("u1/job.png", b"data", "image/png")
    assert full.value.http_status == 503 and str(settings.data_dir) not in full.value.message
    assert "Storage is full" in local.storage_problem()
    assert sorted(p.name for p in (settings.data_dir / "blobs" / "u1").iterdir()) == ["old.png"]

    monkeypatch.undo()
    local.blobs.put("u1/job.png", b"data", "image/png")
    assert local.storage_problem() is None
    assert local.blobs.get("u1/job.png") == b"data"
