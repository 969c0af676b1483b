"""The README's 10-line webhook receiver works: it accepts a delivery signed by the studio's
sender and refuses a forged one."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from starlette.testclient import TestClient

from core.domain.webhooks import WebhookConfig, derive_secret, new_message_id
from core.queue.webhooks import WebhookSender
from tests.constants import REPO_ROOT


def _receiver_source() -> str:
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("A complete receiver", 1)[1]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match is not None
    return match.group(1)


def test_the_readme_receiver_verifies_a_real_delivery() -> None:
    source = _receiver_source()
    assert len([line for line in source.splitlines() if line.strip()]) <= 11
    secret = derive_secret(b"k" * 32, "salt")
    namespace: dict = {}
    exec(compile(source.replace("whsec_...", secret), "README", "exec"), namespace)
    body = '{"data":{"id":"j1"},"timestamp":"2026-01-01T00:00:00Z","type":"job.succeeded"}'
    sender = WebhookSender(WebhookConfig())

    class Delivery:
        id = new_message_id()
        payload = body

    headers = sender.headers(Delivery, secret, datetime.now(UTC))  # type: ignore[arg-type]
    sender.close()
    with TestClient(namespace["app"]) as client:
        assert client.post("/hooks/studio", content=body, headers=headers).status_code == 200
        forged = {**headers, "webhook-signature": "v1,AAAA"}
        assert client.post("/hooks/studio", content=body, headers=forged).status_code == 400
    assert namespace["seen"] == {headers["webhook-id"]}
