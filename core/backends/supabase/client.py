"""The Supabase backend (supabase-py, pinned 2.34.1): rows through PostgREST and the RPC functions
of `supabase-schema.sql`, images in the private Storage bucket `results`, people in Supabase Auth.
The worker, sweeper and account code use the service-role key (server-side only); `for_user`
gives stores that carry the signed-in user's JWT, so row-level security applies to them."""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from datetime import datetime
from typing import Any, NoReturn, cast

import httpx
from postgrest.exceptions import APIError
from storage3.exceptions import StorageApiError
from supabase import Client, ClientOptions, create_client

from core.domain.errors import (
    AuthRequired,
    Forbidden,
    NotFound,
    ValidationError,
)
from core.domain.models import Job, JobKind, JobStatus, ReviewStatus, Role, User
from core.domain.paths import check_path
from core.domain.policy import quota_exceeded, rate_limited

BUCKET = "results"
# PostgREST's answers to a JWT it cannot accept (PGRST303: expired; PGRST301: not decodable)
JWT_ERRORS = frozenset({"PGRST301", "PGRST303"})
USER_CLIENTS_CACHED = 256
HTTP_TIMEOUT = httpx.Timeout(30.0, connect=10.0)


class SupabaseConfigError(RuntimeError):
    """SUPABASE_URL is set but a key is missing."""


class Clients:
    """supabase-py clients sharing one HTTP connection pool: the service-role client, one
    client per user JWT (kept in a small LRU), and fresh anon clients for Auth calls (an Auth
    client holds one session, so it is never shared between people)."""

    def __init__(self, url: str, anon_key: str, service_key: str) -> None:
        self.url = url.rstrip("/")
        self._anon_key = anon_key
        self._http = httpx.Client(timeout=HTTP_TIMEOUT, follow_redirects=True)
        self.service = self._client(service_key, None)
        self._users: OrderedDict[str, Client] = OrderedDict()
        self._lock = threading.Lock()

    def _client(self, key: str, bearer: str | None) -> Client:
        options = ClientOptions(
            auto_refresh_token=False, persist_session=False, httpx_client=self._http
        )
        if bearer is not None:
            options.headers["Authorization"] = f"Bearer {bearer}"
        return create_client(self.url, key, options)

    def for_jwt(self, access_token: str) -> Client:
        """A client whose table, RPC and storage calls carry the user's JWT."""
        with self._lock:
            client = self._users.get(access_token)
            if client is not None:
                self._users.move_to_end(access_token)
                return client
        client = self._client(self._anon_key, access_token)
        with self._lock:
            self._users[access_token] = client
            while len(self._users) > USER_CLIENTS_CACHED:
                self._users.popitem(last=False)
        return client

    def auth(self) -> Client:
        """A fresh anon client for one Auth conversation (sign in/up/out, refresh)."""
        return self._client(self._anon_key, None)

    def close(self) -> None:
        with self._lock:
            self._users.clear()
        self._http.close()


# ---- rows and errors ----------------------------------------------------------------------------


def parse_time(value: str | None) -> datetime | None:
    """PostgREST timestamps (ISO 8601 with offset)."""
    if value is None:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def job_from_row(row: dict[str, Any]) -> Job:
    return Job(
        id=str(row["id"]),
        user_id=str(row["user_id"]),
        provider=row["provider"],
        model=row["model"],
        kind=JobKind(row["kind"]),
        prompt=row["prompt"],
        params=dict(row.get("params") or {}),
        status=JobStatus(row["status"]),
        attempts=int(row["attempts"]),
        max_attempts=int(row["max_attempts"]),
        created_at=parse_time(row["created_at"]),  # type: ignore[arg-type]
        updated_at=parse_time(row["updated_at"]),  # type: ignore[arg-type]
        run_after=parse_time(row["run_after"]),  # type: ignore[arg-type]
        batch_id=_opt_str(row.get("batch_id")),
        input_path=row.get("input_path"),
        lease_owner=row.get("lease_owner"),
        lease_expires_at=parse_time(row.get("lease_expires_at")),
        error_code=row.get("error_code"),
        error_message=row.get("error_message"),
        result_path=row.get("result_path"),
        thumb_path=row.get("thumb_path"),
        result_meta=dict(row.get("result_meta") or {}),
        review_status=ReviewStatus(row.get("review_status") or "unreviewed"),
        review_note=row.get("review_note"),
        reviewed_by=_opt_str(row.get("reviewed_by")),
        reviewed_at=parse_time(row.get("reviewed_at")),
        idempotency_key=row.get("idempotency_key"),
        started_at=parse_time(row.get("started_at")),
        finished_at=parse_time(row.get("finished_at")),
        parent_id=_opt_str(row.get("parent_id")),
        mask_path=row.get("mask_path"),
        reference_paths=tuple(row.get("reference_paths") or ()),
        starred=row.get("starred_at") is not None,
    )


def user_from_profile(row: dict[str, Any], access_token: str | None = None) -> User:
    return User(
        id=str(row["id"]),
        email=row.get("email") or "",
        role=Role(row.get("role") or "user"),
        disabled=bool(row.get("disabled")),
        created_at=parse_time(row.get("created_at")),
        daily_quota=row.get("daily_quota"),
        access_token=access_token,
        language=row.get("language"),
    )


