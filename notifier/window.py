"""At most one notification per device and game in a window (30 s by default): the first
goes at once, a newer one inside the window waits and replaces any still waiting, and goes when
the window ends. The platforms suppress nothing themselves: the window is ours to keep.

Kept in Redis: one hash per device and game, and per shard one sorted set of what waits, by
when it is due; a device's hashes and its shard's set share a hash tag (``{notify:N}``), so each
decision is one script on one slot of a cluster, and two workers offering alerts for the same
device at once cannot both send.
"""

from __future__ import annotations

import json
import zlib
from dataclasses import asdict
from typing import cast

from redis.asyncio import Redis

from core.connection import translated
from notifier.rules import Alert, AlertKind

# KEYS: the device-and-game hash, the waiting set. ARGV: now (ms), window (ms), the alert's
# version, the alert (JSON), the waiting set's member. Returns 1: send now; 0: waits (it
# replaced an older waiting one, or the one waiting is newer); -1: older than one sent.
_OFFER = """
local sent = tonumber(redis.call('HGET', KEYS[1], 'sent') or '-1')
local version = tonumber(ARGV[3])
local last = tonumber(redis.call('HGET', KEYS[1], 'version') or '0')
if version <= last then
  return -1
end
local now, window = tonumber(ARGV[1]), tonumber(ARGV[2])
if sent < 0 or now - sent >= window then
  redis.call('HSET', KEYS[1], 'sent', now, 'version', version)
  redis.call('HDEL', KEYS[1], 'waiting', 'waiting_version')
  redis.call('ZREM', KEYS[2], ARGV[5])
  redis.call('PEXPIRE', KEYS[1], window * 4)
  return 1
end
local waiting = tonumber(redis.call('HGET', KEYS[1], 'waiting_version') or '0')
if version > waiting then
  redis.call('HSET', KEYS[1], 'waiting', ARGV[4], 'waiting_version', version)
  redis.call('ZADD', KEYS[2], sent + window, ARGV[5])
end
return 0
"""

# KEYS: the device-and-game hash, the waiting set. ARGV: now (ms), the member. Takes what
# waits if its window has ended: returns it (and marks it sent), or nothing.
_DUE = """
local alert = redis.call('HGET', KEYS[1], 'waiting')
redis.call('ZREM', KEYS[2], ARGV[2])
if not alert then
  return false
end
local version = redis.call('HGET', KEYS[1], 'waiting_version')
redis.call('HSET', KEYS[1], 'sent', ARGV[1], 'version', version)
redis.call('HDEL', KEYS[1], 'waiting', 'waiting_version')
return alert
"""


class Window:
    """``offer`` an alert for a device: True, send it now; False, it waits (or is older than
    one sent). ``due`` gives what waited and may go now."""

    def __init__(self, redis: Redis, prefix: str, seconds: float = 30.0, shards: int = 16) -> None:
        self.redis = redis
        self.prefix = prefix
        self.window_ms = int(seconds * 1000)
        self.shards = shards
        self._offer = redis.register_script(_OFFER)
        self._due = redis.register_script(_DUE)

    def _shard(self, device_id: str) -> int:
        return zlib.crc32(device_id.encode()) % self.shards

    def _state(self, device_id: str, game_id: str) -> str:
        return f"{self.prefix}:{{notify:{self._shard(device_id)}}}:{device_id}:{game_id}"

    def _waiting(self, shard: int) -> str:
        return f"{self.prefix}:{{notify:{shard}}}:waiting"

    @translated
    async def offer(self, device_id: str, alert: Alert, now_ms: int) -> bool:
        found = await self._offer(
            keys=[self._state(device_id, alert.game_id), self._waiting(self._shard(device_id))],
            args=[
                now_ms,
                self.window_ms,
                alert.version,
                json.dumps(asdict(alert)),
                f"{device_id} {alert.game_id}",
            ],
        )
        return int(found) == 1

    @translated
    async def due(self, now_ms: int, most: int = 1000) -> list[tuple[str, Alert]]:
        """What waited and may go now, marked sent: (device id, alert)."""
        ready: list[tuple[str, Alert]] = []
        for shard in range(self.shards):
            waiting = self._waiting(shard)
            members = await self.redis.zrangebyscore(waiting, "-inf", now_ms, start=0, num=most)
            for member in cast(list[bytes], members):
                device_id, game_id = member.decode().split(" ", 1)
                state = self._state(device_id, game_id)
                body = await self._due(keys=[state, waiting], args=[now_ms, member])
                if body:
                    fields = json.loads(body)
                    fields["kind"] = AlertKind(fields["kind"])
                    ready.append((device_id, Alert(**fields)))
        return ready
