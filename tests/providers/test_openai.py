"""The OpenAI adapter with the real `openai` SDK against a local fake of the Images API."""

from __future__ import annotations

import base64
import socket
from datetime import UTC, datetime

import pytest
import time_machine

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
from core.providers.openai import OpenAIProvider, estimate_cost, size_for
from tests.fakes.http_server import Reply, make_png
from tests.fakes.openai_server import API_KEY, USAGE, FakeOpenAI, moderation_blocked, openai_error


def request(model: str = "gpt-image-2", prompt: str = "a red fox", **params) -> GenerationRequest:
    return GenerationRequest(model=model, prompt=prompt, params=params, user_ref="user-42")


def test_generate_stores_the_returned_bytes_exactly_and_reports_meta(
    openai_provider: OpenAIProvider, fake_openai: FakeOpenAI
) -> None:
    image = openai_provider.generate(request(aspect_ratio="16:9", quality="high"))

    assert image.data == fake_openai.image
    assert image.mime == "image/png"
    meta = image.meta
    assert meta["request_id"] == "req_0001"
    assert meta["usage"]["output_tokens"] == USAGE["output_tokens"]
    assert meta["bytes"] == len(fake_openai.image)
    assert meta["model"] == "gpt-image-2"
    # 40 text + 10 image input tokens and 1056 image output tokens at $5/$8/$30 per 1M.
    assert meta["estimated_cost_usd"] == pytest.approx((40 * 5 + 10 * 8 + 1056 * 30) / 1e6)


def test_generate_sends_model_size_quality_and_hashed_user_without_response_format(
    openai_provider: OpenAIProvider, fake_openai: FakeOpenAI
) -> None:
    openai_provider.generate(
        request(
            aspect_ratio="16:9",
            image_size="2K",
            quality="draft",
            background="transparent",
            output_format="webp",
        )
    )

    [call] = fake_openai.generations()
    body = call.json()
    assert call.headers["authorization"] == f"Bearer {API_KEY}"
    assert body["model"] == "gpt-image-2"
    assert body["prompt"] == "a red fox"
    assert body["size"] == "2560x1440"
    assert body["quality"] == "low"
    assert body["background"] == "transparent"
    assert body["output_format"] == "webp"
    assert "response_format" not in body
    assert len(body["safety_identifier"]) == 64 and "user-42" not in body["safety_identifier"]


def test_a_request_without_options_still_names_the_model_and_lets_size_default(
    openai_provider: OpenAIProvider, fake_openai: FakeOpenAI
) -> None:
    openai_provider.generate(GenerationRequest(model="gpt-image-2.6-flare", prompt="a boat"))

    body = fake_openai.generations()[0].json()
    assert body["model"] == "gpt-image-2.6-flare"
    assert "size" not in body and "quality" not in body


def test_max_quality_maps_to_max_on_gpt_image_2_5(
    openai_provider: OpenAIProvider, fake_openai: FakeOpenAI
) -> None:
    openai_provider.generate(request("gpt-image-2.5-sunburst", quality="max"))
    assert fake_openai.generations()[0].json()["quality"] == "max"


def test_gpt_image_1_family_gets_its_fixed_sizes(
    openai_provider: OpenAIProvider, fake_openai: FakeOpenAI
) -> None:
    openai_provider.generate(request("gpt-image-1.5", aspect_ratio="3:2"))
    assert fake_openai.generations()[0].json()["size"] == "1536x1024"


@pytest.mark.parametrize(
    ("ratio", "tier", "size"),
    [
        ("1:1", "1K", "1024x1024"),
        ("16:9", "1K", "1360x768"),
        ("16:9", "4K", "3840x2160"),
        ("9:16", "2K", "1440x2560"),
        ("2:3", "1K", "832x1248"),
        ("21:9", "4K", "3824x1632"),
    ],
)
def test_gpt_image_2_sizes_are_multiples_of_16_within_limits(ratio, tier, size) -> None:
    assert size_for("gpt-image-2", ratio, tier) == size
    w, h = (int(x) for x in size.split("x"))
    assert w % 16 == 0 and h % 16 == 0
    assert 655_360 <= w * h <= 3840 * 2160 and max(w, h) <= 3840
    assert 1 / 3 <= w / h <= 3


