"""The management CLI, `python -m core`: users, API tokens, purging jobs, one sweep, and
`worker`, a headless worker. For admins (bootstrap, cron, scale-out) and for tests and scripts
that need users and tokens without a browser. It opens the configured backend (local or
Supabase, from the same env / secrets.toml as the app); only `worker` starts a worker."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import TextIO

from core.domain.errors import StudioError
from core.domain.models import JobStatus, Role
from core.domain.policy import RESET_LINK_SECONDS
from core.domain.settings import Settings, parse_duration
from core.runtime import Runtime, build_runtime

log = logging.getLogger(__name__)

PURGEABLE = tuple(s.value for s in JobStatus if s.finished)

EPILOG = """\
examples:
  python -m core users add --email admin@example.com --password - --role admin  (password on stdin)
  python -m core users reset-password --email someone@example.com  (one-time link, local mode)
  python -m core tokens create --email admin@example.com --name ci
  python -m core jobs purge --status failed --status canceled --older-than 24h --dry-run
  python -m core sweep
  python -m core worker

Settings come from the environment and .streamlit/secrets.toml, as for the app
(DATA_DIR for the local backend; SUPABASE_URL and keys for Supabase)."""


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (its --help is the CLI's documentation)."""
    parser = argparse.ArgumentParser(
        prog="python -m core",
        description="Manage the image studio: users, API tokens, job purges, sweeps, workers.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    groups = parser.add_subparsers(dest="group", required=True, metavar="COMMAND")
    roles = [r.value for r in Role]

    users = groups.add_parser("users", help="create and list users, set roles")
    users_cmd = users.add_subparsers(dest="command", required=True, metavar="ACTION")
    add = users_cmd.add_parser("add", help="create a user")
    add.add_argument("--email", required=True)
    add.add_argument(
        "--password", required=True, help="at least 8 characters; '-' reads it from stdin"
    )
    add.add_argument(
        "--role",
        choices=roles,
        help="default: admin for the first user or an ADMIN_EMAILS address, else user",
    )
    add.set_defaults(run=_users_add)
    listing = users_cmd.add_parser("list", help="list every user")
    listing.set_defaults(run=_users_list)
    set_role = users_cmd.add_parser("set-role", help="change a user's role")
    set_role.add_argument("--email", required=True)
    set_role.add_argument("--role", required=True, choices=roles)
    set_role.set_defaults(run=_users_set_role)
    reset = users_cmd.add_parser(
        "reset-password",
        help="print a one-time password reset link (local mode; valid 30 min, shown once)",
    )
    reset.add_argument("--email", required=True)
    reset.set_defaults(run=_users_reset_password)

    tokens = groups.add_parser("tokens", help="personal API tokens (Authorization: Bearer)")
    tokens_cmd = tokens.add_subparsers(dest="command", required=True, metavar="ACTION")
    create = tokens_cmd.add_parser(
        "create", help="create a token; prints it once, alone on the last line"
    )
    create.add_argument("--email", required=True)
    create.add_argument("--name", default="CLI token")
    create.set_defaults(run=_tokens_create)
    token_list = tokens_cmd.add_parser("list", help="list a user's tokens (never their secrets)")
    token_list.add_argument("--email", required=True)
    token_list.set_defaults(run=_tokens_list)
    revoke = tokens_cmd.add_parser("revoke", help="revoke a token")
    revoke.add_argument("--email", required=True)
    revoke.add_argument("--id", required=True, dest="token_id", help="the token id")
    revoke.set_defaults(run=_tokens_revoke)

    jobs = groups.add_parser("jobs", help="job maintenance")
    jobs_cmd = jobs.add_subparsers(dest="command", required=True, metavar="ACTION")
    purge = jobs_cmd.add_parser(
        "purge",
        help="delete finished jobs and their files (files first, then rows)",
    )
    purge.add_argument(
        "--status",
        action="append",
        required=True,
        choices=PURGEABLE,
        help="repeat for several statuses",
    )
    purge.add_argument(
        "--older-than",
        required=True,
        type=_duration,
        help="finished at least this long ago: 90s, 15m, 24h, 7d",
    )
    purge.add_argument("--dry-run", action="store_true", help="count jobs and bytes only")
    purge.set_defaults(run=_jobs_purge)

    sweep = groups.add_parser(
        "sweep",
        help="one retention sweep now (RETENTION_DONE, RETENTION_FAILED), as the hourly sweeper",
    )
    sweep.set_defaults(run=_sweep)

    groups.add_parser(
        "worker",
        help="run a headless worker until SIGINT/SIGTERM (any number share the queue and the cap)",
    )
    return parser


def main(
    argv: Sequence[str] | None = None,
    *,
    runtime_factory: Callable[[], Runtime] = build_runtime,
    stdin: TextIO | None = None,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
) -> int:
    """Run one command; returns the exit status (0 ok, 1 refused, 2 usage error)."""
    args = build_parser().parse_args(argv)
    if args.group == "worker":
        run_worker()
        return 0
    out, err = stdout or sys.stdout, stderr or sys.stderr
    args.stdin = stdin or sys.stdin
    runtime = runtime_factory()
    try:
        args.run(runtime, args, out)
    except StudioError as exc:
        print(f"error: {exc.message}", file=err)
        return 1
    finally:
        runtime.stop()
    return 0


# ---- users ------------------------------------------------------------------------------------


def _users_add(runtime: Runtime, args: argparse.Namespace, out: TextIO) -> None:
    password = args.password
    if password == "-":
        password = args.stdin.readline().rstrip("\r\n")
    user = runtime.services.admin.add_user(args.email, password, args.role)
    print(f"created {user.email} role={user.role.value} id={user.id}", file=out)


def _users_list(runtime: Runtime, args: argparse.Namespace, out: TextIO) -> None:
    users = runtime.services.admin.all_users()
    print(f"{'EMAIL':<32} {'ROLE':<9} {'STATE':<9} {'CREATED':<17} ID", file=out)
    for user in users:
        state = "disabled" if user.disabled else "active"
        created = user.created_at.strftime("%Y-%m-%d %H:%M") if user.created_at else "-"
        print(f"{user.email:<32} {user.role.value:<9} {state:<9} {created:<17} {user.id}", file=out)
    print(f"{len(users)} user(s)", file=out)


def _users_set_role(runtime: Runtime, args: argparse.Namespace, out: TextIO) -> None:
    user = runtime.services.admin.find_user(args.email)
    changed = runtime.services.admin.operator_set_role(user.id, args.role)
    print(f"{user.email}: role {user.role.value} -> {changed.role.value}", file=out)


def _users_reset_password(runtime: Runtime, args: argparse.Namespace, out: TextIO) -> None:
    link = runtime.services.admin.operator_reset_link(args.email)
    minutes = RESET_LINK_SECONDS // 60
    email = args.email.strip()
    print(f"one-time reset link for {email} (valid {minutes} min, shown once):", file=out)
    print(link, file=out)


# ---- tokens -----------------------------------------------------------------------------------


def _tokens_create(runtime: Runtime, args: argparse.Namespace, out: TextIO) -> None:
    user = runtime.services.admin.find_user(args.email)
    token, secret = runtime.services.accounts.create_api_token(user, args.name)
    print(f"created token id={token.id} name={token.name!r} for {user.email}", file=out)
    print("Store it now; it is not shown again:", file=out)
    print(secret, file=out)


def _tokens_list(runtime: Runtime, args: argparse.Namespace, out: TextIO) -> None:
    user = runtime.services.admin.find_user(args.email)
    tokens = runtime.services.accounts.list_api_tokens(user)
    for token in tokens:
        used = token.last_used_at.strftime("%Y-%m-%d %H:%M") if token.last_used_at else "never"
        state = "revoked" if token.revoked else "active"
        print(f"{token.id}  {state:<8} last used {used:<16} {token.name}", file=out)
    print(f"{len(tokens)} token(s)", file=out)


def _tokens_revoke(runtime: Runtime, args: argparse.Namespace, out: TextIO) -> None:
    user = runtime.services.admin.find_user(args.email)
    runtime.services.accounts.revoke_api_token(user, args.token_id)
    print(f"revoked token {args.token_id} of {user.email}", file=out)


# ---- jobs -------------------------------------------------------------------------------------


def _jobs_purge(runtime: Runtime, args: argparse.Namespace, out: TextIO) -> None:
    statuses = tuple(JobStatus(s) for s in dict.fromkeys(args.status))
    before = datetime.now(UTC) - timedelta(seconds=args.older_than)
    admin = runtime.services.admin
    if args.dry_run:
        summary = admin.purge_jobs_preview(statuses, before)
        names = ",".join(s.value for s in statuses)
        print(
            f"dry run: would delete {summary.jobs} job(s) ({names}, finished before "
            f"{before:%Y-%m-%d %H:%M} UTC), {summary.objects} file(s), {summary.bytes} bytes",
            file=out,
        )
        return
    result = admin.purge_jobs(statuses, before)
    print(f"deleted {result.jobs} job(s), {result.objects} file(s), {result.bytes} bytes", file=out)
    if result.failed_jobs:
        raise StudioError(
            f"{len(result.failed_jobs)} job(s) kept: their files could not be deleted; "
            "run again later."
        )


def _sweep(runtime: Runtime, args: argparse.Namespace, out: TextIO) -> None:
    result = runtime.services.admin.sweep()
    print(f"sweep: deleted {result.jobs} job(s), {result.bytes} bytes", file=out)


# ---- helpers ----------------------------------------------------------------------------------


def _duration(text: str) -> float:
    try:
        seconds = parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    if seconds < 0:
        raise argparse.ArgumentTypeError("a duration cannot be negative")
    return seconds


# ---- the headless worker ----------------------------------------------------------------------


def run_worker() -> None:
    """Headless worker: settings from env, graceful stop on SIGINT/SIGTERM."""
    logging.basicConfig(
        level=os.environ.get("LOG_LEVEL", "INFO").upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    settings = replace(Settings.load(), worker_enabled=True)
    runtime = build_runtime(settings)
    stop = threading.Event()

    def on_signal(signum: int, _frame: object) -> None:
        if stop.is_set():
            log.warning("second signal: exiting now")
            os._exit(1)
        log.info("signal %s: stopping (grace %.0fs)", signum, settings.shutdown_grace_seconds)
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    runtime.start()
    log.info("headless worker running on the %s backend", runtime.services.admin.backend_name())
    while not stop.wait(1.0):
        pass
    runtime.stop()
