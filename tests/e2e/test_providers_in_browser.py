"""The real app (`streamlit run app.py`) with OPENAI_BASE_URL, GEMINI_BASE_URL and
IDEOGRAM_BASE_URL pointing at the local fake servers: a person in a real browser generates one
image with each provider, sees them in History, and sees a safety block as a plain reason."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

from tests.constants import PASSWORD
from tests.e2e.helpers import choose, generate, open_page, sign_up, signed_in_marker
from tests.fakes import gemini_server, ideogram_server, openai_server
from tests.fakes.gemini_server import FakeGemini, prompt_blocked
from tests.fakes.ideogram_server import FakeIdeogram
from tests.fakes.openai_server import FakeOpenAI

DEFAULT_MODELS = {
    "OpenAI": "GPT Image 2",
    "Google Gemini": "Nano Banana 2.1",
    "Ideogram": "Ideogram 3.0",
}
DONE = re.compile(r"Done$")
IN_PROGRESS = re.compile(r"Queued|Processing")  # after the badge's icon name
FAILED = re.compile(r"Failed$")


@pytest.fixture
def fakes() -> Iterator[tuple[FakeOpenAI, FakeGemini, FakeIdeogram]]:
    with FakeOpenAI() as openai, FakeGemini() as gemini, FakeIdeogram() as ideogram:
        for fake in (openai, gemini, ideogram):
            # Each job stays in progress long enough for the browser to show it, so a "Done"
            # seen afterwards is the new job's, not the previous batch's.
            fake.latency = 0.8
        yield openai, gemini, ideogram


def choose_provider(page: Page, label: str, model: str) -> None:
    """Pick a provider in the Generate page's selectbox and wait until the page has redrawn
    for it (its default model chosen, one prompt box: the previous form is gone)."""
    main = page.get_by_test_id("stMain")
    choose(page, main.get_by_role("combobox", name="Provider"), label)
    expect(main.get_by_role("combobox", name="Model")).to_have_value(model)
    expect(main.get_by_role("textbox", name=re.compile("^Prompt"))).to_have_count(1)


def test_each_provider_generates_through_the_browser_and_a_safety_block_shows_why(
    live_server_factory, page: Page, fakes: tuple[FakeOpenAI, FakeGemini, FakeIdeogram]
) -> None:
    fake_openai, fake_gemini, fake_ideogram = fakes
    server = live_server_factory(
        env={
            "OPENAI_API_KEY": openai_server.API_KEY,
            "OPENAI_BASE_URL": fake_openai.base_url,  # the SDK's base includes /v1
            "GEMINI_API_KEY": gemini_server.API_KEY,
            "GEMINI_BASE_URL": fake_gemini.url,  # google-genai adds /v1beta|/v1 itself
            "IDEOGRAM_API_KEY": ideogram_server.API_KEY,
            "IDEOGRAM_BASE_URL": fake_ideogram.url,  # http base: http image links allowed
        }
    )
    page.goto(server.url + "/")
    sign_up(page, "ada@example.com", PASSWORD)
    expect(signed_in_marker(page, "ada@example.com")).to_be_visible()
    main = page.get_by_test_id("stMain")

    prompts = {
        "OpenAI": "A red bicycle against a white wall",
        "Google Gemini": "A green kite over the dunes",
        "Ideogram": "A poster that says HELLO in bold letters",
    }
    for label, prompt in prompts.items():
        choose_provider(page, label, DEFAULT_MODELS[label])
        generate(page, prompt)
        batch = main.locator("[class*='st-key-gen_batch_']").filter(has_text=prompt)
        expect(batch.get_by_text(IN_PROGRESS)).to_have_count(1)
        expect(batch.get_by_text(DONE)).to_have_count(1, timeout=20_000)
        expect(batch.get_by_test_id("stImage")).to_have_count(1)
        expect(batch.get_by_role("button", name="Download")).to_have_count(1)

    # Exactly one request per job, each with the right key, endpoint and prompt.
    [openai_call] = fake_openai.generations()
    assert openai_call.headers["authorization"] == f"Bearer {openai_server.API_KEY}"
    assert openai_call.json()["prompt"] == prompts["OpenAI"]
    assert openai_call.json()["model"] == "gpt-image-2"
    assert fake_openai.edits() == []
    [gemini_call] = fake_gemini.generate_calls()
    assert gemini_call.headers["x-goog-api-key"] == gemini_server.API_KEY
    assert gemini_call.path.endswith("/models/gemini-nano-banana-2.1:generateContent")
    assert gemini_call.json()["contents"][0]["parts"][0]["text"] == prompts["Google Gemini"]
    [ideogram_call] = fake_ideogram.generate_calls()
    assert ideogram_call.headers["api-key"] == ideogram_server.API_KEY
    assert ideogram_call.form()["prompt"] == prompts["Ideogram"]
    [download] = fake_ideogram.image_calls()  # the temporary link, fetched once, keyless
    assert "api-key" not in download.headers
    assert len(fake_openai.requests) == len(fake_gemini.requests) == 1
    assert len(fake_ideogram.requests) == 2

    # Gemini answers the next prompt with a safety block (HTTP 200 + promptFeedback).
    fake_gemini.enqueue(prompt_blocked("SAFETY"))
    choose_provider(page, "Google Gemini", DEFAULT_MODELS["Google Gemini"])
    generate(page, "Something the filter refuses")
    batch = main.locator("[class*='st-key-gen_batch_']").filter(
        has_text="Something the filter refuses"
    )
    expect(batch.get_by_text(FAILED)).to_have_count(1, timeout=20_000)
    blocked = re.compile(r"^The provider.s safety filter blocked this image: “.+”$")
    expect(batch.get_by_text(blocked)).to_be_visible()
    expect(batch.get_by_test_id("stImage")).to_have_count(0)
    expect(page.get_by_text(re.compile("Traceback|SafetyBlocked|AIza"))).to_have_count(0)
    assert len(fake_gemini.generate_calls()) == 2, "a safety block is never retried"

    open_page(page, "History")
    expect(main.get_by_text(DONE)).to_have_count(3)
    expect(main.get_by_text(FAILED)).to_have_count(1)
    expect(main.get_by_test_id("stImage")).to_have_count(3)
    expect(main.locator("[class*='st-key-tile_']")).to_have_count(4)
    # The failed tile says why in plain words, in place of the image.
    blocked = re.compile(r"^The provider.s safety filter blocked this image")
    expect(main.get_by_text(blocked)).to_be_visible()
    assert len(fake_openai.requests) == 1
    assert len(fake_gemini.requests) == 2
    assert len(fake_ideogram.requests) == 2