def test_safety_block_is_reported_with_the_flagged_categories(
    openai_provider: OpenAIProvider, fake_openai: FakeOpenAI
) -> None:
    fake_openai.enqueue(moderation_blocked())
    with pytest.raises(SafetyBlocked, match=r"safety system.*violence"):
        openai_provider.generate(request())


def test_legacy_content_policy_violation_is_a_safety_block(
    openai_provider: OpenAIProvider, fake_openai: FakeOpenAI
) -> None:
    fake_openai.enqueue(
        openai_error(400, "Your request was rejected.", code="content_policy_violation")
    )
    with pytest.raises(SafetyBlocked):
        openai_provider.generate(request())


def test_other_bad_requests_are_invalid_with_the_providers_reason(
    openai_provider: OpenAIProvider, fake_openai: FakeOpenAI
) -> None:
    fake_openai.enqueue(
        openai_error(400, "Invalid size '1552x656'.", code="invalid_value", param="size")
    )
    with pytest.raises(InvalidRequest, match="Invalid size"):
        openai_provider.generate(request())


def test_a_wrong_key_is_an_auth_failure_that_never_shows_the_key(
    fake_openai: FakeOpenAI,
) -> None:
    wrong = "sk-wrong-secret-key-value-123456"
    provider = OpenAIProvider(api_key=wrong, base_url=fake_openai.base_url, timeout=5)
    with pytest.raises(AuthFailed) as info:
        provider.generate(request())
    assert "OPENAI_API_KEY" in info.value.message
    for fragment in (wrong, wrong[:5], wrong[-4:]):
        assert fragment not in info.value.message


def test_forbidden_is_an_auth_failure_mentioning_verification_or_region(
    openai_provider: OpenAIProvider, fake_openai: FakeOpenAI
) -> None:
    fake_openai.enqueue(
        openai_error(403, "Your organization must be verified.", type="invalid_request_error")
    )
    with pytest.raises(AuthFailed, match=r"verified.*region"):
        openai_provider.generate(request())


def test_model_not_found_is_model_unavailable(
    openai_provider: OpenAIProvider, fake_openai: FakeOpenAI
) -> None:
    fake_openai.enqueue(
        openai_error(404, "The model 'gpt-image-2' does not exist.", code="model_not_found")
    )
    with pytest.raises(ModelUnavailable, match="gpt-image-2"):
        openai_provider.generate(request())


@pytest.mark.parametrize("code", ["insufficient_quota", "credit_balance_exhausted"])
def test_exhausted_quota_is_not_retried(
    openai_provider: OpenAIProvider, fake_openai: FakeOpenAI, code: str
) -> None:
    fake_openai.enqueue(
        openai_error(429, "You exceeded your current quota.", code=code, type="insufficient_quota")
    )
    with pytest.raises(QuotaExhausted):
        openai_provider.generate(request())
    assert len(fake_openai.generations()) == 1


@pytest.mark.parametrize(
    ("headers", "seconds"),
    [({"retry-after-ms": "1500"}, 1.5), ({"retry-after": "7"}, 7.0), ({}, None)],
)
def test_rate_limits_are_transient_with_the_servers_retry_after(
    openai_provider: OpenAIProvider, fake_openai: FakeOpenAI, headers, seconds
) -> None:
    fake_openai.enqueue(
        openai_error(429, "Rate limit reached.", code="rate_limit_exceeded", headers=headers)
    )
    with pytest.raises(Transient) as info:
        openai_provider.generate(request())
    assert info.value.retry_after == seconds
    assert len(fake_openai.generations()) == 1


@pytest.mark.parametrize("status", [500, 503])
def test_server_errors_are_transient_and_the_sdk_does_not_retry(
    openai_provider: OpenAIProvider, fake_openai: FakeOpenAI, status: int
) -> None:
    fake_openai.enqueue(openai_error(status, "The server had an error.", type="server_error"))
    with pytest.raises(Transient, match=str(status)):
        openai_provider.generate(request())
    assert len(fake_openai.generations()) == 1


