"""The notifier end to end on real Redis and Kafka, sending Web Push over TLS to a push service
stand-in that decrypts every message: followers of a game or of its teams are told its start,
its changes of lead and its final, once each, within the window; gone subscriptions are dropped
at once."""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from py_vapid import Vapid02
from redis.asyncio import Redis

from core.keys import RedisKeys
from core.reducer import versions
from core.settings import KafkaSettings
from core.store import SnapshotWriter
from local.process import free_port, free_ports
from local.services import scorecast_process
from local.standins.apns import ApnsStandIn
from local.standins.apns import serve as serve_apns
from local.standins.fcm import FcmStandIn
from local.standins.http2 import serve as serve_http2
from local.standins.webpush import PushService
from local.tls import Tls, certificate, key_pair
from notifier.devices import ApnsDevice, Device, FcmDevice, Platform, Subscription, WebDevice
from notifier.follows import Follows
from notifier.rules import Alert, AlertKind
from notifier.sending import Sent
from notifier.service import Notifier, topic
from notifier.settings import NotifierSettings
from tests.conftest import ThreadedServer
from tests.factories import short_game
from tests.helpers import eventually, running
from tests.test_notify_fcm import service_account

pytestmark = pytest.mark.stack


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> Tls:
    return certificate(tmp_path_factory.mktemp("tls"))


@pytest.fixture
async def push(tls: Tls) -> AsyncIterator[tuple[PushService, str]]:
    """A browser's push service (TLS, HTTP/2) in this loop."""
    standin = PushService()
    port = free_port()
    server = await serve_http2(standin.handle, "127.0.0.1", port, tls.cert, tls.key)
    try:
        yield standin, f"https://127.0.0.1:{port}"
    finally:
        server.close()
        await server.wait_closed()


def _settings(
    kafka: KafkaSettings, redis_url: str, prefix: str, ca_file: Path, **changed: object
) -> NotifierSettings:
    vapid = Vapid02()
    vapid.generate_keys()
    fields: dict[str, object] = {
        **kafka.model_dump(),
        "redis_url": redis_url,
        "redis_prefix": prefix,
        "topic": f"notify-{uuid.uuid4().hex[:8]}",
        "group_id": f"n-{uuid.uuid4().hex[:8]}",
        "vapid_private_key": vapid.private_pem().decode(),
        "ca_file": str(ca_file),
        "follower_shards": 4,
        "window_seconds": 0,
        **changed,
    }
    return NotifierSettings(**fields)  # type: ignore[arg-type]


@pytest.fixture
async def apple(tls: Tls) -> AsyncIterator[tuple[ApnsStandIn, dict[str, object]]]:
    """The APNs stand-in, and the notifier settings that reach it."""
    private, public = key_pair("ec")
    service = ApnsStandIn("TEAM123456", "KEY1234567", public, "com.example.scorecast")
    port = free_port()
    server = await serve_apns(service, "127.0.0.1", port, tls.cert, tls.key)
    settings: dict[str, object] = {
        "apns_private_key": private,
        "apns_key_id": "KEY1234567",
        "apns_team_id": "TEAM123456",
        "apns_topic": "com.example.scorecast",
        "apns_host": "127.0.0.1",
        "apns_port": port,
    }
    try:
        yield service, settings
    finally:
        server.close()
        await server.wait_closed()


@pytest.fixture
async def firebase(tls: Tls) -> AsyncIterator[tuple[FcmStandIn, dict[str, object]]]:
    """The FCM stand-in (its token endpoint in a thread, its messages here), and the notifier
    settings that reach it."""
    token_port, port = free_ports(2)
    key, public = service_account(f"https://127.0.0.1:{token_port}/token")
    service = FcmStandIn(str(key["project_id"]), str(key["client_email"]), public)
    with ThreadedServer(service.app, token_port, (tls.cert, tls.key)):
        server = await serve_http2(service.handle, "127.0.0.1", port, tls.cert, tls.key)
        try:
            yield (
                service,
                {
                    "fcm_service_account": json.dumps(key),
                    "fcm_url": f"https://127.0.0.1:{port}",
                },
            )
        finally:
            server.close()
            await server.wait_closed()


async def _register(
    redis: Redis,
    prefix: str,
    standin: PushService,
    url: str,
    name: str,
    follows: list[str],
    device: Device | None = None,
) -> str:
    if device is None:
        info = standin.subscribe(url, name)
        device = WebDevice(platform=Platform.WEB, subscription=Subscription.model_validate(info))
    registered = await Follows(redis, RedisKeys(prefix), 16, 4).register(device)
    games = [f for f in follows if not f.startswith("team:")]
    teams = [f.removeprefix("team:") for f in follows if f.startswith("team:")]
    await Follows(redis, RedisKeys(prefix), 16, 4).follow(registered.device_id, games, teams)
    return registered.device_id