def _opt_str(value: Any) -> str | None:
    return None if value is None else str(value)


def raise_api_error(exc: APIError) -> NoReturn:
    """Turn the schema's error codes into the errors users see; re-raise anything else."""
    detail: dict[str, Any] = {}
    if exc.details:
        try:
            detail = json.loads(exc.details)
        except (TypeError, ValueError):
            detail = {}
    if exc.code == "SR429":
        wait = None if detail.get("batch_too_large") else int(detail.get("retry_after") or 60)
        raise rate_limited(detail.get("limit"), wait) from None
    if exc.code == "SQ429":
        raise quota_exceeded(
            detail.get("quota"),
            detail.get("left", 0),
            int(detail.get("retry_after") or 3600),
        ) from None
    if exc.code in JWT_ERRORS:
        raise AuthRequired(
            "Your session expired; sign in again.", reason="session_expired"
        ) from None
    if exc.code == "42501":
        raise Forbidden("You are not allowed to do that.", reason="not_allowed") from None
    if exc.code in ("22023", "22P02", "23514"):
        raise ValidationError(
            "The request was not accepted by the database.", reason="database_refused"
        ) from None
    raise exc


def rows_of(data: object) -> list[dict[str, Any]]:
    """PostgREST's answer as rows (a JSON array of objects; nothing is no rows). Anything else
    is a protocol error, not data to guess at."""
    if data is None:
        return []
    if not isinstance(data, list) or not all(isinstance(row, dict) for row in data):
        raise TypeError(f"PostgREST answered {type(data).__name__}, not rows")
    return cast(list[dict[str, Any]], data)


def call_rpc(client: Client, fn: str, params: dict[str, Any]) -> Any:
    """One RPC to a function of supabase-schema.sql, with its errors mapped."""
    try:
        return client.rpc(fn, params).execute().data
    except APIError as exc:
        raise_api_error(exc)


def is_missing_object(exc: StorageApiError) -> bool:
    return str(exc.status) == "404" or str(getattr(exc, "code", "")) in ("404", "not_found")


# ---- blobs -----------------------------------------------------------------------------------


LIST_PAGE = 100  # objects per Storage list call and per remove call


class SupabaseBlobStore:
    """BlobStore on the private `results` bucket (see core.ports.BlobStore)."""

    def __init__(self, client: Client) -> None:
        self._client = client

    def _bucket(self) -> Any:
        return self._client.storage.from_(BUCKET)

    def put(self, path: str, data: bytes, mime: str) -> None:
        check_path(path)
        # upsert: the path is derived from the job id, so a retried job overwrites its own file.
        # Browsers may keep an image a day; every signed URL is new anyway, and the Smart CDN
        # revalidates on overwrite or delete.
        self._bucket().upload(
            path, data, {"content-type": mime, "upsert": "true", "cache-control": "86400"}
        )

    def get(self, path: str) -> bytes:
        check_path(path)
        try:
            return self._bucket().download(path)
        except StorageApiError as exc:
            if is_missing_object(exc):
                raise NotFound("This image is no longer stored.", reason="image_gone") from None
            raise

    def signed_urls(self, paths: list[str], ttl: int) -> dict[str, str]:
        wanted = list(dict.fromkeys(paths))
        for path in wanted:
            check_path(path)
        if not wanted:
            return {}
        items = self._bucket().create_signed_urls(wanted, int(ttl))
        return {
            item["path"]: item["signedURL"]
            for item in items
            if not item.get("error") and item.get("signedURL") and item.get("path")
        }

    def delete(self, paths: list[str]) -> list[str]:
        wanted = list(dict.fromkeys(paths))
        for path in wanted:
            check_path(path)
        if not wanted:
            return []
        try:
            # Storage deletes what exists and skips the rest: missing objects count as deleted.
            self._bucket().remove(wanted)
        except (StorageApiError, httpx.HTTPError):
            return wanted
        return []

    def delete_folder(self, folder: str) -> list[str]:
        """Delete every object under `folder/`, a listed page at a time (nested folders too)."""
        check_path(folder)
        try:
            pending: list[str] = [folder]
            names: list[str] = []
            while pending:
                prefix = pending.pop()
                offset = 0
                while True:
                    entries = self._bucket().list(
                        prefix, {"limit": LIST_PAGE, "offset": offset, "sortBy": {"column": "name"}}
                    )
                    for entry in entries:
                        name = f"{prefix}/{entry['name']}"
                        # Storage lists a sub-folder as an entry without an id.
                        (names if entry.get("id") else pending).append(name)
                    if len(entries) < LIST_PAGE:
                        break
                    offset += LIST_PAGE
        except (StorageApiError, httpx.HTTPError):
            return [folder]
        failed: list[str] = []
        for start in range(0, len(names), LIST_PAGE):
            failed += self.delete(names[start : start + LIST_PAGE])
        return failed

    def size(self, path: str) -> int | None:
        check_path(path)
        try:
            info = self._bucket().info(path)
        except StorageApiError as exc:
            if is_missing_object(exc):
                return None
            raise
        size = info.get("size")
        if size is None:
            size = (info.get("metadata") or {}).get("size")
        return None if size is None else int(size)
