"""At most one notification per device and game in a window (30 s by default): the first
goes at once, a newer one inside the window waits and replaces any still waiting, and goes when
the window ends. The platforms suppress nothing themselves: the window is ours to keep.

Kept in Redis: one hash per device and game, and per shard one sorted set of what waits, by
when it is due; a device's hashes and its shard's set share a hash tag (``{notify:N}``), so each
decision is one script on one slot of a cluster, and two workers offering alerts for the same
device at once cannot both send.

A send is leased, then confirmed. A worker killed between the two leaves the lease to run out,
and what was in flight then is unknowable: the platform may or may not have taken it, and none
of them offers an idempotent send. The deployment chooses (``SCORECAST_NOTIFIER_DELIVERY``):
- at most once (the default): an alert whose lease ran out unconfirmed is not sent again, and
  is counted as ``unsure``. Of the fan-out, a follower is lost only if the dead worker leased
  it and its request never reached the platform: at most its ``sends_at_once``.
- at least once: it goes again once the lease ends. Of the fan-out, no follower is lost; one
  the platform had taken is told twice, under the game's collapse key, so the device shows it
  once (a phone may still sound again).
Not yet for what waited out its window: ``due`` takes a batch off the waiting set before
sending it, so a worker dying with that batch loses what it had not sent, either way.
Confirmed, an alert never goes again.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict
from typing import cast

from redis.asyncio import Redis

from core.connection import translated
from core.keys import RedisKeys
from notifier.rules import Alert, AlertKind

logger = logging.getLogger(__name__)

# KEYS: the device-and-game hash, the waiting set. ARGV: now (ms), window (ms), the alert's
# version, the alert (JSON), the waiting set's member, the lease (ms), whether a lease run out
# unconfirmed is sent again (1) or given up (0). Returns 1: send now; 0: waits (inside the
# window, or another's send of it is under way); -1: nothing to do; -2: given up, unsure.
_OFFER = """
local version = tonumber(ARGV[3])
local now, window, lease = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[6])
-- Kept well past anything it schedules (a wait, a lease), renewed at every write.
local ttl = (window + lease) * 4
local last = tonumber(redis.call('HGET', KEYS[1], 'version') or '0')
local confirmed = tonumber(redis.call('HGET', KEYS[1], 'confirmed') or '0')
local waiting = tonumber(redis.call('HGET', KEYS[1], 'waiting_version') or '0')
if version < last or confirmed >= version or waiting >= version then
  return -1
end
if version == last then
  -- Sent, not confirmed: under way elsewhere, or its sender died.
  local leased = tonumber(redis.call('HGET', KEYS[1], 'leased') or '0')
  if now < leased then
    redis.call('HSET', KEYS[1], 'waiting', ARGV[4], 'waiting_version', version)
    redis.call('ZADD', KEYS[2], leased, ARGV[5])
    redis.call('PEXPIRE', KEYS[1], ttl)
    return 0
  end
  if ARGV[7] == '0' then
    redis.call('HSET', KEYS[1], 'confirmed', version, 'unsure', version)
    redis.call('PEXPIRE', KEYS[1], ttl)
    return -2
  end
  redis.call('HSET', KEYS[1], 'leased', now + lease)
  redis.call('PEXPIRE', KEYS[1], ttl)
  return 1
end
local sent = tonumber(redis.call('HGET', KEYS[1], 'sent') or '-1')
if sent < 0 or now - sent >= window then
  redis.call('HSET', KEYS[1], 'sent', now, 'version', version, 'leased', now + lease)
  redis.call('HDEL', KEYS[1], 'waiting', 'waiting_version')
  redis.call('ZREM', KEYS[2], ARGV[5])
  redis.call('PEXPIRE', KEYS[1], ttl)
  return 1
end
redis.call('HSET', KEYS[1], 'waiting', ARGV[4], 'waiting_version', version)
redis.call('ZADD', KEYS[2], sent + window, ARGV[5])
redis.call('PEXPIRE', KEYS[1], ttl)
return 0
"""

# KEYS: the device-and-game hash, the waiting set. ARGV: now (ms), the member, the lease (ms),
# how long the hash is kept (ms), whether a lease run out unconfirmed is sent again (1).
# Takes what waits if its time has come: returns it (leased), nothing (it was confirmed
# meanwhile, or nothing waits) or -2 (a dead sender's lease ran out: given up, unsure).
_DUE = """
local alert = redis.call('HGET', KEYS[1], 'waiting')
redis.call('ZREM', KEYS[2], ARGV[2])
if not alert then
  return false