def _told(standin: PushService, name: str) -> list[tuple[str, int]]:
    """What a subscription was told, decrypted: (kind, version) in order."""
    shown = [json.loads(plain) for _, plain in standin.received.get(name, [])]
    return [(alert["kind"], alert["version"]) for alert in shown]


async def test_followers_are_told_each_change_of_lead_and_the_final_once(
    kafka: KafkaSettings,
    redis_service: str,
    prefix: str,
    redis: Redis,
    store: SnapshotWriter,
    push: tuple[PushService, str],
    tls: Tls,
    apple: tuple[ApnsStandIn, dict[str, object]],
    firebase: tuple[FcmStandIn, dict[str, object]],
) -> None:
    standin, url = push
    apns, apns_settings = apple
    fcm, fcm_settings = firebase
    android = "android:" + "B" * 150
    fcm.devices.add(android)
    await _register(
        redis,
        prefix,
        standin,
        url,
        android,
        ["team:test/a"],
        FcmDevice(platform=Platform.FCM, token=android),
    )
    written = versions(None, short_game("g1")).versions
    await store.write(written[0])  # scheduled: the game and its teams are known
    iphone, unregistered = "ab" * 32, "cd" * 32
    apns.devices.add(iphone)
    apns.unregistered.add(unregistered)
    for token in (iphone, unregistered):
        device = ApnsDevice(platform=Platform.APNS, token=token)
        await _register(redis, prefix, standin, url, token, ["g1"], device)
    groups = {
        "game": ["g1"],
        "team": ["team:test/h"],
        "both": ["g1", "team:test/a"],
        "other": ["g2"],
        "gone": ["g1"],
    }
    for name, follows in groups.items():
        await _register(redis, prefix, standin, url, name, follows)
    standin.gone.add("gone")
    notifier = Notifier(
        _settings(kafka, redis_service, prefix, tls.ca, **apns_settings, **fcm_settings)
    )
    async with running(notifier):
        for version in written[1:]:
            await store.write(version)
        await eventually(lambda: len(_told(standin, "both")) == 2, 30)
        await eventually(lambda: len(apns.received.get(iphone, [])) == 2, 10)
        await eventually(lambda: len(fcm.received.get(android, [])) == 2, 10)
        await eventually(lambda: notifier.stats.gone == 2, 10)
        await asyncio.sleep(0.5)  # nothing more comes
    # The game goes live with its first basket (a score, which says it started), then no
    # change of lead until the final.
    expected = [("score", 3), ("final", 8)]
    for name in ("game", "team", "both"):
        assert _told(standin, name) == expected, name  # once each, a device following twice too
    assert _told(standin, "other") == []
    first = json.loads(standin.received["game"][0][1])
    assert first["title"] == "AWY 0 – 3 HOM"
    assert first["tag"] == "game-g1"
    assert first["url"] == "/games/g1"
    assert {t for t, _ in standin.received["game"]} == {topic("g1")}
    assert standin.refused == []
    shown = [json.loads(body) for _, body in apns.received[iphone]]
    assert [(alert["kind"], alert["version"]) for alert in shown] == expected
    assert {collapse for collapse, _ in apns.received[iphone]} == {"game-g1"}
    assert apns.refused == ["Unregistered"]
    messages = fcm.received[android]
    assert [(m["data"]["kind"], int(m["data"]["version"])) for m in messages] == expected
    assert {m["android"]["collapse_key"] for m in messages} == {"game-g1"}
    # The gone subscription and the unregistered token: dropped at their first 410.
    kept = [key async for key in redis.scan_iter(f"{prefix}:*device*")]
    assert len(kept) == 6
    assert notifier.stats.planned == 2


async def test_inside_the_window_the_newest_replaces_what_waits(
    kafka: KafkaSettings,
    redis_service: str,
    prefix: str,
    redis: Redis,
    store: SnapshotWriter,
    push: tuple[PushService, str],
    tls: Tls,
) -> None:
    standin, url = push
    written = versions(None, short_game("g1")).versions
    await store.write(written[0])
    await _register(redis, prefix, standin, url, "fan", ["g1"])
    notifier = Notifier(_settings(kafka, redis_service, prefix, tls.ca, window_seconds=2))
    async with running(notifier):
        for version in written[1:-1]:
            await store.write(version)
        await eventually(lambda: len(_told(standin, "fan")) == 1, 30)
        await store.write(written[-1])
        await asyncio.sleep(1)
        assert len(_told(standin, "fan")) == 1  # the final waits for the window (2 s)
        await eventually(lambda: len(_told(standin, "fan")) == 2, 30)
        await asyncio.sleep(2.5)
    # The first lead at once; the final inside its window waits for the window's end.
    assert _told(standin, "fan") == [("score", 3), ("final", 8)]


