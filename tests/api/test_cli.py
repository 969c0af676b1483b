"""The management CLI, run as `python -m core` in a subprocess on the test's DATA_DIR, and the
API accepting what it creates."""

from __future__ import annotations

import io
from dataclasses import replace

import pytest
from starlette.testclient import TestClient

from core.cli import main
from core.domain.errors import ValidationError
from core.domain.models import JobQuery, JobStatus, Role
from core.domain.settings import Settings
from core.runtime import Runtime
from tests.api.conftest import ApiUser, build_test_runtime, cli, wait_for


def test_cli_bootstraps_users_and_tokens_that_the_api_accepts(
    settings: Settings, client: TestClient, runtime: Runtime
) -> None:
    data = settings.data_dir
    added = cli(data, "users", "add", "--email", "Root@Example.com", "--password", "-",
                stdin="correct horse battery\n")  # fmt: skip
    assert added.returncode == 0, added.stderr
    assert "role=admin" in added.stdout  # the first account
    created = cli(data, "tokens", "create", "--email", "root@example.com", "--name", "ci")
    assert created.returncode == 0, created.stderr
    token = created.stdout.strip().splitlines()[-1]
    auth = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/jobs", headers=auth).status_code == 200

    root = runtime.backend.accounts.find_user_by_email("root@example.com")
    token_id = runtime.services.accounts.list_api_tokens(root)[0].id
    code, listed, _ = run_main(settings, "tokens", "list", "--email", "root@example.com")
    assert code == 0 and token_id in listed and token not in listed
    assert run_main(settings, "tokens", "revoke", "--email", "root@example.com",
                    "--id", token_id)[0] == 0  # fmt: skip
    assert client.get("/api/jobs", headers=auth).status_code == 401


def test_cli_adds_users_with_roles_and_changes_roles(settings: Settings, runtime: Runtime) -> None:
    for email, role in (("root@example.com", "admin"), ("a@example.com", "user"),
                        ("rev@example.com", "reviewer")):  # fmt: skip
        code, out, err = run_main(settings, "users", "add", "--email", email, "--password",
                                  "correct horse battery", "--role", role)  # fmt: skip
        assert code == 0, err
        assert f"role={role}" in out
    assert run_main(settings, "users", "set-role", "--email", "a@example.com",
                    "--role", "admin")[0] == 0  # fmt: skip
    code, listing, _ = run_main(settings, "users", "list")
    assert code == 0 and "rev@example.com" in listing and "3 user(s)" in listing
    assert {u.email: u.role for u in runtime.backend.accounts.list_users()} == {
        "root@example.com": Role.ADMIN,
        "a@example.com": Role.ADMIN,
        "rev@example.com": Role.REVIEWER,
    }


def test_cli_refuses_to_demote_the_last_admin(settings: Settings, runtime: Runtime) -> None:
    added = cli(settings.data_dir, "users", "add", "--email", "root@example.com",
                "--password", "-", stdin="correct horse battery\n")  # fmt: skip
    assert added.returncode == 0, added.stderr

    demoted = cli(settings.data_dir, "users", "set-role", "--email", "root@example.com",
                  "--role", "reviewer")  # fmt: skip

    assert demoted.returncode == 1 and demoted.stdout == ""
    assert demoted.stderr.startswith("error: ") and "last admin" in demoted.stderr
    assert "Traceback" not in demoted.stderr
    root = runtime.backend.accounts.find_user_by_email("root@example.com")
    assert root.role is Role.ADMIN


def test_cli_refuses_a_first_account_without_the_admin_role(
    settings: Settings, runtime: Runtime
) -> None:
    code, out, err = run_main(settings, "users", "add", "--email", "a@example.com",
                              "--password", "correct horse battery", "--role", "user")  # fmt: skip
    assert code == 1 and out == "" and "first account is the admin" in err
    assert runtime.backend.accounts.list_users() == []


def test_jobs_purge_previews_then_deletes_files_and_rows(
    settings: Settings,
    client: TestClient,
    runtime: Runtime,
    alice: ApiUser,
    run_worker,
) -> None:
    run_worker()
    body = {"provider": "demo", "prompt": "a kite"}
    done_ids = [client.post("/api/jobs", json=body, headers=alice.headers).json()["id"]
                for _ in range(2)]  # fmt: skip
    failed_id = client.post(
        "/api/jobs", json={**body, "prompt": "a kite [fail:safety]"}, headers=alice.headers
    ).json()["id"]
    done = [wait_for(runtime, i, {JobStatus.DONE}) for i in done_ids]
    wait_for(runtime, failed_id, {JobStatus.FAILED})
    paths = [p for job in done for p in (job.result_path, job.thumb_path) if p]
    stored = sum(runtime.backend.blobs.size(p) for p in paths)

    preview = cli(settings.data_dir, "jobs", "purge", "--status", "done",
                  "--older-than", "0s", "--dry-run")  # fmt: skip
    assert preview.returncode == 0, preview.stderr
    assert "would delete 2 job(s)" in preview.stdout
    assert all(runtime.backend.blobs.size(p) for p in paths)
    assert stored > 0

    purged = cli(settings.data_dir, "jobs", "purge", "--status", "done", "--older-than", "0s")
    assert purged.returncode == 0, purged.stderr
    assert "deleted 2 job(s)" in purged.stdout
    assert all(runtime.backend.blobs.size(p) is None for p in paths)
    assert all(runtime.backend.jobs.get_job(i) is None for i in done_ids)
    assert runtime.backend.jobs.get_job(failed_id).status is JobStatus.FAILED


