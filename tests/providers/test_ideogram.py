"""The Ideogram 3.0 adapter (httpx) against a local fake of the REST API, including the
safe download of the temporary image URL."""

from __future__ import annotations

import pytest

from core.domain.errors import ValidationError
from core.providers.base import (
    AuthFailed,
    GenerationRequest,
    InvalidRequest,
    QuotaExhausted,
    SafetyBlocked,
    Transient,
)
from core.providers.ideogram import RATE_LIMIT_BACKOFF_SECONDS, IdeogramProvider
from tests.fakes.http_server import Reply
from tests.fakes.ideogram_server import API_KEY, FakeIdeogram, ideogram_error


def request(prompt: str = "a poster that says HELLO", **params) -> GenerationRequest:
    return GenerationRequest(model="ideogram-3.0", prompt=prompt, params=params)


def test_generate_downloads_the_image_at_once_and_keeps_seed_and_prompt(
    ideogram_provider: IdeogramProvider, fake_ideogram: FakeIdeogram
) -> None:
    image = ideogram_provider.generate(request(seed=77))

    assert image.data == fake_ideogram.image
    assert image.mime == "image/png"
    assert image.meta["seed"] == 77
    assert image.meta["revised_prompt"] == "a poster that says HELLO, cinematic lighting"
    assert image.meta["estimated_cost_usd"] == 0.06
    assert (image.meta["width"], image.meta["height"]) == (32, 18)
    assert len(fake_ideogram.image_calls()) == 1
    # The key goes to the API only, never to the image host.
    assert "api-key" not in fake_ideogram.image_calls()[0].headers


def test_generate_sends_a_multipart_form_with_the_mapped_options(
    ideogram_provider: IdeogramProvider, fake_ideogram: FakeIdeogram
) -> None:
    ideogram_provider.generate(
        request(
            aspect_ratio="16:9",
            quality="high",
            style="realistic",
            negative_prompt="blurry",
            seed=5,
            magic_prompt="off",
        )
    )

    [call] = fake_ideogram.generate_calls()
    assert call.headers["api-key"] == API_KEY
    assert call.headers["content-type"].startswith("multipart/form-data")
    assert call.form() == {
        "prompt": "a poster that says HELLO",
        "rendering_speed": "QUALITY",
        "aspect_ratio": "16x9",
        "style_type": "REALISTIC",
        "negative_prompt": "blurry",
        "seed": "5",
        "magic_prompt": "OFF",
    }


@pytest.mark.parametrize(
    ("quality", "speed", "price"),
    [("draft", "TURBO", 0.03), ("standard", "DEFAULT", 0.06), ("high", "QUALITY", 0.09)],
)
def test_quality_tiers_map_to_rendering_speeds_and_prices(
    ideogram_provider: IdeogramProvider, fake_ideogram: FakeIdeogram, quality, speed, price
) -> None:
    image = ideogram_provider.generate(request(quality=quality))
    assert fake_ideogram.generate_calls()[0].form()["rendering_speed"] == speed
    assert image.meta["estimated_cost_usd"] == price


def test_draft_speed_can_be_flash(fake_ideogram: FakeIdeogram) -> None:
    provider = IdeogramProvider(api_key=API_KEY, base_url=fake_ideogram.url, draft_speed="FLASH")
    provider.generate(request(quality="draft"))
    assert fake_ideogram.generate_calls()[0].form()["rendering_speed"] == "FLASH"


def test_an_unsafe_image_is_a_safety_block_and_nothing_is_downloaded(
    ideogram_provider: IdeogramProvider, fake_ideogram: FakeIdeogram
) -> None:
    fake_ideogram.is_image_safe = False
    with pytest.raises(SafetyBlocked, match="safety check"):
        ideogram_provider.generate(request())
    assert fake_ideogram.image_calls() == []


def test_http_image_links_are_refused_unless_configured(fake_ideogram: FakeIdeogram) -> None:
    provider = IdeogramProvider(
        api_key=API_KEY, base_url=fake_ideogram.url, allow_http_downloads=False
    )
    with pytest.raises(InvalidRequest, match="https"):
        provider.generate(request())
    assert fake_ideogram.image_calls() == []


def test_an_oversized_image_is_refused_while_streaming(
    ideogram_provider: IdeogramProvider, fake_ideogram: FakeIdeogram
) -> None:
    # No Content-Length is trusted: the body itself is 26 MB of "PNG".
    big = b"\x89PNG\r\n\x1a\n" + b"\0" * (26 * 1024 * 1024)
    fake_ideogram.download_replies.append(Reply(200, big, {"Content-Type": "image/png"}))
    with pytest.raises(InvalidRequest, match="larger than 25 MB"):
        ideogram_provider.generate(request())


