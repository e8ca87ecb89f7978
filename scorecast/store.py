"""Snapshots in Redis: the one place the publisher writes and the origin reads.

Layout (see :mod:`scorecast.keys`): per game a hash ``latest = {version, body}`` and one
immutable string per version; a scoreboard hash of rows; a stream of change announcements.
Writes keep the order the architecture requires: snapshot N, then ``latest`` = N (atomically, in
one script), then the scoreboard row, then the announcement.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

from redis.asyncio import Redis

from scorecast.keys import RedisKeys, change_surrogate_keys
from scorecast.models import Game

# KEYS: latest hash, version key. ARGV: version, body.
# Refuses a version that is not newer than latest, so versions only grow and are never reused.
_WRITE_SNAPSHOT = """
local current = tonumber(redis.call('HGET', KEYS[1], 'version') or '0')
local version = tonumber(ARGV[1])
if version <= current then
  return current
end
redis.call('SET', KEYS[2], ARGV[2], 'NX')
redis.call('HSET', KEYS[1], 'version', ARGV[1], 'body', ARGV[2])
return 0
"""

# KEYS: rows hash, row versions hash, scoreboard version counter. ARGV: game id, version, row.
_WRITE_ROW = """
local shown = tonumber(redis.call('HGET', KEYS[2], ARGV[1]) or '0')
if tonumber(ARGV[2]) <= shown then
  return 0
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
return redis.call('INCR', KEYS[3])
"""


class VersionConflictError(Exception):
    """Another writer already published this or a newer version of the game."""

    def __init__(self, game_id: str, current: int) -> None:
        super().__init__(f"game {game_id} is already at version {current}")
        self.current = current


@dataclass(frozen=True)
class Snapshot:
    version: int
    body: bytes


@dataclass(frozen=True)
class Change:
    """One announcement on the change stream."""

    id: str
    game_id: str
    version: int
    keys: list[str]


class SnapshotStore:
    def __init__(self, redis: Redis, keys: RedisKeys) -> None:
        self.redis = redis
        self.keys = keys
        self._write_snapshot = redis.register_script(_WRITE_SNAPSHOT)
        self._write_row = redis.register_script(_WRITE_ROW)

    # -- reads (origin, publisher recovery) ---------------------------------------------------

    async def latest(self, game_id: str) -> Snapshot | None:
        found = await self.redis.hmget(self.keys.latest(game_id), ["version", "body"])
        version, body = found
        if version is None or body is None:
            return None
        return Snapshot(int(version), cast(bytes, body))

    async def version(self, game_id: str, version: int) -> bytes | None:
        body = await self.redis.get(self.keys.version(game_id, version))
        return cast(bytes | None, body)

    async def scoreboard(self) -> Snapshot:
        """The scoreboard as one JSON document; its version changes whenever a row does."""
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.get(self.keys.scoreboard_version)
            pipe.hgetall(self.keys.scoreboard_games)
            version, rows = await pipe.execute()
        ordered = b",".join(rows[game_id] for game_id in sorted(rows))
        number = int(version or 0)
        return Snapshot(number, b'{"version":%d,"games":[%s]}' % (number, ordered))

    async def load_game(self, game_id: str) -> Game | None:
        snapshot = await self.latest(game_id)
        return None if snapshot is None else Game.model_validate_json(snapshot.body)

    # -- writes (publisher) -------------------------------------------------------------------

    async def publish(self, game: Game, changes_maxlen: int) -> None:
        """Write ``game`` (whose ``version`` is already bumped) and announce it."""
        body = game.model_dump_json().encode()
        current = await self._write_snapshot(
            keys=[self.keys.latest(game.game_id), self.keys.version(game.game_id, game.version)],
            args=[game.version, body],
        )
        if current:
            raise VersionConflictError(game.game_id, int(current))
        await self.announce(game, changes_maxlen)

    async def announce(self, game: Game, changes_maxlen: int) -> None:
        """Show ``game`` on the scoreboard and announce it. Safe to repeat after a crash."""
        async with self.redis.pipeline(transaction=False) as pipe:
            await self._write_row(
                keys=[
                    self.keys.scoreboard_games,
                    self.keys.scoreboard_versions,
                    self.keys.scoreboard_version,
                ],
                args=[game.game_id, game.version, scoreboard_row(game)],
                client=pipe,
            )
            pipe.xadd(
                self.keys.changes,
                {
                    "game_id": game.game_id,
                    "version": game.version,
                    "keys": " ".join(change_surrogate_keys(game.game_id)),
                },
                maxlen=changes_maxlen,
                approximate=True,
            )
            await pipe.execute()


def scoreboard_row(game: Game) -> bytes:
    return game.model_dump_json(
        include={
            "game_id",
            "sport",
            "league",
            "status",
            "home",
            "away",
            "period",
            "clock_seconds",
            "start_time",
            "version",
        }
    ).encode()


def parse_changes(found: Any) -> list[Change]:
    """The changes in an XREAD/XREADGROUP answer (``[[stream, [(id, fields), …]], …]``)."""
    changes = []
    for _stream, entries in found or []:
        for entry_id, fields in entries:
            if not fields:  # an entry trimmed away while it was pending
                continue
            changes.append(
                Change(
                    id=entry_id.decode(),
                    game_id=fields[b"game_id"].decode(),
                    version=int(fields[b"version"]),
                    keys=fields[b"keys"].decode().split(),
                )
            )
    return changes
