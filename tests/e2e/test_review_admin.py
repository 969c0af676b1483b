"""Review and admin in a real browser: a reviewer approves an image and its owner sees
"approved" in History; an admin purges old jobs after a preview and their files leave storage."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

from playwright.sync_api import Browser, Page, expect

from core.backends.sqlite import open_local_backend
from core.domain.models import JobStatus
from core.domain.settings import Settings
from tests.admin.conftest import Deployment, open_deployment
from tests.constants import PASSWORD
from tests.e2e.helpers import open_page, open_tile, sign_in, signed_in_marker


def seeded(tmp_path: Path) -> Deployment:
    """Users and jobs written to a DATA_DIR before the server starts (so no worker races the
    seeding); the caller closes it."""
    settings = Settings.load(env={"DATA_DIR": str(tmp_path / "data")}, secrets_path=None)
    return open_deployment(replace(settings, worker_enabled=False))


def signed_in_page(browser: Browser, url: str, email: str) -> Page:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(30_000)  # a loaded machine (two test workers, two cores)
    page = context.new_page()
    page.goto(url + "/")
    sign_in(page, email, PASSWORD)
    expect(signed_in_marker(page, email)).to_be_visible()
    return page


def test_a_reviewer_approves_and_the_owner_sees_approved_in_history(
    live_server_factory, browser: Browser, tmp_path: Path
) -> None:
    dep = seeded(tmp_path)
    job = dep.finished(dep.alice, 1, prompt="A heron in the reeds")[0]
    dep.backend.close()
    server = live_server_factory(data_dir=dep.settings.data_dir)

    reviewer = signed_in_page(browser, server.url, dep.reviewer.email)
    open_page(reviewer, "Review")
    main = reviewer.get_by_test_id("stMain")
    expect(main.get_by_role("button", name="A heron in the reeds", exact=True)).to_be_visible()
    open_tile(reviewer, main.locator(f".st-key-tile_{job.id}"))
    dialog = reviewer.get_by_role("dialog")
    dialog.get_by_label("Note (optional)").fill("Lovely light")
    dialog.get_by_role("button", name="Approve").click()
    # The last image of the queue: the dialog closes and the grid says what happened.
    expect(main.get_by_text("1 image approved.")).to_be_visible()
    reviewer.context.close()

    owner = signed_in_page(browser, server.url, dep.alice.email)
    open_page(owner, "History")
    main = owner.get_by_test_id("stMain")
    open_tile(owner, main.locator(f".st-key-tile_{job.id}"))
    expect(owner.get_by_role("dialog").get_by_text("Review: approved")).to_be_visible()
    expect(owner.get_by_text("Lovely light")).to_have_count(0)  # the note stays internal
    expect(owner.get_by_text(dep.reviewer.email)).to_have_count(0)
    owner.context.close()


def test_an_admin_purges_old_jobs_after_a_preview_and_their_files_are_gone(
    live_server_factory, browser: Browser, tmp_path: Path
) -> None:
    dep = seeded(tmp_path)
    old_failed = dep.finished(dep.bob, 3, status=JobStatus.FAILED, age=timedelta(days=2))
    old_done = dep.finished(dep.bob, 2, age=timedelta(days=2))
    recent = dep.finished(dep.bob, 1)[0]
    blobs = Path(dep.settings.data_dir) / "blobs"
    old_files = [blobs / p for j in old_done for p in (j.result_path, j.thumb_path) if p]
    assert all(f.is_file() for f in old_files)
    dep.backend.close()
    server = live_server_factory(data_dir=dep.settings.data_dir)

    admin = signed_in_page(browser, server.url, dep.admin.email)
    open_page(admin, "Admin")
    main = admin.get_by_test_id("stMain")
    main.get_by_test_id("stMultiSelect").first.click()
    admin.get_by_role("option", name="done").click()
    admin.keyboard.press("Escape")
    main.get_by_role("button", name="Preview").click()
    expect(
        main.get_by_text(re.compile(r"This deletes 5 job\(s\), 4 stored file\(s\)"))
    ).to_be_visible()
    assert all(f.is_file() for f in old_files)  # nothing goes before the confirmation

    main.get_by_role("button", name="Delete them").click()
    expect(
        main.get_by_text(re.compile(r"Purge finished: deleted 5 job\(s\), 4 file\(s\)"))
    ).to_be_visible()
    admin.context.close()

    assert not any(f.exists() for f in old_files)
    assert (blobs / (recent.result_path or "")).is_file()
    after = open_local_backend(dep.settings)
    try:
        assert all(after.jobs.get_job(j.id) is None for j in old_failed + old_done)
        assert after.jobs.get_job(recent.id) is not None
    finally:
        after.close()