def test_sweep_deletes_only_jobs_past_their_retention(
    settings: Settings, client: TestClient, runtime: Runtime, alice: ApiUser
) -> None:
    ids = [client.post("/api/jobs", json={"provider": "demo", "prompt": "x"},
                       headers=alice.headers).json()["id"] for _ in range(2)]  # fmt: skip
    for job_id in ids:
        client.delete("/api/jobs", params={"id": job_id}, headers=alice.headers)  # canceled
    kept = cli(settings.data_dir, "sweep", env={"RETENTION_FAILED": "1d"})
    assert kept.returncode == 0, kept.stderr
    assert len(runtime.services.jobs.list_jobs(alice.user, JobQuery()).items) == 2
    swept = cli(settings.data_dir, "sweep", env={"RETENTION_FAILED": "0s"})
    assert swept.returncode == 0, swept.stderr
    assert "deleted 2 job(s)" in swept.stdout
    assert runtime.services.jobs.list_jobs(alice.user, JobQuery()).items == []


def test_cli_prints_a_one_time_reset_link_that_sets_a_new_password(
    settings: Settings, runtime: Runtime, alice: ApiUser
) -> None:
    session = runtime.services.accounts.sign_in(alice.user.email, "correct horse battery")
    code, out, err = run_main(settings, "users", "reset-password", "--email", alice.user.email)
    assert code == 0, err
    link = out.strip().splitlines()[-1]
    assert "valid 30 min" in out and link.startswith("/?reset=")
    token = link.removeprefix("/?reset=")
    stored = [f.read_bytes() for f in settings.data_dir.rglob("*.db*")]
    assert stored and not any(token.encode() in data for data in stored)  # only its hash

    runtime.services.accounts.reset_password(token, "a brand new passphrase")

    assert runtime.services.accounts.user_for_session(session.session_token) is None
    runtime.services.accounts.sign_in(alice.user.email, "a brand new passphrase")
    with pytest.raises(ValidationError, match="already used"):
        runtime.services.accounts.reset_password(token, "yet another passphrase")


def test_cli_reset_links_start_with_public_url(
    settings: Settings, runtime: Runtime, alice: ApiUser
) -> None:
    public = replace(settings, public_url="https://studio.example.com")
    code, out, err = run_main(public, "users", "reset-password", "--email", alice.user.email)
    assert code == 0, err
    assert out.strip().splitlines()[-1].startswith("https://studio.example.com/?reset=")


# ---- refusals (in-process: same parser and code, no subprocess start-up) ------------------------


def run_main(settings: Settings, *argv: str, stdin: str = "") -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(
        list(argv),
        runtime_factory=lambda: build_test_runtime(replace(settings, worker_enabled=False)),
        stdin=io.StringIO(stdin),
        stdout=out,
        stderr=err,
    )
    return code, out.getvalue(), err.getvalue()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (("users", "set-role", "--email", "ghost@example.com", "--role", "admin"), "No user"),
        (("tokens", "create", "--email", "ghost@example.com"), "No user"),
        (("users", "reset-password", "--email", "ghost@example.com"), "No user"),
        (("tokens", "revoke", "--email", "alice@example.com", "--id", "nope"), "No such token"),
        (("users", "add", "--email", "not-an-email", "--password", "long enough"), "email"),
        (("users", "add", "--email", "alice@example.com", "--password", "long enough"), "exists"),
        (("users", "add", "--email", "x@example.com", "--password", "short"), "8"),
    ],
)
def test_refused_commands_exit_1_with_a_message_and_change_nothing(
    settings: Settings, runtime: Runtime, alice: ApiUser, argv: tuple[str, ...], message: str
) -> None:
    before = runtime.backend.accounts.list_users()
    code, out, err = run_main(settings, *argv)
    assert code == 1 and out == ""
    assert err.startswith("error: ") and message.lower() in err.lower()
    assert "Traceback" not in err
    assert runtime.backend.accounts.list_users() == before


@pytest.mark.parametrize(
    "argv",
    [
        ("jobs", "purge", "--status", "queued", "--older-than", "1d"),
        ("jobs", "purge", "--status", "done", "--older-than", "soon"),
        ("jobs", "purge", "--older-than", "1d"),
        ("users", "add", "--email", "x@example.com"),
        ("users", "set-role", "--email", "x@example.com", "--role", "owner"),
        ("frobnicate",),
    ],
)
def test_usage_errors_exit_2(settings: Settings, argv: tuple[str, ...], capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        run_main(settings, *argv)
    assert exit_info.value.code == 2
    assert "usage:" in capsys.readouterr().err


def test_help_documents_every_command(settings: Settings, capsys) -> None:
    with pytest.raises(SystemExit):
        run_main(settings, "--help")
    text = capsys.readouterr().out
    for command in ("users", "tokens", "jobs", "sweep"):
        assert command in text
    for group, actions in (("users", "add list set-role"), ("tokens", "create list revoke"),
                           ("jobs", "purge")):  # fmt: skip
        with pytest.raises(SystemExit):
            run_main(settings, group, "--help")
        text = capsys.readouterr().out
        assert all(action in text for action in actions.split())