def test_a_declared_oversize_is_refused_before_reading(
    ideogram_provider: IdeogramProvider, fake_ideogram: FakeIdeogram
) -> None:
    fake_ideogram.download_replies.append(
        Reply(200, b"x" * 10, {"Content-Type": "image/png", "Content-Length": str(30 << 20)})
    )
    with pytest.raises(InvalidRequest, match="larger than 25 MB"):
        ideogram_provider.generate(request())


@pytest.mark.parametrize(
    "reply",
    [
        Reply(200, b"<html>hello</html>", {"Content-Type": "text/html"}),
        Reply(200, b"not really a png", {"Content-Type": "image/png"}),
    ],
)
def test_a_link_that_is_not_an_image_is_refused(
    ideogram_provider: IdeogramProvider, fake_ideogram: FakeIdeogram, reply: Reply
) -> None:
    fake_ideogram.download_replies.append(reply)
    with pytest.raises(InvalidRequest, match=r"not an image|not a valid image"):
        ideogram_provider.generate(request())


def test_an_expired_link_is_refused_and_a_failing_image_host_is_transient(
    ideogram_provider: IdeogramProvider, fake_ideogram: FakeIdeogram
) -> None:
    fake_ideogram.download_replies.append(Reply(403, b"expired", {"Content-Type": "text/plain"}))
    with pytest.raises(InvalidRequest, match="expired"):
        ideogram_provider.generate(request())
    fake_ideogram.download_replies.append(Reply(502, b"", {"Content-Type": "text/plain"}))
    with pytest.raises(Transient):
        ideogram_provider.generate(request())


def test_a_link_that_is_gone_is_refused_without_retrying(
    ideogram_provider: IdeogramProvider, fake_ideogram: FakeIdeogram
) -> None:
    fake_ideogram.download_replies.append(Reply(404, b"Not Found", {"Content-Type": "text/plain"}))
    with pytest.raises(InvalidRequest, match=r"HTTP 404.*expired"):
        ideogram_provider.generate(request())
    assert len(fake_ideogram.image_calls()) == 1


@pytest.mark.parametrize(
    "location",
    ["http://images.example.invalid/stolen.png", "{fake}/images/redirected.png", "ftp://x/y.png"],
)
def test_a_link_that_redirects_elsewhere_is_not_followed(
    ideogram_provider: IdeogramProvider, fake_ideogram: FakeIdeogram, location: str
) -> None:
    # The second form points back at the fake (plain http): a followed redirect would show
    # up as a second image request there.
    target = location.format(fake=fake_ideogram.url)
    fake_ideogram.download_replies.append(Reply(302, b"", {"Location": target}))
    with pytest.raises(InvalidRequest, match="HTTP 302") as info:
        ideogram_provider.generate(request())
    assert target not in info.value.message
    assert [c.path for c in fake_ideogram.image_calls()] == ["/images/ephemeral-1.png"]


@pytest.mark.parametrize(
    "reply",
    [
        Reply(200, '{"created": "2026-01-01", "data": [', {"Content-Type": "application/json"}),
        Reply(200, "<html>502 Bad Gateway</html>", {"Content-Type": "text/html"}),
        Reply(200, {"created": "2026-01-01", "data": {"url": "x"}}),
    ],
    ids=["truncated json", "html", "wrong shape"],
)
def test_a_malformed_reply_is_transient_and_nothing_is_downloaded(
    ideogram_provider: IdeogramProvider, fake_ideogram: FakeIdeogram, reply: Reply
) -> None:
    fake_ideogram.enqueue(reply)
    with pytest.raises(Transient, match="could not be read"):
        ideogram_provider.generate(request())
    assert fake_ideogram.image_calls() == []


@pytest.mark.parametrize(
    "data",
    [[], [{"url": None, "is_image_safe": True, "seed": 1, "prompt": "p"}]],
    ids=["empty data", "no url"],
)
def test_a_reply_without_an_image_is_a_failure_not_a_result(
    ideogram_provider: IdeogramProvider, fake_ideogram: FakeIdeogram, data: list
) -> None:
    fake_ideogram.enqueue(Reply(200, {"created": "2026-01-01", "data": data}))
    with pytest.raises(Transient, match=r"could not be read|without an image link"):
        ideogram_provider.generate(request())
    assert fake_ideogram.image_calls() == []


