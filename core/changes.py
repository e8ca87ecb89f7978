"""The change streams: one Redis stream entry per announcement, written by publishers after the
version it names is readable (write before tell), read by every origin (to feed the streams it
holds) and by purgers through a consumer group (acknowledging only what they purged).

Announcements are spread over ``change_shards`` streams by game (:meth:`RedisKeys.change_stream`):
a game's stay in order on one stream; readers follow every stream, one read each, since a
cluster cannot serve a read of keys on different slots.

An entry carries everything its readers need: the game, the versions it announces (a game's
batch in one entry: its first and its newest), what the newest changed and the surrogate keys
to purge. A reader that pushes each version reads their bodies in one read.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import ResponseError
from redis.typing import EncodableT, FieldT

from core.connection import translated
from core.keys import RedisKeys
from core.models import ChangeKind

logger = logging.getLogger("scorecast.changes")

#: A new version of a game.
VERSION = "version"
#: A final counted in its league's standings and leaderboard.
FINAL = "final"


@dataclass(frozen=True)
class Announcement:
    id: str
    kind: str
    game_id: str
    #: The newest version announced; ``first`` the oldest (a batch's versions in one entry).
    version: int
    keys: list[str]
    #: What the newest version changed.
    change: ChangeKind = ChangeKind.STATE
    first: int = 0

    @property
    def versions(self) -> range:
        """Every version this entry announces, oldest first."""
        return range(self.first or self.version, self.version + 1)


def fields(
    kind: str,
    game_id: str,
    version: int,
    keys: list[str],
    change: ChangeKind = ChangeKind.STATE,
    first: int | None = None,
) -> dict[FieldT, EncodableT]:
    """The stream entry of an announcement: of versions ``first`` to ``version`` (one entry
    for a game's batch: readers and purgers do one thing per batch, not per version)."""
    entry: dict[FieldT, EncodableT] = {
        "kind": kind,
        "game_id": game_id,
        "version": version,
        "change": change.value,
        "keys": " ".join(keys),
    }
    if first is not None and first != version:
        entry["first"] = first
    return entry


@dataclass(frozen=True)
class Read:
    """What one read of the stream gave."""

    announcements: list[Announcement]
    #: The newest entry read, readable or not (``None``: nothing was read): read on from here.
    last_id: str | None
    #: Entries gone (trimmed while pending) or unreadable by this code: nothing to act on.
    unreadable: list[str]


def parse(found: Any) -> Read:
    """An XREAD/XREADGROUP/XAUTOCLAIM answer (``[[stream, [(id, fields), …]], …]``).

    An entry trimmed away while pending, or one this code cannot read, is logged and left out:
    one bad entry must not stop every reader of the stream.
    """
    announcements: list[Announcement] = []
    unreadable: list[str] = []
    last_id = None
    for _stream, entries in found or []:
        for raw_id, values in entries:
            last_id = raw_id.decode() if isinstance(raw_id, bytes) else str(raw_id)
            announcement = _announcement(last_id, values)
            if announcement is None:
                unreadable.append(last_id)
            else:
                announcements.append(announcement)
    return Read(announcements, last_id, unreadable)


def _announcement(entry_id: str, values: dict[bytes, bytes] | None) -> Announcement | None:
    if not values:
        return None
    try:
        return Announcement(
            id=entry_id,
            kind=values.get(b"kind", VERSION.encode()).decode(),
            game_id=values[b"game_id"].decode(),
            version=int(values[b"version"]),
            keys=values[b"keys"].decode().split(),
            change=ChangeKind(values.get(b"change", b"state").decode()),
            first=int(values.get(b"first", 0)),
        )
    except (KeyError, ValueError, UnicodeDecodeError) as exc:
        logger.error("change stream entry %s unreadable (%r); skipped", entry_id, exc)
        return None


class ChangeFeed:
    """Every announcement of one stream, from a point on: what an origin's hub follows."""

    def __init__(self, redis: Redis, stream: str) -> None:
        self.redis = redis
        self.stream = stream

    @classmethod
    def every(cls, redis: Redis, keys: RedisKeys) -> list[ChangeFeed]:
        """One feed per change stream."""
        return [cls(redis, stream) for stream in keys.change_streams]

    @translated
    async def last_id(self) -> str:
        """The id of the newest entry (``0-0`` for an empty stream): follow from there."""
        newest = await self.redis.xrevrange(self.stream, count=1)
        if not newest:
            return "0-0"
        entry_id = newest[0][0]
        return entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)

    @translated
    async def after(self, last_id: str, block_ms: int, count: int) -> Read:
        """The entries after ``last_id``, waiting up to ``block_ms`` for the first one."""
        return parse(await self.redis.xread({self.stream: last_id}, block=block_ms, count=count))


class ChangeGroup:
    """One consumer of a consumer group on one change stream: what a purger reads.

    Entries stay pending until acknowledged; those of a consumer that has been silent longer
    than the claim time (it died, or hangs) are claimed by another (``XAUTOCLAIM``).
    """

    def __init__(self, redis: Redis, stream: str, group: str, consumer: str) -> None:
        self.redis = redis
        self.stream = stream
        self.group = group
        self.consumer = consumer

    @classmethod
    def every(cls, redis: Redis, keys: RedisKeys, group: str, consumer: str) -> list[ChangeGroup]:
        """The same consumer of the same group on each change stream."""
        return [cls(redis, stream, group, consumer) for stream in keys.change_streams]

    @translated
    async def ensure(self) -> None:
        """Create the group (reading from the start of the stream) unless it exists."""
        try:
            await self.redis.xgroup_create(self.stream, self.group, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    @translated
    async def read(self, start: str, count: int, block_ms: int | None) -> list[Announcement]:
        """``start`` ``0``: this consumer's pending entries; ``>``: new ones."""
        found = await self.redis.xreadgroup(
            self.group, self.consumer, {self.stream: start}, count=count, block=block_ms
        )
        return await self._settled(parse(found))

    @translated
    async def claim(self, idle_ms: int, count: int) -> list[Announcement]:
        """Take over entries other consumers have held unacknowledged for ``idle_ms``."""
        claimed: list[Announcement] = []
        start = "0-0"
        while True:
            answer = await self.redis.xautoclaim(
                self.stream, self.group, self.consumer, idle_ms, start_id=start, count=count
            )
            next_start, entries = answer[0], answer[1]
            claimed += await self._settled(parse([[self.stream, entries]]))
            start = next_start.decode() if isinstance(next_start, bytes) else str(next_start)
            if start == "0-0" or len(claimed) >= count:
                return claimed

    async def _settled(self, read: Read) -> list[Announcement]:
        """Acknowledge at once what can never be acted on, so it is not handed out again."""
        if read.unreadable:
            await self.redis.xack(self.stream, self.group, *read.unreadable)
        return read.announcements

    @translated
    async def ack(self, ids: list[str]) -> None:
        if ids:
            await self.redis.xack(self.stream, self.group, *ids)

    @translated
    async def depth(self) -> int | None:
        """Entries pending or not yet read by the group (None: the stream is gone)."""
        try:
            groups = await self.redis.xinfo_groups(self.stream)
        except ResponseError:
            return None
        for group in groups:
            if group.get("name") in (self.group, self.group.encode()):
                return int(group.get("pending") or 0) + int(group.get("lag") or 0)
        return None