def test_a_slow_server_times_out_as_transient_after_one_attempt(fake_openai: FakeOpenAI) -> None:
    provider = OpenAIProvider(api_key=API_KEY, base_url=fake_openai.base_url, timeout=0.3)
    fake_openai.enqueue(Reply(200, {"created": 0, "data": []}, delay=1.0))
    with pytest.raises(Transient, match="did not answer"):
        provider.generate(request())
    assert len(fake_openai.generations()) == 1


def test_an_unreachable_server_is_transient() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    provider = OpenAIProvider(api_key=API_KEY, base_url=f"http://127.0.0.1:{port}/v1", timeout=2)
    with pytest.raises(Transient, match="reach"):
        provider.generate(request())


def test_a_reply_without_an_image_is_a_failure_not_a_result(
    openai_provider: OpenAIProvider, fake_openai: FakeOpenAI
) -> None:
    fake_openai.enqueue(Reply(200, {"created": 0, "data": []}))
    with pytest.raises(Transient, match="without an image"):
        openai_provider.generate(request())


@pytest.mark.parametrize(
    ("model", "message"),
    [
        ("dall-e-3", "shut down on 2026-05-12; use gpt-image-2."),
        ("dall-e-2", "shut down on 2026-05-12; use gpt-image-2."),
        ("gpt-image-1", "shut down on 2026-10-23; use gpt-image-2.5-sunburst."),
        ("gpt-image-1.5", "shut down on 2026-12-01; use gpt-image-2.6-sunburst."),
    ],
)
def test_retired_models_are_refused_naming_the_shutdown_and_replacement(
    openai_provider: OpenAIProvider, fake_openai: FakeOpenAI, model: str, message: str
) -> None:
    with pytest.raises(ValidationError) as info:
        openai_provider.validate(model, "a fox", {})
    assert info.value.message == f"{model} {message}"
    assert fake_openai.requests == []


@pytest.mark.parametrize(
    ("model", "params", "words"),
    [
        ("gpt-image-2", {"seed": 3}, "seed"),
        ("gpt-image-2", {"negative_prompt": "blur"}, "negative_prompt"),
        ("gpt-image-2", {"quality": "max"}, "max"),
        ("gpt-image-2", {"background": "transparent", "output_format": "jpeg"}, "transparent"),
    ],
)
def test_unsupported_options_are_refused_before_any_request(
    openai_provider: OpenAIProvider, fake_openai: FakeOpenAI, model, params, words
) -> None:
    with pytest.raises(ValidationError, match=words):
        openai_provider.validate(model, "a fox", params)
    assert fake_openai.requests == []


@time_machine.travel(datetime(2026, 11, 30, 12, tzinfo=UTC), tick=False)
@pytest.mark.parametrize(
    ("params", "words"), [({"aspect_ratio": "16:9"}, "16:9"), ({"image_size": "2K"}, "image_size")]
)
def test_gpt_image_1_5_took_only_its_own_options_before_its_shutdown(
    openai_provider: OpenAIProvider, fake_openai: FakeOpenAI, params, words
) -> None:
    with pytest.raises(ValidationError, match=words):
        openai_provider.validate("gpt-image-1.5", "a fox", params)
    assert fake_openai.requests == []


def test_without_a_key_the_provider_is_unavailable_and_names_the_variable() -> None:
    provider = OpenAIProvider(api_key=None)
    assert not provider.available()
    assert "OPENAI_API_KEY" in (provider.unavailable_reason() or "")


def test_default_model_is_overridable_by_settings() -> None:
    assert OpenAIProvider().default_model.id == "gpt-image-2"
    assert OpenAIProvider(default_model="gpt-image-2.6-flare").default_model.id == (
        "gpt-image-2.6-flare"
    )


def test_per_image_prices_apply_to_models_without_token_rates() -> None:
    assert estimate_cost("gpt-image-1-mini", "high", None) == 0.036
    assert estimate_cost("gpt-image-2", "high", None) is None
    assert estimate_cost("chatgpt-image-latest", "low", USAGE) is None


