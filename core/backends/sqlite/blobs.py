"""The local BlobStore: image files under `DATA_DIR/blobs/<path>`, written atomically.

Signed URLs are relative — `/api/files/<path>?exp=<unix seconds>&sig=<hex>` — with
`sig = HMAC-SHA256(key, f"{path}:{exp}")`. The key is `SECRET_KEY` when set, else a random key
created once in `DATA_DIR/secret.key` (mode 0600) and shared by every process on that directory.

The app's file route checks a request with the store's `verify_signed_path`, then serves
`get(path)`:

    blobs = runtime.backend.blobs          # a LocalBlobStore when the backend is local
    if not blobs.verify_signed_path(path, request.query_params.get("exp"),
                                    request.query_params.get("sig")):
        return 403
    data = blobs.get(path)                 # raises NotFound when the file is gone
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import secrets
import stat
import tempfile
import time
from pathlib import Path
from urllib.parse import quote

from core.backends.sqlite.db import StorageMonitor, is_storage_full
from core.domain.errors import NotFound
from core.domain.paths import check_path
from core.domain.settings import Settings

SECRET_KEY_FILE = "secret.key"
URL_PREFIX = "/api/files/"


class LocalBlobStore:
    """BlobStore on the local file system (see core.ports.BlobStore)."""

    def __init__(self, root: Path, key: bytes, storage: StorageMonitor | None = None) -> None:
        Path(root).mkdir(mode=0o700, parents=True, exist_ok=True)
        self.root = Path(root).resolve()
        self._key = key
        self._storage = storage or StorageMonitor(self.root)

    def put(self, path: str, data: bytes, mime: str) -> None:
        """Write `data` at `path`, replacing any previous object in one atomic step.
        StorageFull when the disk is full (nothing is left behind)."""
        target = self._file(path)
        try:
            self._write(target, data)
        except OSError as exc:
            if is_storage_full(exc):
                raise self._storage.failed(exc, "files") from exc
            raise
        self._storage.succeeded("files")

    @staticmethod
    def _write(target: Path, data: bytes) -> None:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-", suffix=".part")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(bytes(data))
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, target)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise

    def get(self, path: str) -> bytes:
        """The object's bytes; NotFound when there is none."""
        try:
            return self._file(path).read_bytes()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise NotFound("The stored image is missing.", reason="image_gone") from None

    def size(self, path: str) -> int | None:
        """The object's size in bytes, or None when there is none."""
        try:
            info = self._file(path).stat()
        except (FileNotFoundError, NotADirectoryError):
            return None
        return info.st_size if stat.S_ISREG(info.st_mode) else None

    def delete(self, paths: list[str]) -> list[str]:
        """Delete objects (missing ones count as deleted); return the paths that failed."""
        files = [(path, self._file(path)) for path in paths]  # validate all before deleting any
        failed: list[str] = []
        for path, file in files:
            try:
                file.unlink(missing_ok=True)
            except OSError:
                failed.append(path)
        return failed

    def signed_urls(self, paths: list[str], ttl: int) -> dict[str, str]:
        """Relative URLs served by the app's `/api/files/` route, valid for `ttl` seconds."""
        exp = int(time.time()) + max(1, int(ttl))
        urls: dict[str, str] = {}
        for path in paths:
            check_path(path)
            sig = self._sign(path, exp)
            urls[path] = f"{URL_PREFIX}{quote(path, safe='/')}?exp={exp}&sig={sig}"
        return urls

    def verify_signed_path(
        self, path: str, exp: str | int | None, sig: str | None, now: float | None = None
    ) -> bool:
        """True when `sig` is this store's signature of `path` until `exp`, and `exp` is not
        past. Constant-time comparison; malformed input is simply False."""
        if not isinstance(path, str) or not isinstance(sig, str) or exp is None:
            return False
        if not sig.isascii():  # compare_digest raises on non-ASCII text
            return False
        try:
            check_path(path)
            exp_int = int(exp)
        except (ValueError, TypeError):
            return False
        if exp_int < (time.time() if now is None else now):
            return False
        return hmac.compare_digest(self._sign(path, exp_int), sig.lower())

    def delete_folder(self, folder: str) -> list[str]:
        """Delete every file under `folder/` and the folder itself; return what failed."""
        target = self._file(folder)
        failed: list[str] = []
        if not target.is_dir():
            return failed
        for dirpath, dirnames, filenames in os.walk(target, topdown=False):
            for name in filenames:
                file = Path(dirpath) / name
                try:
                    file.unlink(missing_ok=True)
                except OSError:
                    failed.append(file.relative_to(self.root).as_posix())
            for name in dirnames:
                with contextlib.suppress(OSError):  # not empty: a failed file is listed
                    (Path(dirpath) / name).rmdir()
        with contextlib.suppress(OSError):
            target.rmdir()
        return failed

    def _sign(self, path: str, exp: int) -> str:
        return hmac.new(self._key, f"{path}:{exp}".encode(), hashlib.sha256).hexdigest()

    def _file(self, path: str) -> Path:
        check_path(path)
        target = (self.root / path).resolve()
        if not target.is_relative_to(self.root) or target == self.root:
            raise ValueError(f"object path escapes the blob store: {path!r}")
        return target


def load_secret_key(settings: Settings) -> bytes:
    """`settings.secret_key`, or the random key in `DATA_DIR/secret.key` (created once)."""
    if settings.secret_key:
        return settings.secret_key.encode()
    data_dir = Path(settings.data_dir)
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    key_file = data_dir / SECRET_KEY_FILE
    if not key_file.exists():
        # Write a full key to a temp file, then link it into place: another process racing
        # us either wins (we read its key) or loses; nobody ever reads a half-written key.
        fd, tmp = tempfile.mkstemp(dir=data_dir, prefix=".secret-")
        try:
            os.chmod(tmp, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(secrets.token_hex(32))
                fh.flush()
                os.fsync(fh.fileno())
            with contextlib.suppress(FileExistsError):
                os.link(tmp, key_file)
        finally:
            os.unlink(tmp)
    key = key_file.read_text().strip()
    if len(key) < 32:
        raise RuntimeError(f"{key_file} is too short to be a secret key; delete it to renew it")
    return key.encode()
