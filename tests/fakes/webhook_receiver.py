"""A local webhook receiver: verifies every delivery's signature with the `standardwebhooks`
package (as a customer's receiver would), records it, and answers from a script (status codes,
Retry-After, a delay to force a timeout, a redirect)."""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks.webhooks import Webhook, WebhookVerificationError


@dataclass(frozen=True)
class Reply:
    status: int = 204
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds before answering (a timeout test sleeps past the client's)


@dataclass(frozen=True)
class Received:
    webhook_id: str
    body: dict[str, Any]
    verified: bool
    answered: int
    headers: dict[str, str]


class WebhookReceiver:
    """`url` takes POSTs; `secret` (set after the endpoint is created) verifies them."""

    def __init__(self) -> None:
        self.secret: str | None = None
        self.script: deque[Reply] = deque()
        self.received: list[Received] = []
        self.lock = threading.Lock()
        self.arrived = threading.Condition(self.lock)
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                raw = self.rfile.read(length)
                headers = {k.lower(): v for k, v in self.headers.items()}
                with receiver.lock:
                    reply = receiver.script.popleft() if receiver.script else Reply()
                if reply.delay:
                    time.sleep(reply.delay)
                verified = False
                if receiver.secret is not None:
                    try:
                        Webhook(receiver.secret).verify(raw, headers)
                        verified = True
                    except WebhookVerificationError:
                        verified = False
                # recorded before answering: the sender may move on as soon as it has the answer
                with receiver.arrived:
                    receiver.received.append(
                        Received(
                            headers.get("webhook-id", ""),
                            json.loads(raw or b"null"),
                            verified,
                            reply.status if not reply.delay else 0,
                            headers,
                        )
                    )
                    receiver.arrived.notify_all()
                try:
                    self.send_response(reply.status)
                    for name, value in reply.headers.items():
                        self.send_header(name, value)
                    self.send_header("content-length", "0")
                    self.end_headers()
                except OSError:
                    pass  # the client gave up (timeout): it was not acknowledged

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def reply(self, *replies: Reply) -> None:
        with self.lock:
            self.script.extend(replies)

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Received]:
        """Block until `count` requests arrived; fail on timeout."""
        deadline = time.monotonic() + timeout
        with self.arrived:
            while len(self.received) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(
                        f"{len(self.received)} of {count} webhook requests arrived in {timeout}s"
                    )
                self.arrived.wait(left)
            return list(self.received)

    def acknowledged(self) -> list[Received]:
        with self.lock:
            return [r for r in self.received if 200 <= r.answered < 300]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