end
local version = tonumber(redis.call('HGET', KEYS[1], 'waiting_version'))
redis.call('HDEL', KEYS[1], 'waiting', 'waiting_version')
local confirmed = tonumber(redis.call('HGET', KEYS[1], 'confirmed') or '0')
if confirmed >= version then
  return false
end
local now = tonumber(ARGV[1])
local last = tonumber(redis.call('HGET', KEYS[1], 'version') or '0')
if version <= last and ARGV[5] == '0' then
  redis.call('HSET', KEYS[1], 'confirmed', version, 'unsure', version)
  redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[4]))
  return -2
end
if version > last then
  redis.call('HSET', KEYS[1], 'sent', now, 'version', version)
end
redis.call('HSET', KEYS[1], 'leased', now + tonumber(ARGV[3]))
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[4]))
return alert
"""

# KEYS: the device-and-game hash. ARGV: the version a platform service took, how long the
# hash is kept (ms).
_CONFIRM = """
local confirmed = tonumber(redis.call('HGET', KEYS[1], 'confirmed') or '0')
if tonumber(ARGV[1]) > confirmed then
  redis.call('HSET', KEYS[1], 'confirmed', ARGV[1])
  redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]))
end
return 1
"""


class Window:
    """``offer`` an alert for a device: True, send it now, then ``confirm`` it once the
    platform took it. ``due`` gives what waited and may go now."""

    def __init__(
        self,
        redis: Redis,
        keys: RedisKeys,
        seconds: float = 30.0,
        shards: int = 16,
        lease_seconds: float = 20.0,
        resend: bool = False,
    ) -> None:
        self.redis = redis
        self.keys = keys
        self.window_ms = int(seconds * 1000)
        self.lease_ms = int(lease_seconds * 1000)
        self.shards = shards
        #: A lease run out unconfirmed is sent again (at least once), or given up (at most).
        self.resend = resend
        #: Alerts given up after their sender died with them in flight (at most once).
        self.unsure = 0
        #: How long a device-and-game hash outlives its last write (as the scripts keep it).
        self._ttl_ms = (self.window_ms + self.lease_ms) * 4
        self._offer = redis.register_script(_OFFER)
        self._due = redis.register_script(_DUE)
        self._confirm = redis.register_script(_CONFIRM)

    def _state(self, device_id: str, game_id: str) -> str:
        return self.keys.notify_state(device_id, game_id, self.shards)

    def _waiting_for(self, device_id: str) -> str:
        return self.keys.notify_waiting(self.keys.device_shard(device_id, self.shards))

    def _gave_up(self, device_id: str, game_id: str) -> None:
        self.unsure += 1
        logger.warning(
            "%s: an alert of %s whose sender died unconfirmed is not sent again (at most once)",
            device_id,
            game_id,
        )

    @translated
    async def offer(self, device_id: str, alert: Alert, now_ms: int) -> bool:
        found = await self._offer(
            keys=[self._state(device_id, alert.game_id), self._waiting_for(device_id)],
            args=[
                now_ms,
                self.window_ms,
                alert.version,
                json.dumps(asdict(alert)),
                f"{device_id} {alert.game_id}",
                self.lease_ms,
                int(self.resend),
            ],
        )
        if int(found) == -2:
            self._gave_up(device_id, alert.game_id)
        return int(found) == 1

    @translated
    async def confirm(self, device_id: str, alert: Alert) -> None:
        """The platform took ``alert`` for the device: it never goes again."""
        await self._confirm(
            keys=[self._state(device_id, alert.game_id)], args=[alert.version, self._ttl_ms]
        )

    @translated
    async def due(self, now_ms: int, most: int = 1000) -> list[tuple[str, Alert]]:
        """What waited and may go now, leased: (device id, alert)."""
        ready: list[tuple[str, Alert]] = []
        for shard in range(self.shards):
            waiting = self.keys.notify_waiting(shard)
            members = await self.redis.zrangebyscore(waiting, "-inf", now_ms, start=0, num=most)
            for member in cast(list[bytes], members):
                device_id, game_id = member.decode().split(" ", 1)
                state = self._state(device_id, game_id)
                body = await self._due(
                    keys=[state, waiting],
                    args=[now_ms, member, self.lease_ms, self._ttl_ms, int(self.resend)],
                )
                if body == -2:
                    self._gave_up(device_id, game_id)
                elif body:
                    fields = json.loads(body)
                    fields["kind"] = AlertKind(fields["kind"])
                    ready.append((device_id, Alert(**fields)))
        return ready
