"""The provider registry wiring from settings, the shared helpers (safe messages, retry-after,
hashed user ids) and the safe download helper on its own."""

from __future__ import annotations

import email.utils
import math
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from core.domain.images import DownloadFailed, download_image
from core.domain.settings import Settings
from core.providers import build_providers
from core.providers.base import (
    MAX_RETRY_AFTER_SECONDS,
    GenerationRequest,
    Transient,
    clamp_retry_after,
)
from core.providers.demo import DemoProvider
from core.providers.gemini import GeminiProvider
from core.providers.ideogram import IdeogramProvider
from core.providers.openai import OpenAIProvider
from core.providers.util import hashed_user_ref, plain_message, retry_after_seconds
from core.queue.runner import backoff_seconds
from tests.fakes.http_server import FakeServer, Recorded, Reply, make_png


def test_build_providers_configures_keys_base_urls_and_default_models() -> None:
    env = {
        "OPENAI_API_KEY": "sk-a",
        "OPENAI_BASE_URL": "http://gateway.test/v1",
        "OPENAI_DEFAULT_MODEL": "gpt-image-2.6-sunburst",
        "GEMINI_API_KEY": "g-key",
        "GEMINI_BASE_URL": "http://gateway.test",
        "GEMINI_DEFAULT_MODEL": "gemini-3-pro-image",
        "IDEOGRAM_API_KEY": "i-key",
        "IDEOGRAM_BASE_URL": "http://gateway.test/ideogram/",
    }
    providers = build_providers(Settings.load(env=env, secrets_path=None))

    openai = providers["openai"]
    gemini = providers["gemini"]
    ideogram = providers["ideogram"]
    assert isinstance(openai, OpenAIProvider) and openai.available()
    assert openai.base_url == "http://gateway.test/v1"
    assert openai.default_model.id == "gpt-image-2.6-sunburst"
    assert isinstance(gemini, GeminiProvider) and gemini.available()
    assert gemini.base_url == "http://gateway.test"
    assert gemini.default_model.id == "gemini-3-pro-image"
    assert isinstance(ideogram, IdeogramProvider) and ideogram.available()
    assert ideogram.base_url == "http://gateway.test/ideogram"
    assert ideogram.allow_http_downloads  # configured on an http base URL
    assert ideogram.default_model.id == "ideogram-3.0"


def test_providers_without_keys_are_listed_but_unavailable_naming_the_variable() -> None:
    providers = build_providers(Settings.load(env={}, secrets_path=None))
    for name, variable in [
        ("openai", "OPENAI_API_KEY"),
        ("gemini", "GEMINI_API_KEY"),
        ("ideogram", "IDEOGRAM_API_KEY"),
    ]:
        assert not providers[name].available()
        assert variable in (providers[name].unavailable_reason() or "")
    assert providers["demo"].available()


def test_a_retired_or_unknown_default_model_setting_falls_back_to_the_catalogue_default() -> None:
    assert OpenAIProvider(default_model="dall-e-3").default_model.id == "gpt-image-2"
    assert GeminiProvider(default_model="imagen-4.0-generate-001").default_model.id == (
        "gemini-nano-banana-2.1"
    )


def test_every_catalogue_has_one_default_and_unique_ids() -> None:
    # Replacements and shutdown dates: tests/providers/test_lifecycle.py.
    for provider in (OpenAIProvider(), GeminiProvider(), IdeogramProvider()):
        assert sum(m.default for m in provider.models) == 1
        ids = [m.id for m in provider.models]
        assert len(ids) == len(set(ids))


def test_plain_message_removes_keys_and_key_shaped_strings() -> None:
    key = "my-very-secret-value"
    text = (
        f"Bad key {key}; Incorrect API key provided: sk-ab***wxyz. "
        "Header was Bearer abcdefghijklmnop and AIzaSyA1234567890abcdefghij"
    )
    out = plain_message(text, [key])
    for secret in (key, "sk-ab***wxyz", "abcdefghijklmnop", "AIzaSyA1234567890abcdefghij"):
        assert secret not in out
    assert len(plain_message("x" * 1000)) == 300


def test_retry_after_reads_milliseconds_seconds_and_dates() -> None:
    assert retry_after_seconds({"retry-after-ms": "250", "retry-after": "9"}) == 0.25
    assert retry_after_seconds({"Retry-After": "9"}) == 9.0
    later = email.utils.formatdate(time.time() + 30, usegmt=True)
    assert 25 <= (retry_after_seconds({"retry-after": later}) or 0) <= 31
    assert retry_after_seconds({"retry-after": "soon"}) is None
    assert retry_after_seconds({}) is None


