"""Registered devices and what each follows, in Redis.

A device's own hash is the truth (its platform, its address there, its credential's digest, the
games and teams it follows); each followed subject (``game:ID``, ``team:LEAGUE:TEAM``) keeps its
followers in shards, which the fan-out reads. A follower set may hold a device a moment longer
than its hash says (a change half made when a process died): the fan-out checks the hash.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from typing import cast

from redis.asyncio import Redis
from redis.typing import EncodableT, FieldT

from core.connection import translated
from core.keys import RedisKeys
from notifier.devices import ApnsDevice, Device, FcmDevice, Platform, Subscription, WebDevice


def game_subject(game_id: str) -> str:
    return f"game:{game_id}"


def team_subject(league: str, team_id: str) -> str:
    return f"team:{league}:{team_id}"


@dataclass(frozen=True)
class Registered:
    device_id: str
    #: The credential that changes or drops the device; shown once, kept only as a digest.
    secret: str


@dataclass(frozen=True)
class Stored:
    device_id: str
    device: Device
    games: tuple[str, ...]
    #: ``league/team`` each.
    teams: tuple[str, ...]

    @property
    def subjects(self) -> set[str]:
        teams = (team.partition("/") for team in self.teams)
        return {
            *map(game_subject, self.games),
            *(team_subject(league, team) for league, _, team in teams),
        }


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _address(device: Device) -> str:
    if isinstance(device, WebDevice):
        return device.subscription.model_dump_json()
    return device.token


def _fields(
    device: Device, registered: Registered, games: list[str] | None = None
) -> dict[FieldT, EncodableT]:
    """A registration's hash: its credential kept only as a digest."""
    return {
        "platform": str(device.platform),
        "address": _address(device),
        "secret": _digest(registered.secret),
        "games": json.dumps(games or []),
        "teams": "[]",
    }


def _device(platform: str, address: str) -> Device:
    if platform == Platform.WEB:
        return WebDevice(
            platform=Platform.WEB, subscription=Subscription.model_validate_json(address)
        )
    if platform == Platform.APNS:
        return ApnsDevice(platform=Platform.APNS, token=address)
    return FcmDevice(platform=Platform.FCM, token=address)


def _stored(device_id: str, found: dict[bytes, bytes]) -> Stored | None:
    """The registration, or None: none, or one not whole (never a crash of the fan-out)."""
    if not found or not {b"platform", b"address", b"games", b"teams"} <= found.keys():
        return None
    return Stored(
        device_id,
        _device(found[b"platform"].decode(), found[b"address"].decode()),
        tuple(json.loads(found[b"games"])),
        tuple(json.loads(found[b"teams"])),
    )


# KEYS: a device's hash. ARGV: its games, its teams (JSON). 0: no such device (left alone).
_REPLACE = """
if redis.call('EXISTS', KEYS[1]) == 0 then
  return 0
end
redis.call('HSET', KEYS[1], 'games', ARGV[1], 'teams', ARGV[2])
return 1
"""


class Follows:
    def __init__(
        self, redis: Redis, keys: RedisKeys, device_shards: int, follower_shards: int
    ) -> None:
        self.redis = redis
        self.keys = keys
        self.device_shards = device_shards
        self.follower_shards = follower_shards
        self._replace = redis.register_script(_REPLACE)

    def _key(self, device_id: str) -> str:
        return self.keys.device(device_id, self.device_shards)

    def shard(self, device_id: str) -> int:
        """The shard of every subject's followers this device is kept in."""
        return self.keys.device_shard(device_id, self.follower_shards)

    @translated
    async def register(self, device: Device) -> Registered:
        registered = Registered(secrets.token_hex(16), secrets.token_urlsafe(32))
        await self.redis.hset(self._key(registered.device_id), mapping=_fields(device, registered))
        return registered

    @translated
    async def register_many(
        self, devices: list[Device], games: list[str], chunk: int = 1000
    ) -> list[Registered]:
        """Many devices at once, each following ``games`` (an import from another system, a
        benchmark's crowd): pipelined, a chunk a round trip per node."""
        made: list[Registered] = []
        shard_of = self.shard
        for start in range(0, len(devices), chunk):
            async with self.redis.pipeline(transaction=False) as pipe:
                for device in devices[start : start + chunk]:
                    registered = Registered(secrets.token_hex(16), secrets.token_urlsafe(32))
                    made.append(registered)
                    fields = _fields(device, registered, games)
                    pipe.hset(self._key(registered.device_id), mapping=fields)
                    for game_id in games:
                        key = self.keys.subscribers(
                            game_subject(game_id), shard_of(registered.device_id)
                        )
                        pipe.sadd(key, registered.device_id)
                await pipe.execute()
        return made

    @translated
    async def load(self, device_id: str) -> Stored | None:
        found = cast(dict[bytes, bytes], await self.redis.hgetall(self._key(device_id)))
        return _stored(device_id, found)

    @translated
    async def load_many(self, device_ids: list[str]) -> list[Stored | None]:
        """Many devices in one round trip (a pipeline; on a cluster, one per node)."""
        async with self.redis.pipeline(transaction=False) as pipe:
            for device_id in device_ids:
                pipe.hgetall(self._key(device_id))
            found = await pipe.execute()
        return [
            _stored(device_id, cast(dict[bytes, bytes], fields))
            for device_id, fields in zip(device_ids, found, strict=True)
        ]

    @translated
    async def authorized(self, device_id: str, secret: str) -> bool | None:
        """Whether ``secret`` is the device's credential; None: no such device."""
        digest = await self.redis.hget(self._key(device_id), "secret")
        if digest is None:
            return None
        return hmac.compare_digest(cast(bytes, digest).decode(), _digest(secret))

    @translated
    async def follow(self, device_id: str, games: list[str], teams: list[str]) -> None:
        """Replace what the device follows (its hash first: the fan-out trusts it)."""
        before = await self.load(device_id)
        if before is None:
            return
        # Only onto a registration that still exists (one dropped meanwhile stays dropped).
        written = await self._replace(
            keys=[self._key(device_id)], args=[json.dumps(games), json.dumps(teams)]
        )
        if not written:
            return
        after = Stored(device_id, before.device, tuple(games), tuple(teams))
        shard = self.shard(device_id)
        for subject in after.subjects - before.subjects:
            await self.redis.sadd(self.keys.subscribers(subject, shard), device_id)
        for subject in before.subjects - after.subjects:
            await self.redis.srem(self.keys.subscribers(subject, shard), device_id)

    @translated
    async def drop(self, device_id: str) -> None:
        """The device and its follows, gone (the fan asked, or its platform says it is gone)."""
        stored = await self.load(device_id)
        await self.redis.delete(self._key(device_id))
        if stored is None:
            return
        shard = self.shard(device_id)
        for subject in stored.subjects:
            await self.redis.srem(self.keys.subscribers(subject, shard), device_id)

    @translated
    async def subscribers(self, subject: str, shard: int) -> list[str]:
        members = await self.redis.smembers(self.keys.subscribers(subject, shard))
        return sorted(cast(bytes, member).decode() for member in members)
