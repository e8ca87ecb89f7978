"""What the stream tier keeps in Redis beside the snapshots: the tier's own message id of each
pushed version, so a resuming stream starts right after the one it holds. (The newest version
handed to the tier, so that two publishers never hand it an older one after a newer, is claimed
by the store in the same call that writes the version: :class:`core.store.Written`.)"""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

from redis.asyncio import Redis

from core.connection import translated
from core.keys import RedisKeys

# KEYS: the game's delivered marker. ARGV: a version the tier took. Only ever grows (two
# publishers during a rebalance may report out of order).
_DELIVERED = """
if tonumber(ARGV[1]) > tonumber(redis.call('GET', KEYS[1]) or '0') then
  redis.call('SET', KEYS[1], ARGV[1])
end
return 0
"""


class PushRecords:
    def __init__(self, redis: Redis, keys: RedisKeys) -> None:
        self.redis = redis
        self.keys = keys
        self._delivered = redis.register_script(_DELIVERED)

    @translated
    async def record_delivered(self, game_id: str, version: int) -> None:
        """The tier took ``version`` (and every claimed version before it)."""
        await self._delivered(keys=[self.keys.delivered(game_id)], args=[version])

    @translated
    async def in_flight(self, game_id: str) -> int | None:
        """The newest version the tier took when newer claimed ones are still on their way to
        it (a batch being handed over); ``None`` when none is."""
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.get(self.keys.pushed(game_id))
            pipe.get(self.keys.delivered(game_id))
            pushed, delivered = await pipe.execute()
        taken = int(delivered or 0)
        return taken if int(pushed or 0) > taken else None

    @translated
    async def record_held(self, records: Sequence[tuple[str, int, str]], keep: int) -> None:
        """Remember the tier's id of each pushed version (game, version, message id); the newest
        ``keep`` of each game are kept. One round trip for all, not a transaction: a
        transaction of four commands a version was an eighth of a match-day publisher's time,
        and the commands need no isolation."""
        async with self.redis.pipeline(transaction=False) as pipe:
            for game_id, version, message_id in records:
                key = self.keys.held(game_id)
                pipe.zadd(key, {message_id: version})
                pipe.zremrangebyrank(key, 0, -keep - 1)
            await pipe.execute()

    @translated
    async def held_message(self, game_id: str, version: int) -> str | None:
        """The tier's id of the newest pushed version at or below ``version``."""
        found = await self.redis.zrevrangebyscore(
            self.keys.held(game_id), version, "-inf", start=0, num=1
        )
        return cast(bytes, found[0]).decode() if found else None
