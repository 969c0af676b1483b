"""The Gemini adapter with the real `google-genai` SDK against a local fake of the API."""

from __future__ import annotations

import pytest

from core.domain.errors import ValidationError
from core.providers.base import (
    AuthFailed,
    GenerationRequest,
    InvalidRequest,
    ModelUnavailable,
    QuotaExhausted,
    SafetyBlocked,
    Transient,
)
from core.providers.gemini import GeminiProvider
from tests.fakes.gemini_server import (
    API_KEY,
    FakeGemini,
    google_error,
    image_part,
    prompt_blocked,
    quota_error,
    reply_with_parts,
)
from tests.fakes.http_server import Reply, make_png


def request(model: str = "gemini-3-pro-image", prompt: str = "a lighthouse", **params):
    return GenerationRequest(model=model, prompt=prompt, params=params, user_ref="user-7")


def test_generate_stores_the_inline_image_bytes_exactly_with_meta(
    gemini_provider: GeminiProvider, fake_gemini: FakeGemini
) -> None:
    image = gemini_provider.generate(request())

    assert image.data == fake_gemini.image
    assert image.mime == "image/png"
    meta = image.meta
    assert meta["model"] == "gemini-3-pro-image"
    assert meta["response_id"] == "resp-0001"
    assert meta["usage"]["total_token_count"] == 1132
    assert meta["watermark"] == "SynthID"
    assert meta["estimated_cost_usd"] == 0.134
    assert meta["bytes"] == len(fake_gemini.image)


def test_generate_calls_generate_content_on_v1_with_image_modality_and_config(
    gemini_provider: GeminiProvider, fake_gemini: FakeGemini
) -> None:
    gemini_provider.generate(request("gemini-nano-banana-2.1", aspect_ratio="4:1", image_size="2K"))

    [call] = fake_gemini.generate_calls()
    assert call.path == "/v1/models/gemini-nano-banana-2.1:generateContent"
    assert call.headers["x-goog-api-key"] == API_KEY
    body = call.json()
    assert body["contents"][0]["parts"][0]["text"] == "a lighthouse"
    config = body["generationConfig"]
    assert config["responseModalities"] == ["IMAGE"]
    assert config["imageConfig"] == {"aspectRatio": "4:1", "imageSize": "2K"}


def test_without_options_no_image_config_is_sent(
    gemini_provider: GeminiProvider, fake_gemini: FakeGemini
) -> None:
    gemini_provider.generate(request("gemini-2.5-flash-image"))
    config = fake_gemini.generate_calls()[0].json()["generationConfig"]
    assert "imageConfig" not in config


def test_thought_parts_are_skipped_for_the_final_image(
    gemini_provider: GeminiProvider, fake_gemini: FakeGemini
) -> None:
    draft, final = make_png(8, 8, seed=40), make_png(12, 12, seed=41)
    fake_gemini.enqueue(
        reply_with_parts(
            [
                {"text": "Planning the composition…", "thought": True},
                image_part(draft, thought=True),
                {"text": "Here is your lighthouse."},
                image_part(final, thoughtSignature="c2ln"),
            ]
        )
    )
    assert gemini_provider.generate(request()).data == final


@pytest.mark.parametrize(
    ("reason", "words"),
    [("SAFETY", "safety filters"), ("PROHIBITED_CONTENT", "prohibited"), ("OTHER", "declined")],
)
def test_a_blocked_prompt_is_a_safety_block_in_words(
    gemini_provider: GeminiProvider, fake_gemini: FakeGemini, reason: str, words: str
) -> None:
    fake_gemini.enqueue(prompt_blocked(reason))
    with pytest.raises(SafetyBlocked, match=words):
        gemini_provider.generate(request())


@pytest.mark.parametrize(
    ("finish", "words"),
    [
        ("IMAGE_SAFETY", "generated image was flagged"),
        ("IMAGE_PROHIBITED_CONTENT", "prohibited"),
        ("NO_IMAGE", "did not produce an image"),
        ("RECITATION", "existing material"),
    ],
)
def test_an_imageless_candidate_with_a_finish_reason_is_a_safety_block(
    gemini_provider: GeminiProvider, fake_gemini: FakeGemini, finish: str, words: str
) -> None:
    fake_gemini.enqueue(
        reply_with_parts([], finish_reason=finish, finishMessage="Unable to show the image.")
    )
    # google-genai 3.6.1 drops `finishMessage` on the Gemini API path; the reason is enough.
    with pytest.raises(SafetyBlocked, match=words):
        gemini_provider.generate(request())


def test_a_text_only_reply_is_a_failure_that_quotes_the_model(
    gemini_provider: GeminiProvider, fake_gemini: FakeGemini
) -> None:
    fake_gemini.enqueue(reply_with_parts([{"text": "I can't draw that person."}]))
    with pytest.raises(SafetyBlocked, match="I can't draw that person"):
        gemini_provider.generate(request())


