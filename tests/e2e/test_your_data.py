"""Your data in a real browser: export the zip, then delete the account and find no file of it
left under DATA_DIR, and no way to sign in with it."""

from __future__ import annotations

import json
import os
import re
import zipfile
from pathlib import Path

from playwright.sync_api import Page, expect

from tests.constants import PASSWORD
from tests.e2e.helpers import (
    SIGNED_OUT_TEXT,
    generate,
    open_page,
    sign_in,
    sign_up,
    signed_in_marker,
)

SHOTS = os.environ.get("YOUR_DATA_SHOTS")  # a folder: also save screenshots there


def _shot(page: Page, name: str) -> None:
    if not SHOTS:
        return
    Path(SHOTS).mkdir(parents=True, exist_ok=True)
    for width, height in ((1280, 900), (390, 844)):
        page.set_viewport_size({"width": width, "height": height})
        page.wait_for_timeout(700)
        page.get_by_text(re.compile("^Delete ")).last.scroll_into_view_if_needed()
        page.screenshot(path=f"{SHOTS}/{name}-{width}.png", full_page=True)
    page.set_viewport_size({"width": 1280, "height": 900})


def _sign_out(page: Page) -> None:
    open_page(page, "Account")
    page.get_by_test_id("stMain").get_by_role("button", name="Sign out", exact=True).click()
    expect(page.get_by_role("tab", name="Create account")).to_be_visible()


def test_export_then_delete_my_account_leaves_no_file(
    live_server_factory, page: Page, tmp_path: Path
) -> None:
    server = live_server_factory()
    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(server.url + "/")
    sign_up(page, "admin@example.com", PASSWORD)  # the first account is the admin
    expect(signed_in_marker(page, "admin@example.com")).to_be_visible()
    _sign_out(page)

    email = "ada@example.com"
    sign_up(page, email, PASSWORD)
    expect(signed_in_marker(page, email)).to_be_visible()
    generate(page, "A lighthouse on a cliff at dawn", count=2)
    main = page.get_by_test_id("stMain")
    expect(main.get_by_text(re.compile(r"Done$"))).to_have_count(2, timeout=30_000)
    blobs = server.data_dir / "blobs"
    (folder,) = [p.name for p in blobs.iterdir() if p.is_dir()]  # ada's: the admin has none
    assert len(list((blobs / folder).iterdir())) == 4  # two images, two thumbnails

    open_page(page, "Account")
    main.get_by_role("button", name="Export my data").click()
    expect(main.get_by_text(re.compile(r"2 jobs, 4 files"))).to_be_visible()
    _shot(page, "account-your-data")
    with page.expect_download() as info:
        main.get_by_role("link", name=re.compile("Download the zip")).click()
    download = info.value
    assert re.fullmatch(r"image-studio-export-\d{8}\.zip", download.suggested_filename)
    saved = tmp_path / download.suggested_filename
    download.save_as(saved)
    with zipfile.ZipFile(saved) as archive:
        assert len(json.loads(archive.read("jobs.json"))) == 2
        assert len([n for n in archive.namelist() if n != "jobs.json"]) == 4

    main.locator("summary", has_text="Delete my account").click()  # the expander
    main.get_by_label("Type your email to confirm").fill("someone-else@example.com")
    main.get_by_role("button", name="Delete my account").click()
    expect(main.get_by_text(re.compile("nothing was deleted"))).to_be_visible()
    _shot(page, "account-delete-refused")
    assert (blobs / folder).is_dir()

    main.get_by_label("Type your email to confirm").fill("ADA@example.com")
    main.get_by_role("button", name="Delete my account").click()
    expect(page.get_by_role("tab", name="Create account")).to_be_visible()

    left = [
        os.path.join(root, name)
        for root, dirs, files in os.walk(server.data_dir)
        for name in dirs + files
        if folder in name or folder in root
    ]
    assert left == []
    page.reload()
    expect(page.get_by_text(SIGNED_OUT_TEXT).first).to_be_visible()
    sign_in(page, email, PASSWORD)
    expect(page.get_by_text("Wrong email or password.")).to_be_visible()
    expect(signed_in_marker(page, email)).to_have_count(0)

    # The admin's Users section offers the same deletion.
    sign_in(page, "admin@example.com", PASSWORD)
    expect(signed_in_marker(page, "admin@example.com")).to_be_visible()
    open_page(page, "Admin")
    main.get_by_role("radiogroup").get_by_text("Users").click()
    main.locator("summary", has_text="Delete this user").click()
    expect(main.get_by_role("button", name="Delete user")).to_be_visible()
    main.get_by_label("Type the user's email to confirm").fill("admin@example.com")
    main.get_by_role("button", name="Delete user").click()
    expect(main.get_by_text(re.compile("last admin"))).to_be_visible()  # refused: the only admin
    main.get_by_role("button", name="Delete user").scroll_into_view_if_needed()
    _shot(page, "admin-delete-user")
