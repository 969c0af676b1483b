"""Parameters travel with the image (issue 15): every stored image carries its recipe (prompt,
negative prompt, provider, model, options, seed, job id, studio version), and a dropped image's
recipe can be read back ("Recall").

Written without re-encoding pixels, keeping every byte the provider sent (so a C2PA manifest,
PNG `caBX`, JPEG APP11 or a WebP chunk, stays in place):

- PNG: two `iTXt` chunks inserted before `IEND`: `parameters` (the A1111 text most tools read)
  and `image-studio` (the recipe as JSON).
- JPEG: an XMP packet in an APP1 segment after the leading APP0/APP1 segments.
- WebP: an `XMP ` chunk at the end of the RIFF (a `VP8X` header is added to a simple file).

The XMP packet holds the same two texts (`studio:recipe`, `studio:parameters`). Note that a
C2PA manifest's hard binding hashes the file: it stays byte for byte, but a validator will
report the file changed after the insertion (as after any metadata edit).

Reading is bounded: at most MAX_INPUT bytes, MAX_CHUNKS chunks, compressed text inflated to at
most MAX_TEXT bytes (zip bombs stop there). Besides the studio's own key it reads A1111's
`parameters`, InvokeAI's `invokeai_metadata` and ComfyUI's `prompt` graph.
"""

from __future__ import annotations

import functools
import html
import io
import json
import re
import struct
import zlib
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any

from PIL import Image

from core.domain.models import Job

RECIPE_KEY = "image-studio"
A1111_KEY = "parameters"
MAX_INPUT = 50 * 1024 * 1024
MAX_CHUNKS = 10_000
MAX_TEXT = 1024 * 1024
MAX_JPEG_SEGMENT = 65_533
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
XMP_HEADER = b"http://ns.adobe.com/xap/1.0/\x00"
STUDIO_NS = "https://image-studio.dev/ns/recipe/1.0/"


@functools.cache
def studio_version() -> str:
    """The installed package's version, looked up once (a lookup scans sys.path: it cost
    every stored image about 0.4 ms of CPU under the GIL)."""
    try:
        return metadata.version("image-studio")
    except metadata.PackageNotFoundError:
        return "0.1.0"


@dataclass(frozen=True)
class Recipe:
    """What made an image. `source` says where it was read from: studio, a1111, invokeai,
    comfyui."""

    prompt: str
    negative_prompt: str | None = None
    provider: str | None = None
    model: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    seed: int | None = None
    job_id: str | None = None
    studio_version: str | None = None
    source: str = "studio"

    def to_json(self) -> dict[str, Any]:
        return {
            "prompt": self.prompt,
            "negative_prompt": self.negative_prompt,
            "provider": self.provider,
            "model": self.model,
            "params": self.params,
            "seed": self.seed,
            "job_id": self.job_id,
            "studio_version": self.studio_version,
        }

    def a1111_text(self) -> str:
        """The A1111 `parameters` form: prompt, `Negative prompt:` line, `Key: value, …`."""
        lines = [self.prompt]
        if self.negative_prompt:
            lines.append(f"Negative prompt: {self.negative_prompt}")
        pairs: list[tuple[str, object]] = []
        if self.seed is not None:
            pairs.append(("Seed", self.seed))
        if self.model:
            pairs.append(("Model", self.model))
        if self.provider:
            pairs.append(("Provider", self.provider))
        for key, value in sorted(self.params.items()):
            if key not in ("seed", "negative_prompt") and value not in (None, ""):
                pairs.append((key.replace("_", " ").capitalize(), value))
        if self.job_id:
            pairs.append(("Job id", self.job_id))
        pairs.append(("Studio", self.studio_version or studio_version()))
        lines.append(", ".join(f"{k}: {_a1111_value(v)}" for k, v in pairs))
        return "\n".join(lines)


def _a1111_value(value: object) -> str:
    text = str(value).replace("\n", " ")
    return json.dumps(text) if ("," in text or ":" in text) else text


def job_recipe(job: Job) -> Recipe:
    """A studio job's recipe."""
    params = dict(job.params)
    seed = params.get("seed")
    negative = params.get("negative_prompt")
    return Recipe(
        prompt=job.prompt,
        negative_prompt=negative if isinstance(negative, str) and negative else None,
        provider=job.provider,
        model=job.model,
        params=params,
        seed=seed if isinstance(seed, int) and not isinstance(seed, bool) else None,
        job_id=job.id,
        studio_version=studio_version(),
    )


# ---- writing -----------------------------------------------------------------------------------