@pytest.mark.parametrize(
    "reply",
    [
        Reply(200, {"candidates": [], "usageMetadata": {"promptTokenCount": 12}}),
        reply_with_parts([]),
        reply_with_parts([image_part(make_png(8, 8, seed=42), thought=True)]),
    ],
    ids=["no candidates", "no parts", "only a thought image"],
)
def test_a_reply_without_a_final_image_is_a_failure_not_a_result(
    gemini_provider: GeminiProvider, fake_gemini: FakeGemini, reply: Reply
) -> None:
    fake_gemini.enqueue(reply)
    with pytest.raises(Transient, match=r"without any result|returned no image"):
        gemini_provider.generate(request())
    assert len(fake_gemini.generate_calls()) == 1


def test_a_wrong_key_is_an_auth_failure_that_never_shows_the_key(fake_gemini: FakeGemini) -> None:
    wrong = "AIzaWrongKey0000000000000000000000000"
    provider = GeminiProvider(api_key=wrong, base_url=fake_gemini.url, timeout=5)
    with pytest.raises(AuthFailed) as info:
        provider.generate(request())
    assert "GEMINI_API_KEY" in info.value.message
    assert wrong not in info.value.message and "AIza" not in info.value.message


def test_permission_denied_is_an_auth_failure(
    gemini_provider: GeminiProvider, fake_gemini: FakeGemini
) -> None:
    fake_gemini.enqueue(google_error(403, "PERMISSION_DENIED", "Permission denied."))
    with pytest.raises(AuthFailed, match="permission denied"):
        gemini_provider.generate(request())


def test_an_unknown_model_is_model_unavailable(
    gemini_provider: GeminiProvider, fake_gemini: FakeGemini
) -> None:
    fake_gemini.known_models.discard("gemini-3.1-flash-image")
    with pytest.raises(ModelUnavailable, match=r"gemini-3\.1-flash-image"):
        gemini_provider.generate(request("gemini-3.1-flash-image"))


def test_a_daily_quota_is_exhausted_not_retried(
    gemini_provider: GeminiProvider, fake_gemini: FakeGemini
) -> None:
    fake_gemini.enqueue(quota_error("GenerateRequestsPerDayPerProjectPerModel-FreeTier"))
    with pytest.raises(QuotaExhausted, match="daily"):
        gemini_provider.generate(request())


def test_a_per_minute_limit_is_transient_with_the_retry_delay(
    gemini_provider: GeminiProvider, fake_gemini: FakeGemini
) -> None:
    fake_gemini.enqueue(quota_error("GenerateRequestsPerMinutePerProjectPerModel", "47s"))
    with pytest.raises(Transient) as info:
        gemini_provider.generate(request())
    assert info.value.retry_after == 47.0
    assert len(fake_gemini.generate_calls()) == 1


@pytest.mark.parametrize(
    ("status", "name"), [(500, "INTERNAL"), (503, "UNAVAILABLE"), (504, "DEADLINE_EXCEEDED")]
)
def test_server_errors_are_transient_and_the_sdk_does_not_retry(
    gemini_provider: GeminiProvider, fake_gemini: FakeGemini, status: int, name: str
) -> None:
    fake_gemini.enqueue(google_error(status, name, "The service is currently unavailable."))
    with pytest.raises(Transient, match=str(status)):
        gemini_provider.generate(request())
    assert len(fake_gemini.generate_calls()) == 1


def test_other_bad_requests_are_invalid_with_the_reason(
    gemini_provider: GeminiProvider, fake_gemini: FakeGemini
) -> None:
    fake_gemini.enqueue(
        google_error(400, "INVALID_ARGUMENT", "Unsupported aspect ratio for this model.")
    )
    with pytest.raises(InvalidRequest, match="Unsupported aspect ratio"):
        gemini_provider.generate(request())


def test_a_slow_server_times_out_as_transient(fake_gemini: FakeGemini) -> None:
    provider = GeminiProvider(api_key=API_KEY, base_url=fake_gemini.url, timeout=0.3)
    fake_gemini.enqueue(Reply(200, {}, delay=1.0))
    with pytest.raises(Transient, match="did not answer"):
        provider.generate(request())
    assert len(fake_gemini.generate_calls()) == 1


@pytest.mark.parametrize(
    ("model", "message"),
    [
        ("imagen-4.0-generate-001", "shut down on 2026-08-17; use gemini-nano-banana-2.1."),
        ("imagen-4.0-ultra-generate-001", "shut down on 2026-08-17; use gemini-nano-banana-2.1."),
        ("gemini-3-pro-image-preview", "shut down on 2026-06-25; use gemini-3-pro-image."),
        ("gemini-3.1-flash-image-preview", "shut down on 2026-06-25; use gemini-3.1-flash-image."),
    ],
)
def test_shut_down_models_are_refused_naming_the_replacement(
    gemini_provider: GeminiProvider, fake_gemini: FakeGemini, model: str, message: str
) -> None:
    with pytest.raises(ValidationError) as refused:
        gemini_provider.validate(model, "a fox", {})
    assert refused.value.message == f"{model} {message}"
    assert fake_gemini.requests == []


