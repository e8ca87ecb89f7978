"""The Web Push sender against a push service stand-in that holds it to RFC 8030/8291/8292:
what it decrypts is what was sent; gone subscriptions are gone; busy services are retried
after Retry-After; a refused or expired VAPID token is made afresh once, then final."""

from __future__ import annotations

import json
import ssl
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from py_vapid import Vapid02

from local.process import free_port
from local.standins.http2 import serve as serve_http2
from local.standins.webpush import PushService
from local.tls import certificate
from notifier.devices import Subscription
from notifier.http2 import Http2Pool
from notifier.sending import Outcome
from notifier.webpush import TOKEN_SECONDS, WebPushSender

pytestmark = pytest.mark.stack


@pytest.fixture
async def service(tmp_path: Path) -> AsyncIterator[tuple[PushService, str, Http2Pool]]:
    """The push service over TLS and HTTP/2, as browsers' push services are reached."""
    tls = certificate(tmp_path)
    standin = PushService()
    port = free_port()
    server = await serve_http2(standin.handle, "127.0.0.1", port, tls.cert, tls.key)
    pool = Http2Pool(ssl.create_default_context(cafile=str(tls.ca)))
    try:
        yield standin, f"https://127.0.0.1:{port}", pool
    finally:
        await pool.aclose()
        server.close()
        await server.wait_closed()


def _local(info: dict[str, object]) -> Subscription:
    return Subscription.model_validate(info)


def _vapid() -> Vapid02:
    vapid = Vapid02()
    vapid.generate_keys()
    return vapid


async def test_what_the_service_decrypts_is_what_was_sent(
    service: tuple[PushService, str, Http2Pool],
) -> None:
    standin, url, pool = service
    subscription = _local(standin.subscribe(url, "s1"))
    payload = json.dumps({"title": "NSH 3 – 5 TBL", "body": "Final."}).encode()
    sender = WebPushSender(_vapid(), "mailto:ops@scorecast.example", pool)
    sent = await sender.send(subscription, payload, "game-2023020001")
    again = await sender.send(subscription, payload, "game-2023020001")
    assert (sent.outcome, sent.status, again.outcome) == (Outcome.SENT, 201, Outcome.SENT)
    assert standin.received["s1"] == [("game-2023020001", payload)] * 2
    assert standin.refused == []


async def test_gone_subscriptions_and_busy_services(
    service: tuple[PushService, str, Http2Pool],
) -> None:
    standin, url, pool = service
    live = _local(standin.subscribe(url, "live"))
    dropped = _local(standin.subscribe(url, "dropped"))
    standin.gone.add("dropped")
    unknown = live.model_copy(update={"endpoint": f"{url}/push/never"})
    sender = WebPushSender(_vapid(), "mailto:ops@scorecast.example", pool, backoff_seconds=0.01)
    assert (await sender.send(dropped, b"x", "t")).outcome is Outcome.GONE
    assert (await sender.send(unknown, b"x", "t")).outcome is Outcome.GONE
    standin.next_answers = [429, 503]
    busy = await sender.send(live, b"later", "t")
    assert (busy.outcome, busy.attempts) == (Outcome.SENT, 3)
    standin.next_answers = [503] * 10
    assert (await sender.send(live, b"never", "t")).outcome is Outcome.FAILED
    assert standin.received["live"] == [("t", b"later")]


async def test_a_refused_or_expired_vapid_token(
    service: tuple[PushService, str, Http2Pool],
) -> None:
    standin, url, pool = service
    subscription = _local(standin.subscribe(url, "s1"))
    if True:  # one sender's story
        # A token cached from a day ago has expired: the service refuses it, a fresh one goes.
        clock = [time.time() - 2 * TOKEN_SECONDS]
        sender = WebPushSender(_vapid(), "mailto:ops@scorecast.example", pool, now=lambda: clock[0])
        sender._authorization(subscription.endpoint)  # made (and cached) back then
        clock[0] = time.time()
        # Still "valid" by the sender's own cache (its clock was wrong): the service decides.
        sender._headers = {
            audience: (time.time() + TOKEN_SECONDS, headers)
            for audience, (_, headers) in sender._headers.items()
        }
        sent = await sender.send(subscription, b"fresh", "t")
        assert (sent.outcome, sent.attempts) == (Outcome.SENT, 2)
        assert standin.refused == ["token expired"]
        # A token the service cannot verify (signed with another key than it names): final.
        other = _vapid()
        forged = WebPushSender(other, "mailto:ops@scorecast.example", pool)
        good = forged._authorization(subscription.endpoint)["authorization"]
        wrong_key = _vapid().public_key
        from cryptography.hazmat.primitives import serialization

        raw = wrong_key.public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        from local.standins.webpush import b64

        tampered = good.split(",")[0] + ", k=" + b64(raw)
        forged._authorization = lambda endpoint, fresh=False: {"authorization": tampered}  # type: ignore[method-assign]
        refused = await forged.send(subscription, b"forged", "t")
        assert (refused.outcome, refused.status) == (Outcome.FAILED, 401)
    assert [topic for topic, _ in standin.received["s1"]] == ["t"]
