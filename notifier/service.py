"""The notifier: reads the change streams (its own consumer group), decides what each game's
followers are told (:mod:`notifier.rules`), fans each alert out as one Kafka message per
follower shard of the game and of its two teams, and, as a member of one consumer group over
that topic, sends what its shards' devices are due, once per window (:mod:`notifier.window`).

Any number of notifiers run side by side: the change-stream group hands each announcement to
one of them, the Kafka group each fan-out message to one. A notifier killed mid-fan-out leaves
its message uncommitted; another takes it, and the window's leases make each device's alert go
once (a send under way waits for its lease; one confirmed never goes again; one whose worker
died in flight goes at most, or at least, once: ``delivery``).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import functools
import hashlib
import json
import logging
import ssl
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol, cast
from urllib.parse import urlsplit

from confluent_kafka import Consumer, Message, Producer
from prometheus_client import CollectorRegistry
from py_vapid import Vapid02
from redis.asyncio import Redis

from core.changes import VERSION, Announcement, ChangeGroup
from core.connection import redis_client, translated
from core.keys import RedisKeys, league_key
from core.models import Game, GameStatus
from notifier.apns import ApnsSender, ProviderToken
from notifier.devices import Device, Platform, WebDevice
from notifier.fcm import AccessToken, FcmSender
from notifier.follows import Follows, game_subject, team_subject
from notifier.http2 import Http2Client, Http2Pool
from notifier.rules import Alert, AlertKind, Told, decide, told
from notifier.sending import Outcome, Sent
from notifier.settings import NotifierSettings
from notifier.webpush import WebPushSender
from notifier.window import Window
from runtime.kafka import Delivery, consumer_config, ensure_topics, producer_config
from runtime.lifecycle import Service
from runtime.metrics import counted, exporting

logger = logging.getLogger("scorecast.notifier")

_BLOCK_MS = 1000
_POLL_SECONDS = 0.5
#: Devices loaded in one round trip during a fan-out.
_CHUNK = 256


class Sender(Protocol):
    async def send(self, device: Device, alert: Alert) -> Sent: ...


def topic(game_id: str) -> str:
    """The Web Push ``Topic`` of a game's alerts: at most 32 base64url characters (RFC 8030),
    which a game id (up to 64, with dots) is not."""
    digest = hashlib.sha256(game_id.encode()).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")[:32]


@functools.lru_cache(maxsize=64)
def payload(alert: Alert, url: str) -> bytes:
    """What the fan's device shows: the same fields on every platform."""
    return json.dumps(
        {
            "title": alert.title,
            "body": alert.body,
            "game_id": alert.game_id,
            "version": alert.version,
            "kind": str(alert.kind),
            "tag": alert.collapse_key,
            "url": url,
        },
        separators=(",", ":"),
    ).encode()


class WebSender:
    """Web Push for :class:`~notifier.devices.WebDevice` registrations."""

    def __init__(self, sender: WebPushSender, game_url: str) -> None:
        self.sender = sender
        self.game_url = game_url

    async def send(self, device: Device, alert: Alert) -> Sent:
        assert isinstance(device, WebDevice)
        url = self.game_url.format(game_id=alert.game_id)
        return await self.sender.send(
            device.subscription, payload(alert, url), topic(alert.game_id)
        )


@dataclass
class NotifierStats:
    planned: int = 0
    messages: int = 0
    sent: int = 0
    gone: int = 0
    failed: int = 0
    #: Devices of a platform this notifier has no sender for.
    unsent: int = 0
    by_kind: dict[str, int] = field(default_factory=dict)


_HELPS = {
    "planned": "Alerts decided from the change streams (each fanned out once per shard).",
    "messages": "Fan-out messages handled.",
    "sent": "Notifications a platform service took.",
    "gone": "Devices their platform said are gone (dropped at once).",
    "failed": "Notifications refused for good (never retried).",
    "unsent": "Devices of a platform this notifier has no sender for.",
    "unsure": "Alerts a dead notifier had in flight, not sent again (delivery at most once).",
}


