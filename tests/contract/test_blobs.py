"""BlobStore: put/get/overwrite, size, delete, signed URLs and path checks."""

from __future__ import annotations

import uuid

import pytest

from core.domain.errors import NotFound

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4


def _path(ext: str = "png") -> str:
    return f"{uuid.uuid4()}/{uuid.uuid4()}.{ext}"


def test_put_then_get_returns_the_same_bytes(backend):
    path = _path()
    backend.blobs.put(path, PNG, "image/png")
    assert backend.blobs.get(path) == PNG
    assert backend.blobs.size(path) == len(PNG)


def test_put_overwrites(backend):
    path = _path("thumb.webp")
    backend.blobs.put(path, b"first version", "image/webp")
    backend.blobs.put(path, b"second", "image/webp")
    assert backend.blobs.get(path) == b"second"
    assert backend.blobs.size(path) == len(b"second")


def test_missing_objects_have_no_size_and_get_is_not_found(backend):
    path = _path()
    assert backend.blobs.size(path) is None
    with pytest.raises(NotFound):
        backend.blobs.get(path)


def test_delete_removes_objects_and_counts_missing_ones_as_deleted(backend):
    kept, gone = _path(), _path()
    backend.blobs.put(kept, b"keep", "image/png")
    backend.blobs.put(gone, b"gone", "image/png")

    failed = backend.blobs.delete([gone, _path()])

    assert failed == []
    assert backend.blobs.size(gone) is None
    assert backend.blobs.get(kept) == b"keep"
    assert backend.blobs.delete([]) == []


def test_signed_urls_cover_every_requested_path_in_one_call(backend):
    paths = [_path(), _path("thumb.webp")]
    for path in paths:
        backend.blobs.put(path, PNG, "image/png")

    urls = backend.blobs.signed_urls(paths, 60)

    assert set(urls) == set(paths)
    assert len(set(urls.values())) == 2
    assert all(isinstance(u, str) and u for u in urls.values())


@pytest.mark.parametrize(
    "bad",
    ["../escape.png", "user/../../etc/passwd", "/etc/passwd", "", "user//x.png", "a/./b.png"],
)
def test_paths_that_could_escape_the_store_are_refused(backend, bad):
    with pytest.raises(ValueError):
        backend.blobs.put(bad, b"x", "image/png")
    with pytest.raises(ValueError):
        backend.blobs.get(bad)
    with pytest.raises(ValueError):
        backend.blobs.delete([bad])