def test_an_unreadable_reply_is_a_failure_not_a_result(
    openai_provider: OpenAIProvider, fake_openai: FakeOpenAI
) -> None:
    fake_openai.enqueue(Reply(200, b"<html>proxy error</html>", {"Content-Type": "text/html"}))
    with pytest.raises(Transient):
        openai_provider.generate(request())


_JSON = {"Content-Type": "application/json"}


@pytest.mark.parametrize(
    ("reply", "words"),
    [
        pytest.param(
            Reply(200, '{"created": 0, "data": [{"b64_json": "iVBO', _JSON),
            "could not be read",
            id="truncated json",
        ),
        pytest.param(Reply(200, "", _JSON), "could not be read", id="empty"),
        pytest.param(Reply(200, {"created": 0, "data": 5}), "could not be read", id="wrong shape"),
        pytest.param(
            Reply(200, {"created": 0, "data": [7]}), "could not be read", id="wrong item shape"
        ),
        pytest.param(
            Reply(200, {"created": 0, "data": [{"url": "https://files.example/x.png"}]}),
            "without an image",
            id="a url instead of base64",
        ),
        pytest.param(
            Reply(200, {"created": 0, "data": [{"b64_json": ""}]}),
            "without an image",
            id="empty base64",
        ),
    ],
)
def test_malformed_json_and_imageless_items_are_failures_not_results(
    openai_provider: OpenAIProvider, fake_openai: FakeOpenAI, reply: Reply, words: str
) -> None:
    fake_openai.enqueue(reply)
    with pytest.raises(Transient, match=words):
        openai_provider.generate(request())
    assert len(fake_openai.generations()) == 1


def test_edit_sends_the_source_image_as_multipart_to_the_edits_endpoint(
    openai_provider: OpenAIProvider, fake_openai: FakeOpenAI
) -> None:
    source = make_png(30, 20, seed=11)
    image = openai_provider.edit(
        GenerationRequest(
            model="gpt-image-2",
            prompt="make it night",
            params={"aspect_ratio": "3:2", "quality": "high"},
            user_ref="user-42",
            input_image=source,
            input_mime="image/png",
        )
    )

    assert image.data == fake_openai.image
    [call] = fake_openai.edits()
    assert fake_openai.generations() == []
    assert call.files()["image"] == ("source.png", "image/png", source)
    form = call.form()
    assert form["model"] == "gpt-image-2"
    assert form["prompt"] == "make it night"
    assert form["size"] == "1248x832"
    assert form["quality"] == "high"
    assert "response_format" not in form


def test_edit_without_a_source_image_is_refused_before_any_request(
    openai_provider: OpenAIProvider, fake_openai: FakeOpenAI
) -> None:
    with pytest.raises(InvalidRequest, match="source image"):
        openai_provider.edit(request())
    assert fake_openai.requests == []


def _b64_reply(data: bytes) -> Reply:
    return Reply(200, {"created": 0, "data": [{"b64_json": base64.b64encode(data).decode()}]})


@pytest.mark.parametrize(
    "data", [b"<html>not an image</html>", b"\x00" * 64], ids=["html", "zeros"]
)
def test_bytes_that_are_not_an_image_are_a_failure_not_a_result(
    openai_provider: OpenAIProvider, fake_openai: FakeOpenAI, data: bytes
) -> None:
    fake_openai.enqueue(_b64_reply(data))
    with pytest.raises(Transient, match="not an image"):
        openai_provider.generate(request())


def test_image_bytes_are_handed_on_undecoded_for_the_worker_to_verify(
    openai_provider: OpenAIProvider, fake_openai: FakeOpenAI
) -> None:
    # A PNG cut short looks like a PNG; decoding it is the worker's job (one verification per
    # image), which refuses it (tests/providers/test_pipeline.py).
    truncated = fake_openai.image[: len(fake_openai.image) // 2]
    fake_openai.enqueue(_b64_reply(truncated))
    image = openai_provider.generate(request())
    assert image.data == truncated and image.mime == "image/png"
    assert "width" not in image.meta and "height" not in image.meta
