"""Hostile inputs first: webhook URLs and connections that must never reach internal
addresses (loopback, private, link-local metadata), by literal, by DNS, by redirect."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from datetime import UTC, datetime

import httpcore
import pytest

from core.domain.errors import ValidationError
from core.domain.webhooks import (
    AddressPolicy,
    DeliveryStatus,
    WebhookConfig,
    WebhookDelivery,
    check_url,
    is_public,
)
from core.queue.webhooks import GuardedNetwork, RefusedAddress, WebhookSender
from tests.fakes.webhook_receiver import Reply, WebhookReceiver

STRICT = AddressPolicy()


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    rec = WebhookReceiver()
    yield rec
    rec.close()


@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1/hook",
        "https://127.1.2.3:8443/hook",
        "https://[::1]/hook",
        "https://[::ffff:127.0.0.1]/hook",
        "https://[::ffff:10.0.0.1]/hook",
        "https://10.0.0.5/hook",
        "https://10.255.255.255/",
        "https://172.16.0.1/",
        "https://192.168.1.1/",
        "https://169.254.169.254/latest/meta-data/",
        "https://[fe80::1]/",
        "https://[fd00::1]/",
        "https://100.64.0.1/",
        "https://0.0.0.0/",
        "https://[::]/",
        "https://224.0.0.1/",
        "https://metadata.google.internal/computeMetadata/v1/",
        "https://[64:ff9b::7f00:1]/",  # NAT64 of 127.0.0.1
    ],
)
def test_internal_literal_addresses_are_refused(url: str) -> None:
    with pytest.raises(ValidationError, match="internal"):
        check_url(url, STRICT)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://example.com/hook", "https"),
        ("ftp://example.com/hook", "https"),
        ("https://user:pw@example.com/hook", "password"),
        ("https:///nohost", "host"),
        ("https://example.com/" + "a" * 3000, "at most"),
        ("https://example.com:99999/", "parsed"),
        ("https://example.com/#frag", "fragment"),
        ("javascript:alert(1)", "https"),
        ("", "https"),
    ],
)
def test_malformed_or_plain_http_urls_are_refused(url: str, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        check_url(url, STRICT)


@pytest.mark.parametrize("value", [None, 42, ["https://example.com"], {"url": 1}, b"https://x"])
def test_a_url_of_the_wrong_type_is_refused(value: object) -> None:
    with pytest.raises(ValidationError):
        check_url(value, STRICT)


def test_a_public_https_url_passes_and_the_allow_list_lets_a_local_receiver_in() -> None:
    assert check_url(" https://hooks.example.com/in ", STRICT) == "https://hooks.example.com/in"
    local = AddressPolicy.parse("127.0.0.1, localhost")
    assert check_url("http://127.0.0.1:8080/hook", local) == "http://127.0.0.1:8080/hook"
    assert check_url("http://localhost:8080/hook", local)
    # the allow-list names exactly what it names: another loopback address stays out
    with pytest.raises(ValidationError):
        check_url("http://127.0.0.2/hook", local)


def test_public_means_globally_routable() -> None:
    assert is_public(ipaddress.ip_address("93.184.216.34"))
    assert is_public(ipaddress.ip_address("2606:4700::1111"))
    for internal in ("127.0.0.1", "10.1.1.1", "169.254.169.254", "::1", "::ffff:192.168.0.1"):
        assert not is_public(ipaddress.ip_address(internal))


def _connect(network: GuardedNetwork, host: str, port: int = 443) -> None:
    network.connect_tcp(host, port, timeout=2)


def test_a_dns_name_resolving_to_loopback_is_refused_at_connect_time() -> None:
    network = GuardedNetwork(STRICT, resolver=lambda host, port: ["127.0.0.1"])
    with pytest.raises(RefusedAddress):
        _connect(network, "innocent.example.com")


def test_a_dns_answer_mixing_public_and_internal_addresses_is_refused() -> None:
    network = GuardedNetwork(STRICT, resolver=lambda host, port: ["93.184.216.34", "10.0.0.1"])
    with pytest.raises(RefusedAddress):
        _connect(network, "mixed.example.com")


def test_the_system_resolver_is_checked_too() -> None:
    # glibc reads "2130706433" as 127.0.0.1 and "localhost" is loopback: both refused
    network = GuardedNetwork(STRICT)
    for host in ("localhost", "2130706433", "0x7f000001"):
        with pytest.raises((RefusedAddress, httpcore.ConnectError)):
            _connect(network, host, 80)


def test_dns_rebinding_cannot_slip_through_between_check_and_connect(
    receiver: WebhookReceiver,
) -> None:
    """The registration check sees no address; every connection resolves and checks again,
    and connects to the address it checked."""
    answers = iter([["93.184.216.34"], ["127.0.0.1"]])

    def rebinding(host: str, port: int) -> list[str]:
        return next(answers)

    config = WebhookConfig(policy=STRICT, timeout=2)
    sender = WebhookSender(config, resolver=rebinding)
    check_url("https://rebind.example.com/hook", STRICT)  # registration passes
    next(answers)  # the first answer was public; the connection meets the rebinding one
    attempt = sender.send(_delivery("https://rebind.example.com/hook"), "whsec_" + "A" * 44)
    sender.close()
    assert attempt.status_code is None
    assert attempt.error is not None and "refused" in attempt.error
    assert receiver.received == []


def test_redirects_are_not_followed(receiver: WebhookReceiver) -> None:
    target = WebhookReceiver()  # the internal service the redirect points at
    try:
        receiver.reply(Reply(302, {"location": target.url}))
        config = WebhookConfig(policy=AddressPolicy.parse("127.0.0.1"), timeout=2)
        sender = WebhookSender(config)
        attempt = sender.send(_delivery(receiver.url), "whsec_" + "A" * 44)
        sender.close()
        assert attempt.status_code == 302
        assert attempt.error == "HTTP 302"  # a failure, retried later: never followed
        assert len(receiver.received) == 1
        assert target.received == []
    finally:
        target.close()


def test_an_allowed_host_name_still_cannot_reach_an_address_outside_the_list() -> None:
    policy = AddressPolicy.parse("hooks.internal.example")
    network = GuardedNetwork(policy, resolver=lambda host, port: ["169.254.169.254"])
    with pytest.raises(RefusedAddress):
        _connect(network, "hooks.internal.example")


def _delivery(url: str) -> WebhookDelivery:
    now = datetime.now(UTC)
    return WebhookDelivery(
        id="msg_test",
        user_id="u",
        endpoint_id=None,
        url=url,
        event="job.queued",
        job_id="j",
        payload='{"type":"job.queued"}',
        status=DeliveryStatus.PENDING,
        attempts=1,
        created_at=now,
        next_attempt_at=now,
    )
