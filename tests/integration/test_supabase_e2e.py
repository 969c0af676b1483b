"""The foundation journey in a real browser with the app in Supabase mode (against the test
gateway): sign up, generate, history, reload, sign out; the cookie is an opaque token whose
hash maps to the Supabase refresh token kept on the server."""

from __future__ import annotations

import hashlib
import re

from playwright.sync_api import Page, expect

from tests.constants import PASSWORD
from tests.e2e.helpers import generate, open_page, sign_up, signed_in_marker
from tests.integration.supabase_factory import gateway, make_supabase_backend, supabase_settings
from tests.live_server import live_server_factory  # noqa: F401  (fixture)


def test_the_studio_journey_in_supabase_mode(live_server_factory, page: Page, settings, tmp_path):  # noqa: F811
    gw = gateway()
    factory = make_supabase_backend(supabase_settings(settings, gw), tmp_path)
    next(factory)  # an empty project
    try:
        server = live_server_factory(
            env={
                "SUPABASE_URL": gw.url,
                "SUPABASE_ANON_KEY": gw.anon_key,
                "SUPABASE_SERVICE_ROLE_KEY": gw.service_key,
                "DEMO_LATENCY_MS": "500",
            }
        )
        email = "ada@example.com"
        page.goto(server.url + "/")
        sign_up(page, email, PASSWORD)
        expect(signed_in_marker(page, email)).to_be_visible()

        generate(page, "A lighthouse on a cliff at dawn", count=2)
        main = page.get_by_test_id("stMain")
        expect(main.get_by_text(re.compile(r"Done$"))).to_have_count(2, timeout=30_000)
        expect(main.get_by_test_id("stImage")).to_have_count(2)

        open_page(page, "History")
        expect(main.get_by_text(re.compile(r"^A lighthouse on a cliff at dawn"))).to_have_count(2)
        expect(main.get_by_test_id("stImage")).to_have_count(2)

        cookie = {c["name"]: c for c in page.context.cookies()}["studio_session"]
        with gw.cluster.connect() as conn:
            stored = conn.execute(
                "select token_hash, refresh_token from public.sessions"
            ).fetchall()
            (jobs,) = conn.execute(
                "select count(*) from public.jobs where status = 'done'"
            ).fetchone()
        assert hashlib.sha256(cookie["value"].encode()).hexdigest() in {h for h, _ in stored}
        assert cookie["value"] not in {r for _, r in stored}
        assert jobs == 2

        page.reload()
        expect(signed_in_marker(page, email)).to_be_visible()

        open_page(page, "Account")
        main.get_by_role("button", name="Sign out", exact=True).click()
        expect(page.get_by_role("tab", name="Create account")).to_be_visible()
        page.context.add_cookies([cookie])
        page.reload()
        expect(page.get_by_role("tab", name="Create account")).to_be_visible()
        expect(page.get_by_text(email)).to_have_count(0)
    finally:
        factory.close()
