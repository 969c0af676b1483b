"""The interactive API docs at /api/docs in a real browser: Swagger UI renders every operation
from /api/openapi.json with nothing fetched from anywhere but this server, and "Try it out"
calls the API."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tests.live_server import live_server_factory  # noqa: F401  (fixture)


def test_the_api_docs_render_and_call_the_api_offline(
    page: Page,
    live_server_factory,  # noqa: F811
) -> None:
    server = live_server_factory()
    requested: list[str] = []
    failed: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.on("requestfailed", lambda request: failed.append(request.url))

    document = page.goto(server.url + "/api/docs")
    assert document is not None and document.ok
    for operation in ("createJob", "getJobs", "deleteJob", "health", "getFile"):
        expect(page.locator(f"#operations-default-{operation}")).to_be_visible()
    expect(page.get_by_text("Image Studio API").first).to_be_visible()

    health = page.locator("#operations-default-health")
    health.locator(".opblock-summary").click()
    health.get_by_role("button", name="Try it out").click()
    health.get_by_role("button", name="Execute").click()
    status = health.locator(".live-responses-table tr.response .response-col_status").first
    expect(status).to_have_text(re.compile(r"^\s*200"))

    assert requested and all(url.startswith(server.url + "/") for url in requested), requested
    assert failed == []
