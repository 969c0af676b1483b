"""A small threaded HTTP server on 127.0.0.1 that records every request and answers from a
script, the base of the provider fakes (the SDKs use httpx2, which respx cannot intercept)."""

from __future__ import annotations

import base64
import email.parser
import email.policy
import io
import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from PIL import Image


def make_png(width: int = 16, height: int = 16, seed: int = 1) -> bytes:
    """A small real PNG whose pixels depend on `seed`, so each fake's bytes are unique."""
    img = Image.new("RGB", (width, height))
    img.putdata(
        [((x * 13 + seed * 7) % 256, (y * 29 + seed) % 256, (seed * 53) % 256)
         for y in range(height) for x in range(width)]
    )  # fmt: skip
    out = io.BytesIO()
    img.save(out, format="PNG")
    return out.getvalue()


def b64decode_loose(text: str) -> bytes:
    """Decode standard or URL-safe base64, with or without padding (google-genai sends
    URL-safe base64 without padding)."""
    text = text.strip().replace("-", "+").replace("_", "/")
    return base64.b64decode(text + "=" * (-len(text) % 4))


@dataclass
class Recorded:
    """One request as the server saw it."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-case names
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body or b"null")

    def _parts(self) -> list[Any]:
        ctype = self.headers.get("content-type", "")
        if not ctype.startswith("multipart/form-data"):
            raise AssertionError(f"not a multipart body: {ctype!r}")
        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
            f"Content-Type: {ctype}\r\n\r\n".encode() + self.body
        )
        return list(message.iter_parts())

    def form(self) -> dict[str, str]:
        """The text fields of a multipart/form-data body (last value wins; files left out)."""
        fields: dict[str, str] = {}
        for part in self._parts():
            if part.get_filename() is None:
                name = part.get_param("name", header="content-disposition")
                fields[str(name)] = part.get_payload(decode=True).decode()
        return fields

    def files(self) -> dict[str, tuple[str, str, bytes]]:
        """The file parts of a multipart body: name → (file name, content type, bytes)."""
        out: dict[str, tuple[str, str, bytes]] = {}
        for part in self._parts():
            filename = part.get_filename()
            if filename is not None:
                name = str(part.get_param("name", header="content-disposition"))
                out[name] = (filename, part.get_content_type(), part.get_payload(decode=True))
        return out

    def file_parts(self) -> list[tuple[str, str, str, bytes]]:
        """Every file part in order, repeated names kept (OpenAI's `image[]`): (field name,
        file name, content type, bytes)."""
        out: list[tuple[str, str, str, bytes]] = []
        for part in self._parts():
            filename = part.get_filename()
            if filename is not None:
                name = str(part.get_param("name", header="content-disposition"))
                out.append((name, filename, part.get_content_type(), part.get_payload(decode=True)))
        return out


@dataclass
class Reply:
    """What the server answers. A dict or list body is sent as JSON."""

    status: int = 200
    body: bytes | str | dict[str, Any] | list[Any] = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds to wait before answering (for client timeouts)

    def encoded(self) -> tuple[bytes, dict[str, str]]:
        headers = dict(self.headers)
        if isinstance(self.body, dict | list):
            headers.setdefault("Content-Type", "application/json")
            return json.dumps(self.body).encode(), headers
        if isinstance(self.body, str):
            headers.setdefault("Content-Type", "text/plain; charset=utf-8")
            return self.body.encode(), headers
        return self.body, headers


class FakeServer:
    """Subclasses implement `route(request) -> Reply`; `script` replies are used first, in
    order, by whatever route calls `scripted()`."""

    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self._script: deque[Reply] = deque()
        self.latency = 0.0  # seconds added before every reply without its own delay
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ---- lifecycle ------------------------------------------------------------------------

    def start(self) -> FakeServer:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _serve(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else b""
                parts = urlsplit(self.path)
                request = Recorded(
                    method=self.command,
                    path=parts.path,
                    query=parse_qs(parts.query),
                    headers={k.lower(): v for k, v in self.headers.items()},
                    body=body,
                )
                with fake._lock:
                    fake.requests.append(request)
                reply = fake.route(request)
                delay = reply.delay or fake.latency
                if delay:
                    time.sleep(delay)
                payload, headers = reply.encoded()
                try:
                    self.send_response(reply.status)
                    for name, value in headers.items():
                        self.send_header(name, value)
                    if "content-length" not in {k.lower() for k in headers}:
                        self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout tests)

            do_GET = do_POST = do_PUT = do_DELETE = _serve

            def log_message(self, format: str, *args: Any) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        server.block_on_close = False
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        assert self._server is not None, "start the server first"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    # ---- script ---------------------------------------------------------------------------

    def enqueue(self, *replies: Reply) -> None:
        """Answer the next requests to the main endpoint with these replies, in order."""
        with self._lock:
            self._script.extend(replies)

    def reset(self) -> None:
        """Forget recorded requests and unused scripted replies."""
        with self._lock:
            self.requests.clear()
            self._script.clear()

    def scripted(self) -> Reply | None:
        with self._lock:
            return self._script.popleft() if self._script else None

    def route(self, request: Recorded) -> Reply:
        raise NotImplementedError

    def calls(self, path_part: str = "") -> list[Recorded]:
        """Recorded requests whose path contains `path_part`."""
        with self._lock:
            return [r for r in self.requests if path_part in r.path]
