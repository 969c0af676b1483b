"""Image bytes: decode and verify (what a provider or a person gave us), thumbnails, file
extensions. Safe download of provider URLs lives here too."""

from __future__ import annotations

import io
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx
from PIL import Image

from core.domain.errors import ValidationError

# Decompression-bomb guard: a 64-megapixel image is already far beyond any provider output.
MAX_PIXELS = 64_000_000
MAX_BYTES = 50 * 1024 * 1024
THUMB_MAX_SIDE = 384

_MIME_BY_FORMAT = {
    "PNG": "image/png",
    "JPEG": "image/jpeg",
    "WEBP": "image/webp",
    "GIF": "image/gif",
}
_EXT_BY_MIME = {"image/png": "png", "image/jpeg": "jpg", "image/webp": "webp", "image/gif": "gif"}
# Every extension an accepted image may be stored under (what extension_for returns).
EXTENSIONS = tuple(_EXT_BY_MIME.values())
_MIME_BY_EXT = {ext: mime for mime, ext in _EXT_BY_MIME.items()} | {"jpeg": "image/jpeg"}


def mime_for_extension(ext: str) -> str | None:
    """The MIME type of a stored image by its file extension; None if it is not one we store."""
    return _MIME_BY_EXT.get(ext.lower())


class InvalidImage(ValidationError):
    """The bytes are not an image we accept (not an image, unsupported format, too large)."""

    code = "invalid_image"


@dataclass(frozen=True)
class ImageInfo:
    width: int
    height: int
    mime: str
    format: str


def inspect_image(
    data: bytes, *, max_pixels: int = MAX_PIXELS, max_bytes: int = MAX_BYTES
) -> ImageInfo:
    """Check that `data` is a complete PNG, JPEG, WebP or GIF of sane size; raise InvalidImage
    otherwise. The format comes from the bytes, never from a claimed MIME type."""
    if not data:
        raise InvalidImage("The image is empty.")
    if len(data) > max_bytes:
        raise InvalidImage(f"The image is larger than {max_bytes // (1024 * 1024)} MB.")
    try:
        # The pixel count is checked from the header, before anything is decoded. (No
        # warnings.catch_warnings here: it is process-global and the worker is threaded.)
        with Image.open(io.BytesIO(data)) as img:
            fmt = (img.format or "").upper()
            width, height = img.size
            if fmt not in _MIME_BY_FORMAT:
                raise InvalidImage(
                    "Unsupported image format; use PNG, JPEG, WebP or GIF."
                    if fmt
                    else "This file is not an image."
                )
            _check_pixels(width, height, max_pixels)
            img.verify()
    except InvalidImage:
        raise
    except Image.DecompressionBombError as exc:
        raise InvalidImage("The image has too many pixels.") from exc
    except Exception as exc:  # Pillow raises many kinds for corrupt data
        raise InvalidImage("This file is not a readable image.") from exc
    return ImageInfo(width=width, height=height, mime=_MIME_BY_FORMAT[fmt], format=fmt)