def test_provider_retry_delays_are_cut_to_a_sane_maximum() -> None:
    cap = MAX_RETRY_AFTER_SECONDS
    assert [clamp_retry_after(v) for v in (None, math.nan, -5, 0, 30.5)] == [None, None, 0, 0, 30.5]
    assert [clamp_retry_after(v) for v in (1e11, 99999999999999, math.inf, 10**400)] == [cap] * 4
    assert retry_after_seconds({"retry-after": "99999999999999"}) == cap
    assert retry_after_seconds({"retry-after-ms": "1e300"}) == cap
    assert retry_after_seconds({"retry-after": "inf"}) == cap
    assert retry_after_seconds({"retry-after": "-3"}) == 0
    assert retry_after_seconds({"retry-after": "nan"}) is None
    assert retry_after_seconds({"retry-after": "Fri, 31 Dec 9999 23:59:59 GMT"}) == cap
    assert retry_after_seconds({"retry-after": "Fri, 31 Dec 99999 23:59:59 GMT"}) is None
    # Whatever an adapter (or the demo's `[fail:transient:N]`) passes, the error holds the cut.
    assert Transient("busy", retry_after=1e14).retry_after == cap
    assert Transient("busy", retry_after=-1).retry_after == 0
    assert Transient("busy").retry_after is None
    # ... and the backoff never adds more than that to a date (which used to overflow).
    delay = backoff_seconds(1, retry_after=1e14)
    assert delay == cap and datetime.now(UTC) + timedelta(seconds=delay) > datetime.now(UTC)


def test_the_demo_transient_trigger_cannot_ask_for_an_endless_wait() -> None:
    request = GenerationRequest(model="demo-pattern", prompt="x [fail:transient:99999999999999]")
    with pytest.raises(Transient) as info:
        DemoProvider().generate(request)
    assert info.value.retry_after == MAX_RETRY_AFTER_SECONDS
    request = GenerationRequest(model="demo-pattern", prompt="x [fail:transient:" + "9" * 400 + "]")
    with pytest.raises(Transient) as info:
        DemoProvider().generate(request)
    assert info.value.retry_after == MAX_RETRY_AFTER_SECONDS


def test_hashed_user_ref_is_stable_and_hides_the_id() -> None:
    assert hashed_user_ref("u-1") == hashed_user_ref("u-1") != hashed_user_ref("u-2")
    assert "u-1" not in (hashed_user_ref("u-1") or "")
    assert hashed_user_ref(None) is None


class ImageHost(FakeServer):
    def __init__(self) -> None:
        super().__init__()
        self.image = make_png(10, 10, seed=2)

    def route(self, request: Recorded) -> Reply:
        scripted = self.scripted()
        return scripted or Reply(200, self.image, {"Content-Type": "image/png"})


@pytest.fixture
def host() -> Iterator[ImageHost]:
    with ImageHost() as server:
        yield server


def test_download_returns_exact_bytes_and_image_info(host: ImageHost) -> None:
    data, info = download_image(f"{host.url}/a.png", allow_http=True)
    assert data == host.image
    assert (info.mime, info.width, info.height) == ("image/png", 10, 10)


def test_download_refuses_plain_http_and_other_schemes_by_default(host: ImageHost) -> None:
    for url in (f"{host.url}/a.png", "file:///etc/passwd", "ftp://example.com/a.png", ""):
        with pytest.raises(DownloadFailed) as info:
            download_image(url)
        assert not info.value.transient
    assert host.requests == []


def test_download_does_not_follow_redirects(host: ImageHost) -> None:
    host.enqueue(Reply(302, b"", {"Location": "http://169.254.169.254/latest"}))
    with pytest.raises(DownloadFailed, match="HTTP 302"):
        download_image(f"{host.url}/a.png", allow_http=True)
    assert len(host.requests) == 1


def test_download_aborts_past_the_cap(host: ImageHost) -> None:
    host.enqueue(Reply(200, b"\x89PNG" + b"\0" * 5000, {"Content-Type": "image/png"}))
    with pytest.raises(DownloadFailed, match="larger than"):
        download_image(f"{host.url}/a.png", allow_http=True, max_bytes=4096)


def test_download_timeouts_are_transient(host: ImageHost) -> None:
    host.enqueue(Reply(200, b"", {"Content-Type": "image/png"}, delay=1.0))
    with pytest.raises(DownloadFailed, match="timed out") as info:
        download_image(f"{host.url}/a.png", allow_http=True, timeout=0.2)
    assert info.value.transient


def test_download_uses_a_given_client_without_closing_it(host: ImageHost) -> None:
    with httpx.Client() as client:
        download_image(f"{host.url}/a.png", allow_http=True, client=client)
        assert not client.is_closed
