"""The APNs sender against a stand-in that holds it to Apple's provider API over real TLS and
HTTP/2: what it takes is what was sent; gone tokens are gone; busy answers are retried; an
expired provider token is made afresh once, a forged one is final; nothing final is retried."""

from __future__ import annotations

import asyncio
import json
import ssl
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from local.process import free_port
from local.standins.apns import ApnsStandIn, serve
from local.standins.http2 import serve as serve_http2
from local.tls import certificate, key_pair
from notifier.apns import ApnsSender, ProviderToken
from notifier.devices import ApnsDevice, Platform
from notifier.http2 import Http2Client
from notifier.rules import Alert, AlertKind
from notifier.sending import Outcome

TOPIC = "com.example.scorecast"


def _key() -> tuple[str, str]:
    return key_pair("ec")


@dataclass
class Apple:
    service: ApnsStandIn
    sender: ApnsSender
    client: Http2Client
    private_key: str


@pytest.fixture
async def apple(tmp_path: Path) -> AsyncIterator[Apple]:
    tls = certificate(tmp_path)
    private, public = _key()
    service = ApnsStandIn("TEAM123456", "KEY1234567", public, TOPIC)
    port = free_port()
    server = await serve(service, "127.0.0.1", port, tls.cert, tls.key)
    context = ssl.create_default_context(cafile=str(tls.ca))
    client = Http2Client("127.0.0.1", port, connections=1, ssl_context=context)
    sender = ApnsSender(
        client, ProviderToken(private, "KEY1234567", "TEAM123456"), TOPIC, backoff_seconds=0.01
    )
    try:
        yield Apple(service, sender, client, private)
    finally:
        await client.aclose()
        server.close()
        await server.wait_closed()


def _device(apple: Apple, number: int, known: bool = True) -> ApnsDevice:
    token = f"{number:064x}"
    if known:
        apple.service.devices.add(token)
    return ApnsDevice(platform=Platform.APNS, token=token)


ALERT = Alert("0022000001", 7, AlertKind.SCORE, "GSW 20 – 22 BKN", "Nets lead, period 1.")


async def test_what_apple_takes_is_what_was_sent(apple: Apple) -> None:
    device = _device(apple, 1)
    sent = await apple.sender.send(device, ALERT)
    assert (sent.outcome, sent.status, sent.attempts) == (Outcome.SENT, 200, 1)
    [(collapse, body)] = apple.service.received[device.token]
    assert collapse == "game-0022000001"
    shown = json.loads(body)
    assert shown["aps"]["alert"] == {"title": ALERT.title, "body": ALERT.body}
    assert (shown["game_id"], shown["version"], shown["kind"]) == ("0022000001", 7, "score")
    assert apple.service.refused == []


async def test_gone_tokens_busy_answers_and_final_errors(apple: Apple) -> None:
    unknown = await apple.sender.send(_device(apple, 2, known=False), ALERT)
    assert (unknown.outcome, unknown.reason) == (Outcome.GONE, "BadDeviceToken")
    apple.service.unregistered.add(f"{3:064x}")
    dropped = await apple.sender.send(_device(apple, 3, known=False), ALERT)
    assert (dropped.outcome, dropped.status, dropped.reason) == (Outcome.GONE, 410, "Unregistered")
    apple.service.next_answers = [429, 503]
    busy = await apple.sender.send(_device(apple, 4), ALERT)
    assert (busy.outcome, busy.attempts) == (Outcome.SENT, 3)
    long = Alert("g", 1, AlertKind.SCORE, "x", "y" * 5000)
    too_big = await apple.sender.send(_device(apple, 5), long)
    assert (too_big.outcome, too_big.attempts) == (Outcome.FAILED, 0)  # never sent at all
    apple.sender.topic = "com.example.other"
    wrong = await apple.sender.send(_device(apple, 6), ALERT)
    # Our topic is wrong, not the device: final, and the device is kept.
    assert (wrong.outcome, wrong.reason, wrong.attempts) == (
        Outcome.FAILED,
        "DeviceTokenNotForTopic",
        1,
    )


async def test_an_expired_token_is_made_afresh_once_and_a_forged_one_is_final(
    apple: Apple,
) -> None:
    clock = [time.time() - 2 * 3600]  # the token was made two hours ago
    apple.sender.token = ProviderToken(
        apple.private_key, "KEY1234567", "TEAM123456", clock=lambda: clock[0]
    )
    apple.sender.token.header()
    clock[0] = time.time() - 2 * 3600 + 10  # not yet due for renewal by its own clock
    expired = await apple.sender.send(_device(apple, 7), ALERT)
    assert apple.service.refused == ["ExpiredProviderToken"] * 2
    assert expired.outcome is Outcome.FAILED  # made afresh, still by the skewed clock: final
    assert expired.attempts == 2
    apple.sender.token = ProviderToken(apple.private_key, "KEY1234567", "TEAM123456")
    assert (await apple.sender.send(_device(apple, 7), ALERT)).outcome is Outcome.SENT
    forged, _ = _key()
    apple.sender.token = ProviderToken(forged, "KEY1234567", "TEAM123456")
    refused = await apple.sender.send(_device(apple, 8), ALERT)
    assert (refused.outcome, refused.status, refused.attempts) == (Outcome.FAILED, 403, 1)
    assert refused.reason == "InvalidProviderToken"


async def test_many_alerts_share_one_connection(apple: Apple) -> None:
    devices = [_device(apple, 100 + number) for number in range(500)]
    sent = await asyncio.gather(*(apple.sender.send(device, ALERT) for device in devices))
    assert {result.outcome for result in sent} == {Outcome.SENT}
    assert len(apple.service.received) == 500


async def test_a_client_waits_for_the_servers_flow_control_window(tmp_path: Path) -> None:
    """A server that never opens its connection window beyond HTTP/2's 65,535 bytes and gives
    room back only as it answers: 500 alerts of 3 KB at once still all go, each body waiting
    for room (sent without waiting, they would break the connection's flow control)."""
    tls = certificate(tmp_path)
    private, public = _key()
    service = ApnsStandIn(
        "TEAM123456", "KEY1234567", public, TOPIC, accept_any=True, delay_seconds=0.05
    )
    port = free_port()
    server = await serve_http2(service.handle, "127.0.0.1", port, tls.cert, tls.key, window=0)
    client = Http2Client("127.0.0.1", port, 1, ssl.create_default_context(cafile=str(tls.ca)))
    sender = ApnsSender(client, ProviderToken(private, "KEY1234567", "TEAM123456"), TOPIC)
    try:
        devices = [ApnsDevice(platform=Platform.APNS, token=f"{n:064x}") for n in range(500)]
        long = Alert("g", 1, AlertKind.SCORE, "x", "y" * 3000)
        sent = await asyncio.gather(*(sender.send(device, long) for device in devices))
    finally:
        await client.aclose()
        server.close()
        await server.wait_closed()
    assert {result.outcome for result in sent} == {Outcome.SENT}
    assert service.tally.summary()["devices"] == 500
