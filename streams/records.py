"""What the stream tier keeps in Redis beside the snapshots: the tier's own message id of each
pushed version, so a resuming stream starts right after the one it holds. (The newest version
handed to the tier, so that two publishers never hand it an older one after a newer, is claimed
by the store in the same call that writes the version: :class:`core.store.Written`.)"""

from __future__ import annotations

from typing import cast

from redis.asyncio import Redis

from core.connection import translated
from core.keys import RedisKeys


class PushRecords:
    def __init__(self, redis: Redis, keys: RedisKeys) -> None:
        self.redis = redis
        self.keys = keys

    @translated
    async def record_held(self, game_id: str, version: int, message_id: str, keep: int) -> None:
        """Remember the tier's id of a pushed version; the newest ``keep`` are kept."""
        key = self.keys.held(game_id)
        async with self.redis.pipeline(transaction=True) as pipe:
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
