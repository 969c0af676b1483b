"""The PostgREST subset supabase-py sends: table reads with filters, order, limit and exact counts;
insert/upsert, update and delete returning rows; RPC with named JSON arguments. Each request
runs in one transaction as the caller's role with its JWT claims, so the grants and policies of
supabase-schema.sql decide, as in PostgREST."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

OBJECT_MEDIA = "application/vnd.pgrst.object+json"
_NAME = re.compile(r"^[a-z_][a-z0-9_]*$")
_OPS = {"eq": "=", "neq": "<>", "gt": ">", "gte": ">=", "lt": "<", "lte": "<="}
RESERVED = {"select", "order", "limit", "offset", "on_conflict", "columns"}


class RestError(Exception):
    """An error answered as PostgREST does: {"code","message","details","hint"}."""

    def __init__(self, status: int, code: str, message: str, details: str | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.details = status, code, message, details

    def body(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "details": self.details, "hint": None}


def pg_error(exc: psycopg.Error, role: str) -> RestError:
    """Map a database error to PostgREST's HTTP status and JSON body."""
    state = exc.sqlstate or "XX000"
    diag = exc.diag
    if state == "42501":
        status = 401 if role == "anon" else 403
    elif state in ("23505", "23503"):
        status = 409
    elif state in ("42883", "42P01"):
        status = 404
    elif state.startswith(("22", "23", "P0", "SR", "SQ")):
        status = 400
    else:
        status = 500
    return RestError(status, state, diag.message_primary or str(exc), diag.message_detail)


@dataclass
class Caller:
    role: str
    claims: dict[str, Any]


@contextmanager
def as_caller(conn: psycopg.Connection, caller: Caller) -> Iterator[psycopg.Connection]:
    """One transaction under the caller's role and claims (what PostgREST does per request)."""
    with conn.transaction():
        conn.execute(sql.SQL("set local role {}").format(sql.Identifier(caller.role)))
        conn.execute(
            "select set_config('request.jwt.claims', %s, true)", [json.dumps(caller.claims)]
        )
        yield conn