def _process_settings(
    settings: NotifierSettings, consumer: str, metrics_port: int = 0
) -> dict[str, object]:
    """The same settings for a ``scorecast notifier`` process, by field name."""
    return {
        **settings.model_dump(),
        "consumer": consumer,
        "metrics_port": metrics_port or free_port(),
    }


async def _unsure(metrics_port: int) -> int:
    """What a notifier gave up of a dead one's sends in flight, from its metrics."""
    async with httpx.AsyncClient() as http:
        text = (await http.get(f"http://127.0.0.1:{metrics_port}/metrics")).text
    found = re.search(r"^scorecast_notifier_unsure_total (\S+)$", text, re.MULTILINE)
    assert found is not None, text
    return int(float(found.group(1)))


async def test_a_notifier_killed_mid_fan_out_tells_every_follower_once_at_most(
    kafka: KafkaSettings,
    redis_service: str,
    prefix: str,
    redis: Redis,
    store: SnapshotWriter,
    push: tuple[PushService, str],
    tls: Tls,
    tmp_path: Path,
) -> None:
    """300 followers, a notifier SIGKILLed while it sends to them, another started. Nobody is
    told twice, and every follower is told but those the dead one had in flight (at most
    ``sends_at_once``) whose requests never reached the service: the second counts each send
    it gave up, so a follower untold is never unaccounted for. (At least once, the window's
    own test shows the other rule.)"""
    standin, url = push
    standin.delay_seconds = 0.02
    written = versions(None, short_game("g1")).versions
    await store.write(written[0])
    names = [f"fan{index}" for index in range(300)]
    for name in names:
        await _register(redis, prefix, standin, url, name, ["g1"])
    settings = _settings(
        kafka,
        redis_service,
        prefix,
        tls.ca,
        sends_at_once=4,
        lease_seconds=3,
        claim_idle_seconds=2,
    )
    assert settings.delivery == "at_most_once"  # the default
    metrics_port = free_port()
    first = scorecast_process("notifier", _process_settings(settings, "a"), tmp_path, "a")
    second = scorecast_process(
        "notifier", _process_settings(settings, "b", metrics_port), tmp_path, "b"
    )
    await asyncio.to_thread(first.start)
    try:
        await store.write(written[1])  # the first lead: every follower is told
        await eventually(lambda: len(standin.received) >= 40, 30)
        first.kill()
        killed_at = len(standin.received)
        assert killed_at < len(names), "the fan-out ended before the kill"
        await asyncio.to_thread(second.start)
        await eventually(lambda: len(standin.received) >= len(names) - 4, 60)
        await asyncio.sleep(4)  # past the lease: anything owed would have gone by now
        unsure = await _unsure(metrics_port)
    finally:
        first.stop()
        second.stop()
    told = {name: standin.received.get(name, []) for name in names}
    twice = {name: got for name, got in told.items() if len(got) > 1}
    assert twice == {}
    untold = [name for name, got in told.items() if not got]
    assert len(untold) <= unsure <= 4, (untold, unsure)
    print(
        f"\nkilled after {killed_at} of {len(names)} sends; untold {len(untold)}, "
        f"given up {unsure} (told by the dead one, or lost with it)"
    )


class _Broken:
    """A sender whose client fails in a way no sender expects."""

    async def send(self, device: Device, alert: Alert) -> Sent:
        raise ValueError("Port out of range 0-65535")


async def test_one_devices_failure_is_its_own_and_the_fan_out_goes_on(
    kafka: KafkaSettings, redis_service: str, prefix: str, tls: Tls
) -> None:
    notifier = Notifier(
        _settings(kafka, redis_service, prefix, tls.ca), senders={Platform.APNS: _Broken()}
    )
    alert = Alert("g1", 3, AlertKind.SCORE, "t", "b")
    device = ApnsDevice(platform=Platform.APNS, token="ab" * 32)
    try:
        await notifier._send("d1", device, alert)  # no exception: counted, and never again
        assert notifier.stats.failed == 1
        assert not await notifier.window.offer("d1", alert, now_ms=0)
    finally:
        await notifier.redis.aclose()