def sniff_mime(data: bytes) -> str | None:
    """The accepted image type the leading bytes announce (PNG, JPEG, WebP, GIF), or None.
    A cheap first look for provider adapters: nothing is decoded, so it proves only that the
    bytes claim to be an image; the worker verifies them fully (inspect_image) before storing."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    return None


def make_thumbnail(data: bytes, max_side: int = THUMB_MAX_SIDE) -> bytes:
    """A WebP no larger than `max_side` on its long side, EXIF orientation applied."""
    with Image.open(io.BytesIO(data)) as img:
        _check_pixels(*img.size, MAX_PIXELS)
        if img.format == "JPEG":
            img.draft("RGB", (max_side, max_side))  # decode at reduced scale: much cheaper
        orientation = img.getexif().get(_ORIENTATION, 1)
        has_alpha = img.mode in ("RGBA", "LA", "PA") or (
            img.mode == "P" and "transparency" in img.info
        )
        mode = "RGBA" if has_alpha else "RGB"
        thumb = img.convert(mode) if img.mode != mode else img
        # Shrink in place (no copies), then rotate the small result. Pillow's box filter is
        # antialiased; at thumbnail size it looks like Lanczos at a third of the cost.
        thumb.thumbnail((max_side, max_side), Image.Resampling.BOX)
        if orientation in _TRANSPOSE:
            thumb = thumb.transpose(_TRANSPOSE[orientation])
        out = io.BytesIO()
        thumb.save(out, format="WEBP", quality=80, method=0)
    return out.getvalue()


_ORIENTATION = 0x0112
_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


def _check_pixels(width: int, height: int, max_pixels: int) -> None:
    if width < 1 or height < 1 or width * height > max_pixels:
        raise InvalidImage(
            f"The image is {width}×{height} pixels; at most "
            f"{max_pixels // 1_000_000} megapixels are accepted."
        )


def extension_for(mime: str) -> str:
    """The file extension for an accepted image MIME type ('image/jpeg' → 'jpg')."""
    try:
        return _EXT_BY_MIME[mime.split(";")[0].strip().lower()]
    except (KeyError, AttributeError):
        raise InvalidImage(f"Unsupported image type {mime!r}.") from None


# ---- safe download of provider URLs (Ideogram hands back temporary links) ------------------

MAX_DOWNLOAD_BYTES = 25 * 1024 * 1024
DOWNLOAD_TIMEOUT_SECONDS = 60.0


class DownloadFailed(Exception):
    """A provider URL could not be fetched or was refused. `transient` says whether trying
    again later may help; the message is plain words, safe to show."""

    def __init__(self, message: str, *, transient: bool) -> None:
        super().__init__(message)
        self.message = message
        self.transient = transient


def download_image(
    url: str,
    *,
    allow_http: bool = False,
    max_bytes: int = MAX_DOWNLOAD_BYTES,
    timeout: float = DOWNLOAD_TIMEOUT_SECONDS,
    client: httpx.Client | None = None,
    source: str = "The provider",
) -> tuple[bytes, ImageInfo]:
    """Fetch an image from a provider's URL: https only (plain http only with `allow_http`,
    for tests or a gateway on an http base URL), no redirects, a timeout, a size cap enforced
    while streaming, an image content type, and Pillow verification. Returns the exact bytes."""
    parts = urlsplit(url or "")
    if parts.scheme not in (("https", "http") if allow_http else ("https",)) or not parts.hostname:
        raise DownloadFailed(
            f"{source} returned an image link that is not a secure https address; "
            "it was not downloaded.",
            transient=False,
        )
    too_large = f"{source} returned an image larger than {max_bytes // (1024 * 1024)} MB."
    http = client or httpx.Client(follow_redirects=False)
    buf = bytearray()
    try:
        with http.stream("GET", url, timeout=timeout) as response:
            status = response.status_code
            if status >= 500 or status in (408, 429):
                raise DownloadFailed(
                    f"{source}'s image server answered HTTP {status}.", transient=True
                )
            if status != 200:
                raise DownloadFailed(
                    f"{source}'s image link could not be fetched (HTTP {status}); "
                    "it may have expired.",
                    transient=False,
                )
            ctype = response.headers.get("content-type", "").split(";")[0].strip().lower()
            if not ctype.startswith("image/"):
                raise DownloadFailed(
                    f"{source} returned a file that is not an image.", transient=False
                )
            declared = response.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > max_bytes:
                raise DownloadFailed(too_large, transient=False)
            for chunk in response.iter_bytes():
                buf.extend(chunk)
                if len(buf) > max_bytes:
                    raise DownloadFailed(too_large, transient=False)
    except httpx.TimeoutException as exc:
        raise DownloadFailed(
            f"Downloading the image from {source} timed out.", transient=True
        ) from exc
    except httpx.TransportError as exc:
        raise DownloadFailed(f"Could not reach {source}'s image server.", transient=True) from exc
    finally:
        if client is None:
            http.close()
    data = bytes(buf)
    try:
        info = inspect_image(data, max_bytes=max_bytes)
    except InvalidImage as exc:
        raise DownloadFailed(
            f"{source} returned a file that is not a valid image.", transient=False
        ) from exc
    return data, info