@pytest.mark.parametrize(
    ("model", "params"),
    [
        ("gemini-2.5-flash-image", {"image_size": "2K"}),
        ("gemini-3-pro-image", {"aspect_ratio": "8:1"}),
        ("gemini-3-pro-image", {"quality": "high"}),
        ("gemini-3-pro-image", {"seed": 1}),
        ("gemini-3-pro-image", {"negative_prompt": "text"}),
        ("gemini-3.1-flash-lite-image", {"image_size": "4K"}),
    ],
)
def test_unsupported_options_are_refused_before_any_request(
    gemini_provider: GeminiProvider, fake_gemini: FakeGemini, model, params
) -> None:
    with pytest.raises(ValidationError):
        gemini_provider.validate(model, "a fox", params)
    assert fake_gemini.requests == []


def test_without_a_key_the_provider_is_unavailable_and_names_the_variable() -> None:
    provider = GeminiProvider(api_key=None)
    assert not provider.available()
    assert "GEMINI_API_KEY" in (provider.unavailable_reason() or "")


def test_the_fake_decodes_url_safe_unpadded_inline_data() -> None:
    from tests.fakes.http_server import b64decode_loose

    raw = bytes(range(250, 256)) + b"\xfb\xff"
    import base64

    urlsafe = base64.urlsafe_b64encode(raw).decode().rstrip("=")
    assert b64decode_loose(urlsafe) == raw


def test_an_unreadable_reply_is_transient(
    gemini_provider: GeminiProvider, fake_gemini: FakeGemini
) -> None:
    fake_gemini.enqueue(Reply(200, b"<html>proxy error</html>", {"Content-Type": "text/html"}))
    with pytest.raises(Transient, match="could not be read"):
        gemini_provider.generate(request())


def test_edit_sends_the_source_as_an_inline_part_the_fake_decodes_exactly(
    gemini_provider: GeminiProvider, fake_gemini: FakeGemini
) -> None:
    # Bytes chosen so that URL-safe base64 differs from standard base64 ('-' and '_').
    source = make_png(9, 7, seed=12) + b"\xfb\xff\xfe"
    image = gemini_provider.edit(
        GenerationRequest(
            model="gemini-3-pro-image",
            prompt="add a rainbow",
            params={"aspect_ratio": "3:2"},
            input_image=source,
            input_mime="image/png",
        )
    )

    assert image.data == fake_gemini.image
    [call] = fake_gemini.generate_calls()
    parts = call.json()["contents"][0]["parts"]
    assert parts[0]["text"] == "add a rainbow"
    # google-genai 3.6.1 writes the inner key in snake_case ("mime_type"); proto JSON
    # parsers accept both spellings, so the fake does too.
    blob = parts[1]["inlineData"]
    assert blob.get("mimeType", blob.get("mime_type")) == "image/png"
    assert FakeGemini.inline_images(call) == [source]


def test_edit_without_a_source_image_is_refused_before_any_request(
    gemini_provider: GeminiProvider, fake_gemini: FakeGemini
) -> None:
    with pytest.raises(InvalidRequest, match="source image"):
        gemini_provider.edit(request())
    assert fake_gemini.requests == []


def test_an_unsupported_location_is_an_auth_failure_about_the_region(
    gemini_provider: GeminiProvider, fake_gemini: FakeGemini
) -> None:
    fake_gemini.enqueue(
        google_error(400, "FAILED_PRECONDITION", "User location is not supported for the API use.")
    )
    with pytest.raises(AuthFailed, match="region"):
        gemini_provider.generate(request())


@pytest.mark.parametrize(
    "data", [b"<html>not an image</html>", b"\x00" * 64], ids=["html", "zeros"]
)
def test_bytes_that_are_not_an_image_are_a_failure_not_a_result(
    gemini_provider: GeminiProvider, fake_gemini: FakeGemini, data: bytes
) -> None:
    fake_gemini.enqueue(reply_with_parts([image_part(data)]))
    with pytest.raises(Transient, match="not an image"):
        gemini_provider.generate(request())


def test_image_bytes_are_handed_on_undecoded_for_the_worker_to_verify(
    gemini_provider: GeminiProvider, fake_gemini: FakeGemini
) -> None:
    # A PNG cut short looks like a PNG; decoding it is the worker's job (one verification per
    # image), which refuses it (tests/providers/test_pipeline.py).
    truncated = fake_gemini.image[: len(fake_gemini.image) // 2]
    fake_gemini.enqueue(reply_with_parts([image_part(truncated)]))
    image = gemini_provider.generate(request())
    assert image.data == truncated and image.mime == "image/png"
    assert "width" not in image.meta and "height" not in image.meta
