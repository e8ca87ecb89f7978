"""The FCM sender against a stand-in that holds it to Firebase's HTTP v1 contract over TLS:
google-auth's service-account token from the stand-in's token endpoint, what Firebase takes is
what was sent, gone tokens are gone, busy answers retried, a refused access token made afresh
once, nothing final retried."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from local.process import free_ports
from local.standins.fcm import FcmStandIn
from local.standins.http2 import serve as serve_http2
from local.tls import certificate, key_pair
from notifier.devices import FcmDevice, Platform
from notifier.fcm import AccessToken, FcmSender
from notifier.http2 import Http2Client
from notifier.rules import Alert, AlertKind
from notifier.sending import Outcome
from tests.conftest import ThreadedServer

pytestmark = pytest.mark.stack

ALERT = Alert("2023020001", 9, AlertKind.SCORE, "NSH 2 – 3 TBL", "Goal: Kucherov (12).")


def service_account(token_uri: str) -> tuple[dict[str, Any], str]:
    """A service account's key file (as Firebase's console gives it) and its public key."""
    private, public = key_pair("rsa")
    info = {
        "type": "service_account",
        "project_id": "scorecast-test",
        "private_key_id": "k1",
        "private_key": private,
        "client_email": "notifier@scorecast-test.iam.gserviceaccount.com",
        "client_id": "1",
        "token_uri": token_uri,
    }
    return info, public


@dataclass
class Firebase:
    service: FcmStandIn
    #: Where messages go (HTTP/2).
    port: int
    key: dict[str, Any]
    ca_file: Path


@pytest.fixture
async def firebase(tmp_path: Path) -> AsyncIterator[Firebase]:
    """Firebase's token endpoint (HTTP/1.1, in a thread) and its messages (HTTP/2, here)."""
    tls = certificate(tmp_path)
    token_port, port = free_ports(2)
    key, public = service_account(f"https://127.0.0.1:{token_port}/token")
    service = FcmStandIn(str(key["project_id"]), str(key["client_email"]), public)
    with ThreadedServer(service.app, token_port, (tls.cert, tls.key)):
        server = await serve_http2(service.handle, "127.0.0.1", port, tls.cert, tls.key)
        try:
            yield Firebase(service, port, key, tls.ca)
        finally:
            server.close()
            await server.wait_closed()


@pytest.fixture
async def sender(firebase: Firebase) -> AsyncIterator[FcmSender]:
    context = ssl.create_default_context(cafile=str(firebase.ca_file))
    token = AccessToken(firebase.key, str(firebase.ca_file))
    client = Http2Client("127.0.0.1", firebase.port, 1, context)
    try:
        yield FcmSender(client, token, backoff_seconds=0.01)
    finally:
        await client.aclose()
        token.close()


def _device(firebase: Firebase, name: str, known: bool = True) -> FcmDevice:
    token = f"{name}:" + "A" * 140
    if known:
        firebase.service.devices.add(token)
    return FcmDevice(platform=Platform.FCM, token=token)


async def test_what_firebase_takes_is_what_was_sent(firebase: Firebase, sender: FcmSender) -> None:
    device = _device(firebase, "phone")
    sent = await sender.send(device, ALERT)
    assert (sent.outcome, sent.status, sent.attempts) == (Outcome.SENT, 200, 1)
    [message] = firebase.service.received[device.token]
    assert message["notification"] == {"title": ALERT.title, "body": ALERT.body}
    assert message["data"] == {
        "game_id": "2023020001",
        "version": "9",
        "kind": "score",
        "url": "/games/2023020001",
    }
    assert message["android"]["collapse_key"] == "game-2023020001"
    assert message["android"]["notification"]["tag"] == "game-2023020001"
    assert firebase.service.tokens_made == 1  # one access token, kept for every send
    await sender.send(device, ALERT)
    assert firebase.service.tokens_made == 1


async def test_gone_tokens_busy_answers_and_final_errors(
    firebase: Firebase, sender: FcmSender
) -> None:
    firebase.service.unregistered.add(_device(firebase, "old", known=False).token)
    gone = await sender.send(_device(firebase, "old", known=False), ALERT)
    assert (gone.outcome, gone.status, gone.reason) == (Outcome.GONE, 404, "UNREGISTERED")
    junk = await sender.send(_device(firebase, "junk", known=False), ALERT)
    assert (junk.outcome, junk.status, junk.attempts) == (Outcome.FAILED, 400, 1)
    firebase.service.next_answers = [503, 429]
    busy = await sender.send(_device(firebase, "busy"), ALERT)
    assert (busy.outcome, busy.attempts) == (Outcome.SENT, 3)


async def test_a_refused_access_token_is_made_afresh_once(
    firebase: Firebase, sender: FcmSender
) -> None:
    assert (await sender.send(_device(firebase, "a"), ALERT)).outcome is Outcome.SENT
    firebase.service.expire_tokens()  # revoked, though not yet at its end by our clock
    again = await sender.send(_device(firebase, "a"), ALERT)
    assert (again.outcome, again.attempts) == (Outcome.SENT, 2)
    assert firebase.service.tokens_made == 2
    assert firebase.service.refused == ["UNAUTHENTICATED"]