def embed_recipe(data: bytes, mime: str, recipe: Recipe) -> bytes:
    """`data` with the recipe inserted (PNG, JPEG, WebP); other formats, or a file that cannot
    take it, come back unchanged. Never re-encodes pixels."""
    try:
        if mime == "image/png" and data.startswith(PNG_SIGNATURE):
            return _embed_png(data, recipe)
        if mime == "image/jpeg" and data.startswith(b"\xff\xd8"):
            return _embed_jpeg(data, recipe)
        if mime == "image/webp" and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
            return _embed_webp(data, recipe)
    except (ValueError, struct.error, OSError):
        return data
    return data


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _itxt(keyword: str, text: str) -> bytes:
    # keyword, NUL, compression flag 0, method 0, empty language tag NUL, empty translated NUL
    body = keyword.encode("latin-1") + b"\x00\x00\x00\x00\x00" + text.encode("utf-8")
    return _png_chunk(b"iTXt", body)


def _embed_png(data: bytes, recipe: Recipe) -> bytes:
    chunks = list(png_chunks(data))
    iend = next((c for c in chunks if c.kind == b"IEND"), None)
    if iend is None:
        raise ValueError("no IEND")
    kept = [
        c
        for c in chunks
        if not (c.kind in (b"iTXt", b"tEXt", b"zTXt") and c.keyword() in (A1111_KEY, RECIPE_KEY))
    ]
    ours = _itxt(A1111_KEY, recipe.a1111_text()) + _itxt(
        RECIPE_KEY, json.dumps(recipe.to_json(), ensure_ascii=False)
    )
    out = bytearray(PNG_SIGNATURE)
    for chunk in kept:
        if chunk.kind == b"IEND":
            out += ours
        out += data[chunk.start : chunk.end]
    return bytes(out)


def xmp_packet(recipe: Recipe) -> bytes:
    recipe_text = html.escape(json.dumps(recipe.to_json(), ensure_ascii=False), quote=False)
    params_text = html.escape(recipe.a1111_text(), quote=False)
    return (
        '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>'
        '<x:xmpmeta xmlns:x="adobe:ns:meta/">'
        '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        f'<rdf:Description rdf:about="" xmlns:studio="{STUDIO_NS}">'
        f"<studio:recipe>{recipe_text}</studio:recipe>"
        f"<studio:parameters>{params_text}</studio:parameters>"
        "</rdf:Description></rdf:RDF></x:xmpmeta>"
        '<?xpacket end="w"?>'
    ).encode()


def _embed_jpeg(data: bytes, recipe: Recipe) -> bytes:
    payload = XMP_HEADER + xmp_packet(recipe)
    if len(payload) + 2 > MAX_JPEG_SEGMENT + 2:
        raise ValueError("recipe too large for one APP1 segment")
    position = 2
    # after the leading APP0 (JFIF) / APP1 (Exif) segments; an XMP APP1 of ours is replaced
    while (
        position + 4 <= len(data) and data[position] == 0xFF and data[position + 1] in (0xE0, 0xE1)
    ):
        length = struct.unpack(">H", data[position + 2 : position + 4])[0]
        end = position + 2 + length
        if (
            data[position + 4 : position + 4 + len(XMP_HEADER)] == XMP_HEADER
            and STUDIO_NS.encode() in data[position:end]
        ):
            data = data[:position] + data[end:]
            continue
        position = end
    segment = b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload
    return data[:position] + segment + data[position:]


def _riff_chunks(data: bytes) -> list[tuple[bytes, int, int]]:
    """(fourcc, start, end) of each chunk after the WEBP header, padding included."""
    out: list[tuple[bytes, int, int]] = []
    position = 12
    limit = min(len(data), 8 + struct.unpack("<I", data[4:8])[0])
    while position + 8 <= limit and len(out) < MAX_CHUNKS:
        fourcc = data[position : position + 4]
        size = struct.unpack("<I", data[position + 4 : position + 8])[0]
        end = position + 8 + size + (size & 1)
        if end > limit:
            raise ValueError("truncated RIFF chunk")
        out.append((fourcc, position, end))
        position = end
    return out


def _embed_webp(data: bytes, recipe: Recipe) -> bytes:
    chunks = _riff_chunks(data)
    packet = xmp_packet(recipe)
    xmp = b"XMP " + struct.pack("<I", len(packet)) + packet + (b"\x00" if len(packet) & 1 else b"")
    body = bytearray()
    kinds = [c[0] for c in chunks]
    if b"XMP " in kinds:
        return data  # keep the provider's XMP untouched
    if kinds and kinds[0] == b"VP8X":
        _, start, end = chunks[0]
        header = bytearray(data[start:end])
        header[8] |= 0x04  # the XMP flag
        body += header
        for _, s, e in chunks[1:]:
            body += data[s:e]
    else:
        with Image.open(io.BytesIO(data)) as image:  # reads the header only
            width, height = image.size
        flags = 0x04 | (0x10 if b"ALPH" in kinds or _vp8l_alpha(data, chunks) else 0)
        vp8x = (
            bytes([flags, 0, 0, 0])
            + (width - 1).to_bytes(3, "little")
            + (height - 1).to_bytes(3, "little")
        )
        body += b"VP8X" + struct.pack("<I", len(vp8x)) + vp8x
        for _, s, e in chunks:
            body += data[s:e]
    body += xmp
    return b"RIFF" + struct.pack("<I", 4 + len(body)) + b"WEBP" + bytes(body)