@pytest.mark.parametrize(
    ("reply", "kind", "words"),
    [
        (ideogram_error(400, "Invalid aspect ratio"), InvalidRequest, "Invalid aspect ratio"),
        (ideogram_error(403, "Forbidden"), AuthFailed, "IDEOGRAM_API_KEY"),
        (
            ideogram_error(402, "Payment required", reject_reason="insufficient_funds"),
            QuotaExhausted,
            "balance",
        ),
        (
            ideogram_error(402, "Payment required", reject_reason="daily_limit"),
            QuotaExhausted,
            "daily limit",
        ),
        (ideogram_error(422, "Prompt failed the safety check"), SafetyBlocked, "safety"),
        (ideogram_error(500, "Internal error"), Transient, "500"),
        (ideogram_error(503, "Unavailable"), Transient, "503"),
    ],
)
def test_error_statuses_map_to_error_kinds(
    ideogram_provider: IdeogramProvider, fake_ideogram: FakeIdeogram, reply, kind, words
) -> None:
    fake_ideogram.enqueue(reply)
    with pytest.raises(kind, match=words):
        ideogram_provider.generate(request())
    assert len(fake_ideogram.generate_calls()) == 1
    assert fake_ideogram.image_calls() == []


def test_a_wrong_key_is_an_auth_failure_that_never_shows_the_key(
    fake_ideogram: FakeIdeogram,
) -> None:
    wrong = "ideo-wrong-secret-0000"
    provider = IdeogramProvider(api_key=wrong, base_url=fake_ideogram.url)
    with pytest.raises(AuthFailed) as info:
        provider.generate(request())
    assert wrong not in info.value.message


def test_an_echoed_key_in_an_error_body_is_redacted(
    ideogram_provider: IdeogramProvider, fake_ideogram: FakeIdeogram
) -> None:
    fake_ideogram.enqueue(ideogram_error(400, f"Bad request from key {API_KEY}"))
    with pytest.raises(InvalidRequest) as info:
        ideogram_provider.generate(request())
    assert API_KEY not in info.value.message


def test_rate_limits_are_transient_with_retry_after_or_a_backoff_hint(
    ideogram_provider: IdeogramProvider, fake_ideogram: FakeIdeogram
) -> None:
    inflight = {"reject_reason": "inflight_limit", "max_inflight_requests": 10}
    fake_ideogram.enqueue(
        Reply(429, {"error": "Too many in flight", **inflight}, {"Retry-After": "12"}),
        Reply(429, {"error": "Too many in flight", **inflight}),
    )
    with pytest.raises(Transient) as first:
        ideogram_provider.generate(request())
    with pytest.raises(Transient) as second:
        ideogram_provider.generate(request())
    assert first.value.retry_after == 12.0
    assert second.value.retry_after == RATE_LIMIT_BACKOFF_SECONDS


def test_a_slow_server_times_out_as_transient(fake_ideogram: FakeIdeogram) -> None:
    provider = IdeogramProvider(api_key=API_KEY, base_url=fake_ideogram.url, timeout=0.3)
    fake_ideogram.enqueue(Reply(200, {"data": []}, delay=1.0))
    with pytest.raises(Transient, match="did not answer"):
        provider.generate(request())


@pytest.mark.parametrize(
    "params",
    [
        {"aspect_ratio": "21:9"},
        {"quality": "max"},
        {"image_size": "2K"},
        {"background": "transparent"},
        {"style": "anime"},
        {"magic_prompt": "sometimes"},
        {"seed": -1},
    ],
)
def test_unsupported_options_are_refused_before_any_request(
    ideogram_provider: IdeogramProvider, fake_ideogram: FakeIdeogram, params
) -> None:
    with pytest.raises(ValidationError):
        ideogram_provider.validate("ideogram-3.0", "a poster", params)
    assert fake_ideogram.requests == []


def test_magic_prompt_passes_validation() -> None:
    cleaned = IdeogramProvider().validate("ideogram-3.0", "a poster", {"magic_prompt": "on"})
    assert cleaned == {"magic_prompt": "on"}


def test_without_a_key_the_provider_is_unavailable_and_names_the_variable() -> None:
    provider = IdeogramProvider(api_key=None)
    assert not provider.available()
    assert "IDEOGRAM_API_KEY" in (provider.unavailable_reason() or "")
    assert provider.allow_http_downloads is False  # the default https base URL
