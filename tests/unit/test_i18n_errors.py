"""Issue #14 round two: the errors the edit, iterate, compare and webhook code raises for the
UI name their message (reason + params), so the UI words them in the user's language while
core and the API keep the English sentence. Each error comes from the real check."""

from __future__ import annotations

import io
import re
from collections.abc import Callable

import pytest
from PIL import Image

from core.domain import uploads
from core.domain.errors import StudioError
from core.domain.webhooks import AddressPolicy, check_events, check_url
from pages.i18n import translator
from pages.widgets import FILE_KINDS


def _png(size: tuple[int, int], colour: int = 0) -> bytes:
    out = io.BytesIO()
    Image.new("L", size, colour).save(out, format="PNG")
    return out.getvalue()


def _raised(call: Callable[[], object]) -> StudioError:
    with pytest.raises(StudioError) as caught:
        call()
    return caught.value


def _in(language: str, error: StudioError) -> str:
    """What widgets.error_text shows: the file kind in the language, then the message."""
    words = translator(language)
    params = dict(error.params)
    if params.get("what") in FILE_KINDS:
        params["what"] = words(FILE_KINDS[str(params["what"])])
    return words(f"error.{error.reason}", **params)


POLICY = AddressPolicy()
CASES: dict[str, Callable[[], object]] = {
    "empty mask": lambda: uploads.prepare_image(b"", what="mask"),
    "not bytes": lambda: uploads.prepare_image("text", what="image"),
    "not an image": lambda: uploads.prepare_image(b"GIF89a" + b"\0" * 20, what="source image"),
    "unreadable": lambda: uploads.prepare_image(
        b"\x89PNG\r\n\x1a\n" + b"\0" * 40, what="reference image 2"
    ),
    "too many pixels": lambda: uploads.prepare_image(_png((30, 30)), max_pixels=100),
    "too large": lambda: uploads.check_upload_size(30 * 1024 * 1024),
    "mask size": lambda: uploads.prepare_mask(_png((8, 8), 255), (16, 16)),
    "blank mask": lambda: uploads.prepare_mask(_png((8, 8), 0), (8, 8)),
    "no events": lambda: check_events([]),
    "unknown event": lambda: check_events(["job.exploded"]),
    "url type": lambda: check_url(42, POLICY),
    "no host": lambda: check_url("ftp://", POLICY),
    "credentials": lambda: check_url("https://a:b@example.com/", POLICY),
    "fragment": lambda: check_url("https://example.com/#x", POLICY),
    "http": lambda: check_url("http://example.com/", POLICY),
    "internal": lambda: check_url("https://10.0.0.1/", POLICY),
    "metadata": lambda: check_url("https://169.254.169.254/", POLICY),
}


@pytest.mark.parametrize("case", list(CASES))
def test_the_error_has_a_reason_and_reads_in_both_languages(case: str) -> None:
    error = _raised(CASES[case])
    assert error.reason not in {error.code, "validation_error"}, error.message
    chinese = _in("zh-CN", error)
    leftover = re.sub(r"https?://|PNG|JPEG|WebP|MB|URL|Webhook|job\.\w+", "", chinese)
    assert not re.search(r"[A-Za-z]{3}", leftover), chinese
    assert "{" not in chinese
    # The UI's English is core's sentence (a reference image's number aside).
    assert _in("en", error) == error.message.replace("reference image 2", "reference image")


def test_the_file_kind_is_said_in_chinese() -> None:
    error = _raised(CASES["empty mask"])
    assert (error.reason, error.params) == ("upload_empty", {"what": "mask"})
    assert _in("zh-CN", error) == "蒙版是空的。"
    assert _raised(CASES["unreadable"]).params == {"what": "reference image"}