def _vp8l_alpha(data: bytes, chunks: list[tuple[bytes, int, int]]) -> bool:
    for kind, start, _end in chunks:
        if kind == b"VP8L" and start + 13 <= len(data):
            bits = struct.unpack("<I", data[start + 9 : start + 13])[0]
            return bool((bits >> 28) & 1)
    return False


# ---- reading -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class PngChunk:
    kind: bytes
    start: int  # offset of the length field
    end: int  # offset after the CRC
    body: bytes

    def keyword(self) -> str:
        return self.body.split(b"\x00", 1)[0].decode("latin-1", "replace")


def png_chunks(data: bytes) -> list[PngChunk]:
    """Every chunk of a PNG, bounded; ValueError for a file that is not one."""
    if not data.startswith(PNG_SIGNATURE):
        raise ValueError("not a PNG")
    out: list[PngChunk] = []
    position = len(PNG_SIGNATURE)
    while position + 12 <= len(data) and len(out) < MAX_CHUNKS:
        length = struct.unpack(">I", data[position : position + 4])[0]
        kind = data[position + 4 : position + 8]
        end = position + 12 + length
        if end > len(data):
            raise ValueError("truncated PNG chunk")
        out.append(PngChunk(kind, position, end, data[position + 8 : position + 8 + length]))
        position = end
        if kind == b"IEND":
            break
    return out


def _inflate(data: bytes) -> str:
    inflater = zlib.decompressobj()
    text = inflater.decompress(data, MAX_TEXT)
    if inflater.unconsumed_tail:
        raise ValueError("compressed text too large")
    return text.decode("utf-8", "replace")


def png_texts(data: bytes) -> dict[str, str]:
    """The text chunks of a PNG (tEXt, zTXt, iTXt) by keyword, each bounded."""
    texts: dict[str, str] = {}
    for chunk in png_chunks(data):
        try:
            if chunk.kind == b"tEXt":
                key, _, value = chunk.body.partition(b"\x00")
                texts[key.decode("latin-1")] = value[:MAX_TEXT].decode("latin-1")
            elif chunk.kind == b"zTXt":
                key, _, rest = chunk.body.partition(b"\x00")
                texts[key.decode("latin-1")] = _inflate(rest[1:])
            elif chunk.kind == b"iTXt":
                key, _, rest = chunk.body.partition(b"\x00")
                compressed = rest[:1] == b"\x01"
                rest = rest[2:]
                _lang, _, rest = rest.partition(b"\x00")
                _translated, _, text = rest.partition(b"\x00")
                texts[key.decode("latin-1")] = (
                    _inflate(text) if compressed else text[:MAX_TEXT].decode("utf-8", "replace")
                )
        except (ValueError, zlib.error):
            continue
    return texts


def _xmp_of(data: bytes) -> str | None:
    if data.startswith(b"\xff\xd8"):
        position = 2
        while position + 4 <= len(data) and data[position] == 0xFF:
            marker = data[position + 1]
            if marker in (0xD9, 0xDA):
                break
            length = struct.unpack(">H", data[position + 2 : position + 4])[0]
            segment = data[position + 4 : position + 2 + length]
            if marker == 0xE1 and segment.startswith(XMP_HEADER):
                return segment[len(XMP_HEADER) :].decode("utf-8", "replace")
            position += 2 + length
        return None
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        for kind, start, _end in _riff_chunks(data):
            if kind == b"XMP ":
                size = struct.unpack("<I", data[start + 4 : start + 8])[0]
                return data[start + 8 : start + 8 + size].decode("utf-8", "replace")
    return None


def read_texts(data: bytes) -> dict[str, str]:
    """The recipe-bearing texts of an image: PNG text chunks, or the two XMP fields."""
    if len(data) > MAX_INPUT:
        raise ValueError("image too large")
    if data.startswith(PNG_SIGNATURE):
        return png_texts(data)
    xmp = _xmp_of(data)
    if not xmp:
        return {}
    texts = {}
    for name, key in (("recipe", RECIPE_KEY), ("parameters", A1111_KEY)):
        match = re.search(rf"<studio:{name}>(.*?)</studio:{name}>", xmp, re.S)
        if match:
            texts[key] = html.unescape(match.group(1))
    return texts