def trusted(ca_file: str) -> ssl.SSLContext:
    """The system's certificate authorities, and ``ca_file``'s too when given."""
    context = ssl.create_default_context()
    if ca_file:
        context.load_verify_locations(ca_file)
    return context


class Notifier(Service):
    """``async with Notifier(settings, senders) as notifier: await notifier.run(stop)``."""

    def __init__(
        self,
        settings: NotifierSettings,
        senders: dict[Platform, Sender] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.drain_seconds = settings.drain_seconds
        self.redis: Redis = redis_client(settings)
        self.keys = RedisKeys(settings.redis_prefix, settings.change_shards)
        self.follows = Follows(
            self.redis, self.keys, settings.device_shards, settings.follower_shards
        )
        self.window = Window(
            self.redis,
            self.keys,
            settings.window_seconds,
            settings.device_shards,
            settings.lease_seconds,
            resend=settings.delivery == "at_least_once",
        )
        self.groups = ChangeGroup.every(
            self.redis, self.keys, settings.changes_group, settings.consumer
        )
        self.senders: dict[Platform, Sender] = dict(senders or {})
        self.stats = NotifierStats()
        self._clock = clock
        self._sends = asyncio.Semaphore(settings.sends_at_once)
        self._producer: Producer | None = None
        self._consumer: Consumer | None = None
        self._running = False
        self.registry = CollectorRegistry()
        self.registry.register(counted("scorecast_notifier", self._counts, helps=_HELPS))

    async def start(self, resources: contextlib.AsyncExitStack) -> None:
        await resources.enter_async_context(self.redis)
        await asyncio.to_thread(ensure_topics, self.settings, (self.settings.topic,))
        if Platform.WEB not in self.senders and self.settings.vapid_private_key.get_secret_value():
            pool = Http2Pool(
                trusted(self.settings.ca_file),
                self.settings.web_connections,
                self.settings.send_timeout_seconds,
            )
            resources.push_async_callback(pool.aclose)
            vapid = Vapid02.from_pem(self.settings.vapid_private_key.get_secret_value().encode())
            web = WebPushSender(vapid, self.settings.vapid_subject, pool)
            self.senders[Platform.WEB] = WebSender(web, self.settings.game_url)
        apns_key = self.settings.apns_private_key.get_secret_value()
        if Platform.APNS not in self.senders and apns_key:
            client = Http2Client(
                self.settings.apns_host,
                self.settings.apns_port,
                self.settings.apns_connections,
                trusted(self.settings.ca_file),
                self.settings.send_timeout_seconds,
            )
            resources.push_async_callback(client.aclose)
            token = ProviderToken(apns_key, self.settings.apns_key_id, self.settings.apns_team_id)
            self.senders[Platform.APNS] = ApnsSender(
                client, token, self.settings.apns_topic, self.settings.game_url
            )
        account = self.settings.fcm_service_account.get_secret_value()
        if Platform.FCM not in self.senders and account:
            where = urlsplit(self.settings.fcm_url)
            client = Http2Client(
                where.hostname or "",
                where.port or 443,
                self.settings.fcm_connections,
                trusted(self.settings.ca_file),
                self.settings.send_timeout_seconds,
            )
            resources.push_async_callback(client.aclose)
            access = AccessToken(json.loads(account), self.settings.ca_file)
            resources.callback(access.close)
            self.senders[Platform.FCM] = FcmSender(
                client, access, self.settings.fcm_per_minute, self.settings.game_url
            )
        for group in self.groups:
            await group.ensure()
        await resources.enter_async_context(exporting(self.registry, self.settings, self.ready))
        producer = Producer(producer_config(self.settings))
        resources.push_async_callback(asyncio.to_thread, producer.flush, 10.0)
        self._producer = producer
        consumer = Consumer(consumer_config(self.settings, self.settings.group_id))
        resources.push_async_callback(asyncio.to_thread, consumer.close)
        consumer.subscribe([self.settings.topic])
        self._consumer = consumer

    async def run(self, stop: asyncio.Event) -> None:
        logger.info("notifier started: consumer %s", self.settings.consumer)
        self._running = True
        try:
            async with asyncio.TaskGroup() as tasks:
                for group in self.groups:
                    tasks.create_task(self._plan(group, stop), name=f"plan {group.stream}")
                tasks.create_task(self._fan_out(stop), name="fan out")
                tasks.create_task(self._due(stop), name="due")
        except ExceptionGroup as failed:
            raise failed.exceptions[0] from None
        finally:
            self._running = False

    async def ready(self) -> str | None:
        """Ready while it follows the change streams and the fan-out topic, and Redis answers."""
        if not self._running:
            return "not running"
        await self.redis.ping()
        return None

    # -- what is worth telling ---------------------------------------------------------------

    async def _plan(self, group: ChangeGroup, stop: asyncio.Event) -> None:
        pending = True  # first what this consumer read and never acknowledged
        next_claim = 0.0
        while not stop.is_set():
            if time.monotonic() >= next_claim:
                # What a notifier that died mid-plan held would otherwise never be told.
                next_claim = time.monotonic() + self.settings.claim_idle_seconds / 2
                claimed = await group.claim(int(self.settings.claim_idle_seconds * 1000), 100)
                if claimed:
                    logger.warning("took over %d changes of an idle notifier", len(claimed))
                    await self._told_all(group, claimed)
                    continue
            read = await group.read("0" if pending else ">", 100, None if pending else _BLOCK_MS)
            if pending and not read:
                pending = False
                continue
            await self._told_all(group, read)

    async def _told_all(self, group: ChangeGroup, read: list[Announcement]) -> None:
        for announcement in read:
            if announcement.kind == VERSION:
                await self._tell(announcement)
        await group.ack([announcement.id for announcement in read])

    async def _tell(self, announcement: Announcement) -> None:
        """Each version the entry announces, judged in order against what was last told (a
        batch may hold the start and the first score: both are news)."""
        before = await self._told(announcement.game_id)
        for version in announcement.versions:
            if before is not None and version <= before.version:
                continue
            game = await self._game(announcement.game_id, version)
            if game is None:
                continue
            alert = decide(before, game)
            if alert is not None:
                await self._fan(game, alert)
            before = told(game)
        if before is not None:
            await self._remember(announcement.game_id, before)

    async def _fan(self, game: Game, alert: Alert) -> None:
        """One message per follower shard of the game and of each of its teams, delivered to
        Kafka before the alert counts as told: a notifier dying before re-plans it, which the
        window makes harmless."""
        league = league_key(game.league)
        subjects = [game_subject(game.game_id)]
        subjects += [team_subject(league, side.team_id) for side in (game.home, game.away)]
        delivery = Delivery(self._need(self._producer))
        for subject in subjects:
            for shard in range(self.settings.follower_shards):
                message = {"subject": subject, "shard": shard, "alert": asdict(alert)}
                key = f"{subject}:{shard}".encode()
                delivery.send(self.settings.topic, key, json.dumps(message).encode())
        await asyncio.to_thread(delivery.check, 10.0, f"fan-out of {game.game_id}")
        self.stats.planned += 1
        self.stats.by_kind[str(alert.kind)] = self.stats.by_kind.get(str(alert.kind), 0) + 1

    @translated
    async def _game(self, game_id: str, version: int) -> Game | None:
        """The version's state; a version retired since (only the final's kept), none."""
        body = await self.redis.get(self.keys.version(game_id, version))
        if body is None:
            return None
        return Game.model_validate({**json.loads(body), "box": {}})

    @translated
    async def _told(self, game_id: str) -> Told | None:
        found = cast(dict[bytes, bytes], await self.redis.hgetall(self.keys.told(game_id)))
        if not found:
            return None
        values = {key.decode(): value.decode() for key, value in found.items()}
        return Told(
            int(values["version"]),
            int(values["home"]),
            int(values["away"]),
            GameStatus(values["status"]),
        )

    @translated
    async def _remember(self, game_id: str, state: Told) -> None:
        await self.redis.hset(
            self.keys.told(game_id),
            mapping={
                "version": state.version,
                "home": state.home,
                "away": state.away,
                "status": str(state.status),
            },
        )

    # -- sending -----------------------------------------------------------------------------

    async def _fan_out(self, stop: asyncio.Event) -> None:
        consumer = self._need(self._consumer)
        while not stop.is_set():
            message = await asyncio.to_thread(consumer.poll, _POLL_SECONDS)
            if message is None:
                continue
            if message.error() is not None:
                logger.warning("fan-out topic: %s", message.error())
                continue
            await self._deliver(message)
            # Only a message whose every device was offered (and sent, or leased to another)
            # is committed: a notifier killed before leaves it to the next.
            await asyncio.to_thread(consumer.commit, message, asynchronous=False)

    async def _deliver(self, message: Message) -> None:
        try:
            work = json.loads(message.value() or b"")
            fields: dict[str, Any] = work["alert"]
            alert = Alert(**{**fields, "kind": AlertKind(fields["kind"])})
            subject, shard = str(work["subject"]), int(work["shard"])
        except (ValueError, KeyError, TypeError) as refused:
            logger.warning("fan-out message not readable, skipped: %s", refused)
            return
        self.stats.messages += 1
        devices = await self.follows.subscribers(subject, shard)
        async with asyncio.TaskGroup() as sends:
            for start in range(0, len(devices), _CHUNK):
                chunk = devices[start : start + _CHUNK]
                for device_id, stored in zip(
                    chunk, await self.follows.load_many(chunk), strict=True
                ):
                    if stored is None or subject not in stored.subjects:
                        continue  # left since the set was read (or a change half made)
                    await self._sends.acquire()
                    task = sends.create_task(self._offer(device_id, stored.device, alert))
                    task.add_done_callback(lambda _: self._sends.release())

    async def _offer(self, device_id: str, device: Device, alert: Alert) -> None:
        if await self.window.offer(device_id, alert, int(self._clock() * 1000)):
            await self._send(device_id, device, alert)

    async def _send(self, device_id: str, device: Device, alert: Alert) -> None:
        sender = self.senders.get(device.platform)
        if sender is None:
            self.stats.unsent += 1
            return
        try:
            sent = await sender.send(device, alert)
        except Exception as exc:
            # One device's fault (an address its platform's client cannot use) is that
            # device's alone: the fan-out goes on, and the message is not read again for it.
            sent = Sent(Outcome.FAILED, 0, 1, f"{type(exc).__name__}: {exc}"[:200])
        if sent.outcome is Outcome.SENT:
            self.stats.sent += 1
            await self.window.confirm(device_id, alert)
        elif sent.outcome is Outcome.GONE:
            # Unregistered at the platform: never sent to again, its follows gone with it.
            self.stats.gone += 1
            await self.follows.drop(device_id)
        else:
            # Final (the sender retried what may be retried): not sent again either.
            self.stats.failed += 1
            await self.window.confirm(device_id, alert)
            logger.warning(
                "%s notification to %s failed: %s %s",
                device.platform,
                device_id,
                sent.status,
                sent.reason,
            )

    async def _due(self, stop: asyncio.Event) -> None:
        """What waited for its window (or for a dead sender's lease), when its time comes."""
        while not stop.is_set():
            for device_id, alert in await self.window.due(int(self._clock() * 1000)):
                stored = await self.follows.load(device_id)
                if stored is not None:
                    await self._send(device_id, stored.device, alert)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 1.0)

    def _counts(self) -> dict[str, float]:
        stats = self.stats
        return {
            "planned": stats.planned,
            "messages": stats.messages,
            "sent": stats.sent,
            "gone": stats.gone,
            "failed": stats.failed,
            "unsent": stats.unsent,
            "unsure": self.window.unsure,
        }

    @staticmethod
    def _need(client: Any) -> Any:
        if client is None:
            raise RuntimeError("the notifier is not started")
        return client
