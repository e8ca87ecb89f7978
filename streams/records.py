"""What the stream tier keeps in Redis beside the snapshots: per game, the newest version handed
to the tier (so two publishers never hand it an older one after a newer), and the tier's own
message id of each pushed version (so a resuming stream starts right after the one it holds)."""

from __future__ import annotations

from typing import cast

from redis.asyncio import Redis

from core.connection import translated
from core.keys import RedisKeys

# KEYS: the game's pushed marker. ARGV: version. The version pushed before (0: none) if this
# one may be pushed (it is newer than every version pushed before), else -1: two publishers
# during a rebalance, or a restarted one, never hand the tier a version older than one it
# already has, and each push names the one the tier saw last (GRIP ``prev-id``).
_CLAIM_PUSH = """
local pushed = tonumber(redis.call('GET', KEYS[1]) or '0')
if tonumber(ARGV[1]) <= pushed then
  return -1
end
redis.call('SET', KEYS[1], ARGV[1])
return pushed
"""


class PushRecords:
    def __init__(self, redis: Redis, keys: RedisKeys) -> None:
        self.redis = redis
        self.keys = keys
        self._claim_push = redis.register_script(_CLAIM_PUSH)

    @translated
    async def claim(self, game_id: str, version: int) -> int | None:
        """The version pushed before ``version`` (0: none), if ``version`` may be pushed: only
        when it is newer than every version of the game pushed before. ``None`` otherwise."""
        previous = int(await self._claim_push(keys=[self.keys.pushed(game_id)], args=[version]))
        return None if previous < 0 else previous

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