def read_recipe(data: bytes) -> Recipe | None:
    """The recipe inside an image (studio, A1111, InvokeAI, ComfyUI), or None. Never raises
    for a malformed file."""
    try:
        texts = read_texts(data)
    except (ValueError, struct.error):
        return None
    for reader in (_studio, _invokeai, _a1111, _comfyui):
        try:
            recipe = reader(texts)
        except (ValueError, TypeError, KeyError, AttributeError):
            recipe = None
        if recipe is not None and recipe.prompt.strip():
            return recipe
    return None


def _studio(texts: dict[str, str]) -> Recipe | None:
    raw = texts.get(RECIPE_KEY)
    if raw is None:
        return None
    doc = json.loads(raw)
    params = doc.get("params") or {}
    seed = doc.get("seed")
    return Recipe(
        prompt=str(doc["prompt"]),
        negative_prompt=doc.get("negative_prompt") or None,
        provider=doc.get("provider"),
        model=doc.get("model"),
        params=params if isinstance(params, dict) else {},
        seed=seed if isinstance(seed, int) else None,
        job_id=doc.get("job_id"),
        studio_version=doc.get("studio_version"),
        source="studio",
    )


_A1111_PAIR = re.compile(r'\s*([\w][\w \-/()]*?):\s*("(?:\\.|[^"])*"|[^,]*)(?:,|$)')


def parse_a1111(text: str) -> Recipe:
    """A1111's `parameters`: prompt lines, an optional `Negative prompt:` part, then the last
    line of `Key: value` pairs."""
    lines = text.strip().split("\n")
    settings: dict[str, str] = {}
    if lines and re.match(r"^\s*Steps:|^\s*Seed:|^[\w ]+: .*, [\w ]+: ", lines[-1]):
        for key, value in _A1111_PAIR.findall(lines[-1]):
            value = value.strip()
            if value.startswith('"'):
                try:
                    value = json.loads(value)
                except ValueError:
                    value = value.strip('"')
            settings[key.strip()] = value
        lines = lines[:-1]
    body = "\n".join(lines)
    prompt, _, negative = body.partition("Negative prompt:")
    seed = settings.get("Seed", "")
    params: dict[str, Any] = {}
    if "Size" in settings and re.fullmatch(r"\d+x\d+", settings["Size"]):
        params["size"] = settings["Size"]
    for key, value in settings.items():
        if key not in ("Seed", "Model", "Provider", "Job id", "Studio", "Size"):
            params[key.lower().replace(" ", "_")] = value
    return Recipe(
        prompt=prompt.strip(),
        negative_prompt=negative.strip() or None,
        provider=settings.get("Provider"),
        model=settings.get("Model"),
        params=params,
        seed=int(seed) if seed.isdigit() else None,
        job_id=settings.get("Job id"),
        studio_version=settings.get("Studio"),
        source="a1111",
    )


def _a1111(texts: dict[str, str]) -> Recipe | None:
    text = texts.get(A1111_KEY)
    return parse_a1111(text) if text else None


def _invokeai(texts: dict[str, str]) -> Recipe | None:
    raw = texts.get("invokeai_metadata")
    if raw is None:
        return None
    doc = json.loads(raw)
    model = doc.get("model")
    seed = doc.get("seed")
    params = {k: doc[k] for k in ("width", "height", "steps", "cfg_scale", "scheduler") if k in doc}
    return Recipe(
        prompt=str(doc.get("positive_prompt") or ""),
        negative_prompt=doc.get("negative_prompt") or None,
        model=(model.get("name") if isinstance(model, dict) else model) or None,
        params=params,
        seed=seed if isinstance(seed, int) else None,
        source="invokeai",
    )


def _comfyui(texts: dict[str, str]) -> Recipe | None:
    """ComfyUI's `prompt` (the API graph): the sampler's positive and negative text nodes."""
    raw = texts.get("prompt")
    if raw is None:
        return None
    graph = json.loads(raw)
    if not isinstance(graph, dict):
        return None

    def text_of(link: object) -> str | None:
        if isinstance(link, list) and link:
            node = graph.get(str(link[0]), {})
            value = node.get("inputs", {}).get("text")
            return value if isinstance(value, str) else None
        return None

    for node in graph.values():
        inputs = node.get("inputs", {}) if isinstance(node, dict) else {}
        if "positive" in inputs:
            positive = text_of(inputs.get("positive"))
            if positive:
                seed = inputs.get("seed", inputs.get("noise_seed"))
                return Recipe(
                    prompt=positive,
                    negative_prompt=text_of(inputs.get("negative")) or None,
                    params={k: inputs[k] for k in ("steps", "cfg", "sampler_name") if k in inputs},
                    seed=seed if isinstance(seed, int) else None,
                    source="comfyui",
                )
    return None
