"""The Storage part of the test gateway: uploads (multipart, x-upsert), downloads, object info,
signed URLs (one or a batch; HS256 tokens bound to the object and expiry) and removal. Metadata
rows live in storage.objects and are read and written under the caller's role, so the storage
policies of supabase-schema.sql decide; the bytes live on disk."""

from __future__ import annotations

import hashlib
import json
import uuid
from pathlib import Path
from typing import Any

import jwt
import psycopg
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from tests.integration.gateway_rest import Caller, RestError


class StorageError(Exception):
    def __init__(self, status: int, error: str, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.status, self.error, self.message = status, error, message
        self.code = code or str(status)


class StorageRoutes:
    """Mixed into Gateway, which provides `_caller`, `_run`, `_record`, `_sign` and `_decode`."""

    files: Path

    def _storage_caller(self, request: Request) -> Caller:
        try:
            return self._caller(request)
        except RestError as exc:
            raise StorageError(400, "Unauthorized", exc.message, "403") from exc

    def _storage_run(self, caller: Caller, fn: Any, *args: Any) -> Any:
        try:
            return self._run(caller, fn, *args)
        except RestError as exc:
            if exc.code == "42501":
                raise StorageError(
                    400, "Unauthorized", "new row violates row-level security policy", "403"
                ) from exc
            raise StorageError(400, "InternalError", exc.message, "500") from exc

    def _file(self, bucket: str, name: str) -> Path:
        parts = name.split("/")
        if any(p in ("", ".", "..") for p in parts):
            raise StorageError(400, "InvalidKey", f"Invalid key: {name}")
        return self.files.joinpath(bucket, *parts)

    @staticmethod
    def _visible(conn: psycopg.Connection, bucket: str, names: list[str]) -> dict[str, Any]:
        rows = conn.execute(
            "select name, metadata, id, created_at, updated_at from storage.objects "
            "where bucket_id = %s and name = any(%s)",
            [bucket, names],
        ).fetchall()
        return {r[0]: r for r in rows}

    async def _object(self, request: Request) -> Response:
        await self._record(request)
        bucket, name = request.path_params["bucket"], request.path_params["path"]
        try:
            caller = self._storage_caller(request)
            path = self._file(bucket, name)
            if request.method == "GET":
                found = await run_in_threadpool(
                    self._storage_run, caller, lambda c: self._visible(c, bucket, [name])
                )
                if name not in found or not path.is_file():
                    raise StorageError(400, "not_found", "Object not found", "404")
                meta = found[name][1] or {}
                return Response(path.read_bytes(), media_type=meta.get("mimetype"))
            form = await request.form()
            upload = form.get("file")
            if upload is None or isinstance(upload, str):
                raise StorageError(400, "InvalidRequest", "No file in the upload")
            data = await upload.read()
            mime = upload.content_type or "application/octet-stream"
            upsert = request.headers.get("x-upsert", "false").lower() == "true"
            meta = {
                "size": len(data),
                "mimetype": mime,
                "cacheControl": f"max-age={form.get('cacheControl') or 3600}",
                "eTag": hashlib.md5(data).hexdigest(),
            }

            def store(conn: psycopg.Connection) -> str:
                bucket_row = conn.execute(
                    "select file_size_limit, allowed_mime_types from storage.buckets where id = %s",
                    [bucket],
                ).fetchone()
                if bucket_row is None:
                    raise StorageError(400, "Bucket not found", "Bucket not found", "404")
                limit, mimes = bucket_row
                if limit is not None and len(data) > limit:
                    raise StorageError(
                        400,
                        "Payload too large",
                        "The object exceeded the maximum allowed size",
                        "413",
                    )
                if mimes and mime not in mimes:
                    raise StorageError(
                        400, "invalid_mime_type", f"mime type {mime} is not supported", "415"
                    )
                conflict = (
                    "do update set metadata = excluded.metadata, updated_at = now(), "
                    "owner = excluded.owner"
                    if upsert
                    else "do nothing"
                )
                row = conn.execute(
                    "insert into storage.objects (bucket_id, name, owner, owner_id, metadata) "
                    "values (%s, %s, %s, %s, %s) on conflict (bucket_id, name) "
                    + conflict
                    + " returning id",
                    [
                        bucket,
                        name,
                        caller.claims.get("sub"),
                        caller.claims.get("sub"),
                        json.dumps(meta),
                    ],
                ).fetchone()
                if row is None:
                    raise StorageError(400, "Duplicate", "The resource already exists", "409")
                path.parent.mkdir(parents=True, exist_ok=True)
                tmp = path.with_name(path.name + f".{uuid.uuid4().hex}.tmp")
                tmp.write_bytes(data)
                tmp.replace(path)
                return str(row[0])

            object_id = await run_in_threadpool(self._storage_run, caller, store)
            return JSONResponse({"Key": f"{bucket}/{name}", "Id": object_id})
        except StorageError as exc:
            return _storage_error(exc)

    async def _list(self, request: Request) -> Response:
        """Storage's folder listing: the objects and sub-folders directly under `prefix`
        (a folder has no id), sorted by name, `limit`/`offset` paged, as the caller sees them."""
        body = json.loads(await self._record(request) or b"{}")
        bucket = request.path_params["bucket"]
        prefix = str(body.get("prefix") or "").strip("/")
        limit, offset = int(body.get("limit") or 100), int(body.get("offset") or 0)
        try:
            caller = self._storage_caller(request)

            def listing(conn: psycopg.Connection) -> list[dict[str, Any]]:
                rows = conn.execute(
                    "select name, metadata, id, created_at, updated_at from storage.objects "
                    "where bucket_id = %s and name like %s order by name",
                    [bucket, (prefix + "/" if prefix else "") + "%"],
                ).fetchall()
                entries: dict[str, dict[str, Any]] = {}
                for name, meta, object_id, created, updated in rows:
                    rest = name[len(prefix) + 1 :] if prefix else name
                    head, _, tail = rest.partition("/")
                    if tail:
                        entries.setdefault(head, {"name": head, "id": None, "metadata": None})
                    else:
                        entries[head] = {
                            "name": head,
                            "id": str(object_id),
                            "metadata": meta or {},
                            "created_at": created.isoformat(),
                            "updated_at": updated.isoformat(),
                        }
                ordered = [entries[k] for k in sorted(entries)]
                return ordered[offset : offset + limit]

            return JSONResponse(await run_in_threadpool(self._storage_run, caller, listing))
        except StorageError as exc:
            return _storage_error(exc)

    async def _info(self, request: Request) -> Response:
        await self._record(request)
        bucket, name = request.path_params["bucket"], request.path_params["path"]
        try:
            caller = self._storage_caller(request)
            found = await run_in_threadpool(
                self._storage_run, caller, lambda c: self._visible(c, bucket, [name])
            )
            if name not in found:
                raise StorageError(404, "not_found", "Object not found", "404")
            _, meta, object_id, created, updated = found[name]
            meta = meta or {}
            return JSONResponse(
                {
                    "id": str(object_id),
                    "name": name,
                    "bucket_id": bucket,
                    "size": meta.get("size"),
                    "content_type": meta.get("mimetype"),
                    "cache_control": meta.get("cacheControl"),
                    "etag": meta.get("eTag"),
                    "metadata": {},
                    "created_at": created.isoformat(),
                    "last_modified": updated.isoformat(),
                }
            )
        except StorageError as exc:
            return _storage_error(exc)

    def _signed_path(self, bucket: str, name: str, expires_in: int) -> str:
        token = self._sign({"url": f"{bucket}/{name}"}, seconds=expires_in)
        return f"/object/sign/{bucket}/{name}?token={token}"

    async def _sign_or_serve(self, request: Request) -> Response:
        body = await self._record(request)
        bucket, name = request.path_params["bucket"], request.path_params["path"]
        try:
            if request.method == "GET":
                return self._serve_signed(request, bucket, name)
            caller = self._storage_caller(request)
            expires_in = int(json.loads(body or b"{}").get("expiresIn", 60))
            found = await run_in_threadpool(
                self._storage_run, caller, lambda c: self._visible(c, bucket, [name])
            )
            if name not in found:
                raise StorageError(400, "not_found", "Object not found", "404")
            return JSONResponse({"signedURL": self._signed_path(bucket, name, expires_in)})
        except StorageError as exc:
            return _storage_error(exc)

    async def _sign_many(self, request: Request) -> Response:
        body = json.loads(await self._record(request) or b"{}")
        bucket = request.path_params["bucket"]
        try:
            caller = self._storage_caller(request)
            paths = [str(p) for p in body.get("paths") or []]
            expires_in = int(body.get("expiresIn", 60))
            found = await run_in_threadpool(
                self._storage_run, caller, lambda c: self._visible(c, bucket, paths)
            )
            out = []
            for path in paths:
                if path in found:
                    out.append(
                        {
                            "error": None,
                            "path": path,
                            "signedURL": self._signed_path(bucket, path, expires_in),
                        }
                    )
                else:
                    out.append(
                        {
                            "error": "Either the object does not exist or you do not have "
                            "access to it",
                            "path": path,
                            "signedURL": None,
                        }
                    )
            return JSONResponse(out)
        except StorageError as exc:
            return _storage_error(exc)

    def _serve_signed(self, request: Request, bucket: str, name: str) -> Response:
        token = request.query_params.get("token", "")
        try:
            claims = self._decode(token)
        except jwt.InvalidTokenError as exc:
            raise StorageError(400, "InvalidSignature", f"Invalid token: {exc}", "400") from exc
        if claims.get("url") != f"{bucket}/{name}":
            raise StorageError(400, "InvalidSignature", "The url does not match the token", "400")
        path = self._file(bucket, name)
        if not path.is_file():
            raise StorageError(400, "not_found", "Object not found", "404")
        return Response(path.read_bytes(), headers={"cache-control": "max-age=3600"})

    async def _remove(self, request: Request) -> Response:
        body = json.loads(await self._record(request) or b"{}")
        bucket = request.path_params["bucket"]
        try:
            caller = self._storage_caller(request)
            names = [str(p) for p in body.get("prefixes") or []]
            files = [self._file(bucket, n) for n in names]

            def delete(conn: psycopg.Connection) -> list[dict[str, Any]]:
                rows = conn.execute(
                    "with w as (delete from storage.objects where bucket_id = %s "
                    "and name = any(%s) returning *) "
                    "select coalesce(json_agg(w), '[]'::json) from w",
                    [bucket, names],
                ).fetchone()[0]
                gone = {r["name"] for r in rows}
                for name, path in zip(names, files, strict=True):
                    if name in gone:
                        path.unlink(missing_ok=True)
                return rows

            return JSONResponse(await run_in_threadpool(self._storage_run, caller, delete))
        except StorageError as exc:
            return _storage_error(exc)


def _storage_error(exc: StorageError) -> Response:
    return JSONResponse(
        {"statusCode": exc.code, "error": exc.error, "message": exc.message},
        status_code=exc.status,
    )
