"""Your data: deleting an account (files first, then every row; the typed email must match;
the last admin is refused) and exporting it (a zip of jobs.json and every file)."""

from __future__ import annotations

import io
import json
import zipfile
from dataclasses import replace

import pytest

from core.domain.errors import Conflict, InvalidCredentials, ValidationError
from core.domain.models import Job, JobQuery, Role, User
from core.domain.paths import result_paths
from core.domain.settings import Settings
from core.ports import Backend
from core.services import Services, build_services
from tests.constants import LEASE, PASSWORD
from tests.contract.support import submit


@pytest.fixture
def services(backend: Backend, settings: Settings) -> Services:
    return build_services(backend, {}, replace(settings, admin_emails=frozenset()))


def finished_jobs(backend: Backend, user: User, count: int, *, size: int = 64) -> list[Job]:
    """`count` done jobs of `user`, each with an image and a thumbnail in the blob store."""
    submit(backend, user, count)
    for _ in range(count):
        job = backend.jobs.claim("test-worker", LEASE, 1_000_000)
        assert job is not None
        image, thumb = result_paths(job, "png")
        backend.blobs.put(image, job.id.encode().ljust(size, b"i"), "image/png")
        backend.blobs.put(thumb, job.id.encode().ljust(size // 2, b"t"), "image/webp")
        meta = {"bytes": size, "mime": "image/png"}
        assert backend.jobs.finish(
            job.id, "test-worker", result_path=image, thumb_path=thumb, result_meta=meta
        )
    return backend.jobs.list_jobs(JobQuery(user_id=user.id, limit=100)).items


def everything_of(backend: Backend, user: User, jobs: list[Job], token: str) -> dict[str, object]:
    return {
        "user": backend.accounts.get_user(user.id),
        "jobs": [backend.jobs.get_job(j.id) for j in jobs],
        "files": [backend.blobs.size(p) for j in jobs for p in (j.result_path, j.thumb_path) if p],
        "session": backend.accounts.resolve_session(token),
    }


def test_a_wrong_email_confirmation_deletes_nothing(services: Services, backend: Backend) -> None:
    services.accounts.sign_up("admin@example.com", PASSWORD)
    ada = services.accounts.sign_up("ada@example.com", PASSWORD)
    jobs = finished_jobs(backend, ada.user, 2)
    before = everything_of(backend, ada.user, jobs, ada.session_token)
    for typed in ("", "  ", "admin@example.com", "ada@example.org", None):
        with pytest.raises(ValidationError, match="nothing was deleted"):
            services.accounts.delete_account(ada.user, typed)  # type: ignore[arg-type]
    admin = services.accounts.sign_in("admin@example.com", PASSWORD).user
    with pytest.raises(ValidationError):
        services.admin.delete_user(admin, ada.user.id, "admin@example.com")
    assert everything_of(backend, ada.user, jobs, ada.session_token) == before
    assert before["user"] is not None and all(before["files"])  # type: ignore[arg-type]


def test_the_last_admin_cannot_delete_themselves_nor_be_deleted(
    services: Services, backend: Backend
) -> None:
    admin = services.accounts.sign_up("admin@example.com", PASSWORD)
    jobs = finished_jobs(backend, admin.user, 1)
    before = everything_of(backend, admin.user, jobs, admin.session_token)
    with pytest.raises(Conflict, match="last admin"):
        services.accounts.delete_account(admin.user, "ADMIN@example.com")
    with pytest.raises(Conflict, match="last admin"):  # the store's own guard, too
        backend.accounts.delete_user(admin.user.id)
    assert everything_of(backend, admin.user, jobs, admin.session_token) == before

    other = services.accounts.sign_up("other@example.com", PASSWORD)
    backend.accounts.set_role(other.user.id, Role.ADMIN)
    backend.accounts.set_disabled(other.user.id, True)  # a disabled admin does not count
    with pytest.raises(Conflict, match="last admin"):
        services.accounts.delete_account(admin.user, "admin@example.com")
    backend.accounts.set_disabled(other.user.id, False)
    other_user = backend.accounts.get_user(other.user.id)
    assert other_user is not None
    # Now there are two: one may delete the other, and then the survivor is the last.
    services.admin.delete_user(other_user, admin.user.id, "admin@example.com")
    assert backend.accounts.get_user(admin.user.id) is None
    with pytest.raises(Conflict, match="last admin"):
        services.accounts.delete_account(other_user, "other@example.com")


def test_deleting_an_account_leaves_no_row_no_file_no_session_no_token(
    services: Services, backend: Backend
) -> None:
    services.accounts.sign_up("admin@example.com", PASSWORD)
    ada = services.accounts.sign_up("Ada@Example.com", PASSWORD)
    bob = services.accounts.sign_up("bob@example.com", PASSWORD)
    jobs = finished_jobs(backend, ada.user, 3)
    bobs = finished_jobs(backend, bob.user, 1)
    queued = submit(backend, ada.user, 2)
    _token, secret = services.accounts.create_api_token(ada.user, "script")
    second = services.accounts.sign_in("ada@example.com", PASSWORD)
    backend.blobs.put(f"{ada.user.id}/upload.png", b"an input", "image/png")  # no row names it

    services.accounts.delete_account(ada.user, " ADA@example.COM ")

    assert backend.accounts.get_user(ada.user.id) is None
    assert backend.accounts.find_user_by_email("ada@example.com") is None
    assert all(backend.jobs.get_job(j.id) is None for j in jobs + queued)
    assert backend.jobs.list_jobs(JobQuery(user_id=ada.user.id)).items == []
    assert all(backend.blobs.size(p) is None for j in jobs for p in (j.result_path, j.thumb_path))
    assert backend.blobs.size(f"{ada.user.id}/upload.png") is None
    assert backend.accounts.resolve_session(ada.session_token) is None
    assert backend.accounts.resolve_session(second.session_token) is None
    assert backend.accounts.resolve_api_token(secret) is None
    with pytest.raises(InvalidCredentials):
        backend.accounts.sign_in("ada@example.com", PASSWORD)
    # Bob is untouched.
    assert backend.jobs.get_job(bobs[0].id) is not None
    assert backend.blobs.size(bobs[0].result_path or "") is not None
    assert backend.accounts.resolve_session(bob.session_token) is not None
    # The address is free again.
    assert services.accounts.sign_up("ada@example.com", PASSWORD).user.id != ada.user.id


def test_an_admin_deletes_a_user_the_same_way(services: Services, backend: Backend) -> None:
    admin = services.accounts.sign_up("admin@example.com", PASSWORD).user
    ada = services.accounts.sign_up("ada@example.com", PASSWORD)
    jobs = finished_jobs(backend, ada.user, 2)
    services.admin.delete_user(admin, ada.user.id, "ada@example.com")
    assert backend.accounts.get_user(ada.user.id) is None
    assert all(backend.blobs.size(j.result_path or "") is None for j in jobs)
    assert backend.accounts.resolve_session(ada.session_token) is None


def test_an_account_with_an_image_being_generated_is_not_deleted(
    services: Services, backend: Backend
) -> None:
    services.accounts.sign_up("admin@example.com", PASSWORD)
    ada = services.accounts.sign_up("ada@example.com", PASSWORD)
    done = finished_jobs(backend, ada.user, 1)
    submit(backend, ada.user, 1)
    assert backend.jobs.claim("test-worker", LEASE, 1_000_000) is not None
    with pytest.raises(Conflict, match="being generated"):
        services.accounts.delete_account(ada.user, "ada@example.com")
    assert backend.accounts.get_user(ada.user.id) is not None
    assert backend.blobs.size(done[0].result_path or "") is not None


def test_the_export_holds_every_job_and_file_of_the_user_only(
    services: Services, backend: Backend
) -> None:
    services.accounts.sign_up("admin@example.com", PASSWORD)
    ada = services.accounts.sign_up("ada@example.com", PASSWORD).user
    bob = services.accounts.sign_up("bob@example.com", PASSWORD).user
    jobs = finished_jobs(backend, ada, 3, size=100)
    finished_jobs(backend, bob, 1)
    queued = submit(backend, ada, 1, prompt="still waiting", params={"size": "1024x1024"})

    summary = services.accounts.export_summary(ada)
    assert (summary.jobs, summary.files, summary.bytes) == (4, 6, 3 * 100 + 3 * 50)

    archive = zipfile.ZipFile(io.BytesIO(b"".join(services.accounts.export_zip(ada))))
    assert archive.testzip() is None
    listed = json.loads(archive.read("jobs.json"))
    assert {j["id"] for j in listed} == {j.id for j in jobs + queued}
    waiting = next(j for j in listed if j["id"] == queued[0].id)
    assert waiting["prompt"] == "still waiting" and waiting["params"] == {"size": "1024x1024"}
    assert waiting["status"] == "queued" and waiting["review_status"] == "unreviewed"
    names = [n for n in archive.namelist() if n != "jobs.json"]
    assert len(names) == 6
    for record in listed:
        for name in record["files"]:
            assert name in names
    for job in jobs:
        (name,) = [n for n in names if job.id[:8] in n and n.startswith("images/")]
        assert archive.read(name) == backend.blobs.get(job.result_path or "")