class Rest:
    """Translate PostgREST requests into SQL on the public schema."""

    def __init__(self) -> None:
        self._columns: dict[str, dict[str, str]] = {}
        self._functions: dict[str, tuple[dict[str, str], bool, bool]] = {}

    # ---- catalogue -------------------------------------------------------------------------

    def columns(self, conn: psycopg.Connection, table: str) -> dict[str, str]:
        if table not in self._columns:
            rows = conn.execute(
                "select a.attname, format_type(a.atttypid, a.atttypmod) from pg_attribute a "
                "where a.attrelid = to_regclass(%s) and a.attnum > 0 and not a.attisdropped",
                [f"public.{table}"],
            ).fetchall()
            if not rows:
                raise RestError(404, "42P01", f'relation "public.{table}" does not exist')
            self._columns[table] = {r[0]: r[1] for r in rows}
        return self._columns[table]

    def function(self, conn: psycopg.Connection, name: str) -> tuple[dict[str, str], bool, bool]:
        """(argument name → type, returns a set or a row type, returns a scalar array)."""
        if name not in self._functions:
            row = conn.execute(
                "select p.proargnames, array(select format_type(t, null) from "
                "unnest(p.proargtypes) t), p.proretset, t.typtype = 'c' or p.proretset, "
                "p.prorettype::regtype::text "
                "from pg_proc p join pg_type t on t.oid = p.prorettype "
                "where p.pronamespace = 'public'::regnamespace and p.proname = %s",
                [name],
            ).fetchone()
            if row is None:
                raise RestError(404, "PGRST202", f"Could not find the function public.{name}")
            names, types, _retset, rows_out, _ret = row
            args = dict(zip((names or [])[: len(types)], types, strict=True))
            self._functions[name] = (args, rows_out, False)
        return self._functions[name]

    # ---- requests --------------------------------------------------------------------------

    def select(
        self,
        conn: psycopg.Connection,
        table: str,
        params: list[tuple[str, str]],
        *,
        count: bool,
    ) -> tuple[list[dict[str, Any]], int | None]:
        cols = self.columns(conn, table)
        where, args = self._where(cols, params)
        query = dict(params)
        select = self._select_list(cols, query.get("select", "*"))
        order = self._order(cols, query.get("order"))
        stmt = sql.SQL("select {} from {} where {} {}").format(
            select, sql.Identifier("public", table), where, order
        )
        if "limit" in query:
            stmt = sql.SQL("{} limit {}").format(stmt, sql.Literal(int(query["limit"])))
        if "offset" in query:
            stmt = sql.SQL("{} offset {}").format(stmt, sql.Literal(int(query["offset"])))
        rows = _json_rows(conn, stmt, args)
        total = None
        if count:
            total = conn.execute(
                sql.SQL("select count(*) from {} where {}").format(
                    sql.Identifier("public", table), where
                ),
                args,
            ).fetchone()[0]
        return rows, total

    def insert(
        self,
        conn: psycopg.Connection,
        table: str,
        params: list[tuple[str, str]],
        body: Any,
        *,
        upsert: str | None,
    ) -> list[dict[str, Any]]:
        cols = self.columns(conn, table)
        rows = body if isinstance(body, list) else [body]
        names = sorted({k for r in rows for k in r})
        for name in names:
            _check_column(cols, name)
        targets = sql.SQL(", ").join(map(sql.Identifier, names))
        stmt = sql.SQL(
            "insert into {} ({}) select {} from json_populate_recordset(null::{}, %s)"
        ).format(
            sql.Identifier("public", table),
            targets,
            targets,
            sql.Identifier("public", table),
        )
        if upsert is not None:
            conflict = dict(params).get("on_conflict") or self._primary_key(conn, table)
            keys = [c.strip() for c in conflict.split(",")]
            for key in keys:
                _check_column(cols, key)
            if upsert == "ignore":
                action = sql.SQL("do nothing")
            else:
                action = sql.SQL("do update set {}").format(
                    sql.SQL(", ").join(
                        sql.SQL("{} = excluded.{}").format(sql.Identifier(n), sql.Identifier(n))
                        for n in names
                    )
                )
            stmt = sql.SQL("{} on conflict ({}) {}").format(
                stmt, sql.SQL(", ").join(map(sql.Identifier, keys)), action
            )
        return _json_returning(conn, stmt, [json.dumps(rows)])

    def update(
        self, conn: psycopg.Connection, table: str, params: list[tuple[str, str]], body: Any
    ) -> list[dict[str, Any]]:
        cols = self.columns(conn, table)
        if not isinstance(body, dict) or not body:
            raise RestError(400, "PGRST102", "Empty or invalid json")
        for name in body:
            _check_column(cols, name)
        where, args = self._where(cols, params)
        targets = sql.SQL(", ").join(map(sql.Identifier, body))
        stmt = sql.SQL(
            "update {} set ({}) = (select {} from json_populate_record(null::{}, %s)) where {}"
        ).format(
            sql.Identifier("public", table),
            targets,
            targets,
            sql.Identifier("public", table),
            where,
        )
        return _json_returning(conn, stmt, [json.dumps(body), *args])

    def delete(
        self, conn: psycopg.Connection, table: str, params: list[tuple[str, str]]
    ) -> list[dict[str, Any]]:
        cols = self.columns(conn, table)
        where, args = self._where(cols, params)
        stmt = sql.SQL("delete from {} where {}").format(sql.Identifier("public", table), where)
        return _json_returning(conn, stmt, args)

    def rpc(self, conn: psycopg.Connection, name: str, body: dict[str, Any]) -> Any:
        arg_types, rows_out, _ = self.function(conn, name)
        parts, args = [], []
        for key, value in body.items():
            if key not in arg_types:
                raise RestError(
                    404, "PGRST202", f"Could not find the function public.{name}({key})"
                )
            parts.append(
                sql.SQL("{} => %s::{}").format(sql.Identifier(key), sql.SQL(arg_types[key]))
            )
            args.append(_rpc_value(value, arg_types[key]))
        call = sql.SQL("{}({})").format(sql.Identifier("public", name), sql.SQL(", ").join(parts))
        if rows_out:
            return _json_rows(conn, sql.SQL("select * from {}").format(call), args)
        return conn.execute(sql.SQL("select to_json({})").format(call), args).fetchone()[0]

    # ---- pieces ----------------------------------------------------------------------------

    def _primary_key(self, conn: psycopg.Connection, table: str) -> str:
        rows = conn.execute(
            "select a.attname from pg_index i join pg_attribute a on a.attrelid = i.indrelid "
            "and a.attnum = any(i.indkey) where i.indrelid = to_regclass(%s) and i.indisprimary",
            [f"public.{table}"],
        ).fetchall()
        return ",".join(r[0] for r in rows)

    @staticmethod
    def _select_list(cols: dict[str, str], select: str) -> sql.Composable:
        if select.strip() == "*":
            return sql.SQL("*")
        names = [s.strip() for s in select.split(",") if s.strip()]
        for name in names:
            _check_column(cols, name)
        return sql.SQL(", ").join(map(sql.Identifier, names))

    @staticmethod
    def _order(cols: dict[str, str], order: str | None) -> sql.Composable:
        if not order:
            return sql.SQL("")
        terms = []
        for term in order.split(","):
            name, *mods = term.split(".")
            _check_column(cols, name)
            direction = "desc" if "desc" in mods else "asc"
            nulls = (
                " nulls first"
                if "nullsfirst" in mods
                else (" nulls last" if "nullslast" in mods else "")
            )
            terms.append(sql.SQL("{} " + direction + nulls).format(sql.Identifier(name)))
        return sql.SQL("order by {}").format(sql.SQL(", ").join(terms))

    @staticmethod
    def _where(
        cols: dict[str, str], params: list[tuple[str, str]]
    ) -> tuple[sql.Composable, list[Any]]:
        clauses: list[sql.Composable] = []
        args: list[Any] = []
        for name, raw in params:
            if name in RESERVED:
                continue
            _check_column(cols, name)
            op, _, value = raw.partition(".")
            column = sql.Identifier(name)
            cast = sql.SQL(cols[name])
            if op in _OPS:
                clauses.append(sql.SQL("{} " + _OPS[op] + " %s::{}").format(column, cast))
                args.append(value)
            elif op == "in":
                if not (value.startswith("(") and value.endswith(")")):
                    raise RestError(400, "PGRST100", f"failed to parse filter ({raw})")
                items = [v.strip().strip('"') for v in value[1:-1].split(",") if v.strip()]
                clauses.append(sql.SQL("{} = any(%s::{}[])").format(column, cast))
                args.append(items)
            elif op == "is" and value in ("null", "true", "false"):
                clauses.append(sql.SQL("{} is " + value).format(column))
            elif op in ("like", "ilike"):
                clauses.append(sql.SQL("{}::text " + op + " %s").format(column))
                args.append(value.replace("*", "%"))
            else:
                raise RestError(400, "PGRST100", f"failed to parse filter ({raw})")
        where = sql.SQL(" and ").join(clauses) if clauses else sql.SQL("true")
        return where, args


def _check_column(cols: dict[str, str], name: str) -> None:
    if not _NAME.match(name) or name not in cols:
        raise RestError(400, "42703", f"column {name!r} does not exist")


def _json_rows(conn: psycopg.Connection, stmt: sql.Composable, args: list[Any]) -> list[Any]:
    wrapped = sql.SQL("select coalesce(json_agg(t), '[]'::json) from ({}) t").format(stmt)
    return conn.execute(wrapped, args).fetchone()[0]


def _json_returning(conn: psycopg.Connection, stmt: sql.Composable, args: list[Any]) -> list[Any]:
    """A data-changing statement's rows (such a CTE must sit at the top level)."""
    wrapped = sql.SQL(
        "with w as ({} returning *) select coalesce(json_agg(w), '[]'::json) from w"
    ).format(stmt)
    return conn.execute(wrapped, args).fetchone()[0]


def _rpc_value(value: Any, pg_type: str) -> Any:
    if value is None:
        return None
    if pg_type in ("json", "jsonb"):
        return Jsonb(value)
    if pg_type.endswith("[]"):
        if not isinstance(value, list):
            raise RestError(400, "22P02", f"expected an array for {pg_type}")
        return [None if v is None else str(v) for v in value]
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value)
    return str(value)
