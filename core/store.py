"""Snapshots in Redis: the one place the publisher writes and the origin reads.

Layout (see :mod:`core.keys`): per game a hash ``latest = {version, body, box}`` and one
immutable string per version; a scoreboard hash of rows; streams of change announcements, a
game's always on the same one (:mod:`core.changes`). Writes keep the order the architecture
requires: snapshot N, then ``latest`` = N (atomically, in one script), then the scoreboard row,
then the announcement.

The origin gets a :class:`SnapshotReader`, which cannot write; the publisher a
:class:`SnapshotWriter`. redis-py's errors leave both as :class:`StoreUnavailableError`.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any, cast

from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster
from redis.typing import EncodableT, FieldT

from core import changes, standings
from core.connection import translated
from core.errors import VersionConflictError
from core.keys import RedisKeys, change_surrogate_keys, final_surrogate_keys
from core.models import Game, Revision
from core.reducer import Play

logger = logging.getLogger("scorecast.store")

# KEYS: latest hash, version key. ARGV: version, body, box score.
# Refuses a version that is not newer than latest, so versions only grow and are never reused.
_WRITE_SNAPSHOT = """
local current = tonumber(redis.call('HGET', KEYS[1], 'version') or '0')
local version = tonumber(ARGV[1])
if version <= current then
  return current
end
redis.call('SET', KEYS[2], ARGV[2], 'NX')
redis.call('HSET', KEYS[1], 'version', ARGV[1], 'body', ARGV[2], 'box', ARGV[3])
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


# KEYS: the league's counted finals (a hash, game → what it counted: a new key, not the set
# earlier releases kept, so an upgrade meets no key of the wrong type), teams, leaders,
# players, version.
# ARGV: game id, team rows, player rows (JSON), the game's version. A game counts once; a newer
# version of a final game whose rows differ (the provider corrected it) takes back what the
# game counted and counts its new rows, so a correction is counted once too. Returns the
# league's new version, or 0 when nothing changed.
_RECORD_FINAL = """
local counted = {'wins', 'losses', 'ties', 'overtime_losses', 'points', 'points_for',
                 'points_against'}
local function count(teams, players, sign)
  for _, row in ipairs(cjson.decode(teams)) do
    local stored = redis.call('HGET', KEYS[2], row.team_id)
    local total = {team_id = row.team_id, code = row.code, name = row.name, games = 0}
    for _, name in ipairs(counted) do total[name] = 0 end
    if stored then total = cjson.decode(stored) end
    for _, name in ipairs(counted) do
      total[name] = total[name] + sign * row[name]
    end
    total.games = total.games + sign
    redis.call('HSET', KEYS[2], row.team_id, cjson.encode(total))
  end
  for _, player in ipairs(cjson.decode(players)) do
    redis.call('ZINCRBY', KEYS[3], sign * player.pts, player.player_id)
    if sign > 0 then
      redis.call('HSET', KEYS[4], player.player_id, cjson.encode(player))
    end
  end
end
local version = tonumber(ARGV[4])
local now = cjson.encode({version = version, teams = ARGV[2], players = ARGV[3]})
local stored = redis.call('HGET', KEYS[1], ARGV[1])
if stored then
  local was = cjson.decode(stored)
  if was.version >= version then
    return 0
  end
  redis.call('HSET', KEYS[1], ARGV[1], now)
  if was.teams == ARGV[2] and was.players == ARGV[3] then
    return 0
  end
  count(was.teams, was.players, -1)
else
  redis.call('HSET', KEYS[1], ARGV[1], now)
end
count(ARGV[2], ARGV[3], 1)
return redis.call('INCR', KEYS[5])
"""


@dataclass(frozen=True)
class Snapshot:
    version: int
    body: bytes


@dataclass(frozen=True)
class Records:
    """Stored JSON records by id, and the version of the whole they make up."""

    version: int
    rows: dict[str, bytes]


@dataclass(frozen=True)
class Leaders:
    version: int
    #: (player id, score, the player's record as stored), best first.
    ranked: list[tuple[str, int, bytes | None]]


@dataclass(frozen=True)
class Written:
    """What :meth:`SnapshotWriter.write` stored, for the stream tier to reuse as is."""

    game: Game
    body: bytes
    row: bytes
    scoreboard_version: int


@dataclass(frozen=True)
class GameView:
    """A game's latest version as plain JSON values, for views in other shapes."""

    version: int
    game: dict[str, Any]
    box: dict[str, Any]
    #: Play-by-play lines (see :func:`play_line`), in game order.
    plays: list[dict[str, Any]]


class SnapshotReader:
    """What the origin may do with the store: read."""

    def __init__(self, redis: Redis, keys: RedisKeys) -> None:
        self.redis = redis
        self.keys = keys

    @translated
    async def ping(self) -> None:
        await self.redis.ping()

    @translated
    async def latest(self, game_id: str) -> Snapshot | None:
        found = await self.redis.hmget(self.keys.latest(game_id), ["version", "body"])
        version, body = found
        if version is None or body is None:
            return None
        return Snapshot(int(version), cast(bytes, body))

    @translated
    async def version(self, game_id: str, version: int) -> bytes | None:
        body = await self.redis.get(self.keys.version(game_id, version))
        return cast(bytes | None, body)

    @translated
    async def scoreboard(self) -> Records:
        """Every game's scoreboard row (JSON as stored), by game id; the version changes whenever
        a row does."""
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.get(self.keys.scoreboard_version)
            pipe.hgetall(self.keys.scoreboard_games)
            version, rows = await pipe.execute()
        return Records(int(version or 0), {key.decode(): row for key, row in rows.items()})

    @translated
    async def version_numbers(self, game_id: str) -> list[int]:
        """Every version of a game that exists, in order (a scan: for tools and tests)."""
        pattern = self.keys.versions_pattern(game_id)
        found = [self.keys.version_number(key) async for key in self.redis.scan_iter(pattern)]
        return sorted(found)

    @translated
    async def scoreboard_row(self, game_id: str) -> bytes | None:
        row = await self.redis.hget(self.keys.scoreboard_games, game_id)
        return cast(bytes | None, row)

    @translated
    async def versions(self, game_id: str, first: int, last: int) -> list[tuple[int, bytes]]:
        """The bodies of versions ``first`` to ``last`` that exist, in one round trip."""
        numbers = list(range(first, last + 1))
        if not numbers:
            return []
        bodies = await self.redis.mget([self.keys.version(game_id, n) for n in numbers])
        return [
            (n, cast(bytes, body))
            for n, body in zip(numbers, bodies, strict=True)
            if body is not None
        ]

    @translated
    async def standings(self, league: str) -> Records:
        """A league's team rows (JSON as stored), by team id, unranked."""
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.get(self.keys.league(league, "version"))
            pipe.hgetall(self.keys.league(league, "teams"))
            version, rows = await pipe.execute()
        return Records(int(version or 0), {key.decode(): row for key, row in rows.items()})

    @translated
    async def leaders(self, league: str, top: int) -> Leaders:
        """The top scorers of a league (points in basketball, goals in hockey and soccer), best
        first, with each one's player record (JSON as stored; ``None`` where there is none)."""
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.get(self.keys.league(league, "version"))
            pipe.zrevrange(self.keys.league(league, "leaders"), 0, top - 1, withscores=True)
            pipe.hgetall(self.keys.league(league, "players"))
            version, ranked, players = await pipe.execute()
        found = [(p.decode(), int(score), players.get(p)) for p, score in ranked]
        return Leaders(int(version or 0), found)

    @translated
    async def box_score(self, game_id: str) -> Snapshot | None:
        """The latest box score, with the version of the snapshot it belongs to."""
        version, box = await self.redis.hmget(self.keys.latest(game_id), ["version", "box"])
        if version is None or box is None:
            return None
        return Snapshot(int(version), cast(bytes, box))

    @translated
    async def game_view(self, game_id: str, plays: bool = True) -> GameView | None:
        """The latest version, its box score and (``plays``) its play-by-play, read at one
        instant."""
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hmget(self.keys.latest(game_id), ["version", "body", "box"])
            if plays:
                pipe.hgetall(self.keys.plays(game_id))
            (version, body, box), *found = await pipe.execute()
        if version is None or body is None:
            return None
        game = json.loads(body)
        lines = [json.loads(line) for line in found[0].values()] if found else []
        # Lines written ahead of this version (the publisher writes them first) wait for it.
        shown = sorted(
            (line for line in lines if line["applied"] <= game["sequence"]),
            key=lambda line: line["order"],
        )
        return GameView(int(version), game, json.loads(box) if box else {}, shown)


class SnapshotWriter(SnapshotReader):
    """What the publisher does with the store: write versions, announce them, count finals."""

    def __init__(
        self,
        redis: Redis,
        keys: RedisKeys,
        changes_maxlen: int,
        replicas: int = 0,
        replica_wait_ms: int = 100,
    ) -> None:
        super().__init__(redis, keys)
        self.changes_maxlen = changes_maxlen
        #: Replicas that must have each snapshot before it is announced (and before the
        #: publisher commits past its events): a master that dies then loses no version.
        self.replicas = replicas
        self.replica_wait_ms = replica_wait_ms
        self._write_snapshot = redis.register_script(_WRITE_SNAPSHOT)
        self._write_row = redis.register_script(_WRITE_ROW)
        self._record_final = redis.register_script(_RECORD_FINAL)

    @translated
    async def load_game(self, game_id: str) -> Game | None:
        """The whole state of the newest version, box score included (publisher recovery)."""
        body, box = await self.redis.hmget(self.keys.latest(game_id), ["body", "box"])
        if body is None:
            return None
        state = json.loads(body)
        state["box"] = json.loads(box) if box else {}
        return Game.model_validate(state)

    @translated
    async def write(self, game: Game) -> Written:
        """Write ``game`` (numbered already) and announce it; return what was written."""
        body = snapshot_body(game)
        current = await self._write_snapshot(
            keys=[self.keys.latest(game.game_id), self.keys.version(game.game_id, game.version)],
            args=[game.version, body, game.box.model_dump_json().encode()],
        )
        if current:
            raise VersionConflictError(game.game_id, int(current))
        if self.replicas:
            await self._replicated(self.keys.latest(game.game_id))
        row = scoreboard_row(game)
        return Written(game, body, row, await self._announce(game, row))

    async def _replicated(self, key: str) -> None:
        """``WAIT`` on the node holding ``key`` until ``replicas`` have the writes so far."""
        client: object = self.redis
        if isinstance(client, RedisCluster):
            node = client.get_node_from_key(key)
            acked = await client.execute_command(
                "WAIT", self.replicas, self.replica_wait_ms, target_nodes=node
            )
        else:
            acked = await self.redis.wait(self.replicas, self.replica_wait_ms)
        if int(acked) < self.replicas:
            logger.warning("%s reached %s of %d replicas in time", key, acked, self.replicas)

    @translated
    async def announce(self, game: Game) -> int:
        """Show ``game`` on the scoreboard and announce it again. Safe to repeat after a crash.

        Returns the scoreboard's version (unchanged when the row already showed this version).
        """
        return await self._announce(game, scoreboard_row(game))

    async def _announce(self, game: Game, row: bytes) -> int:
        changed = await self._write_row(
            keys=[
                self.keys.scoreboard_games,
                self.keys.scoreboard_versions,
                self.keys.scoreboard_version,
            ],
            args=[game.game_id, game.version, row],
        )
        board = int(changed) or int(await self.redis.get(self.keys.scoreboard_version) or 0)
        entry = changes.fields(
            changes.VERSION,
            game.game_id,
            game.version,
            change_surrogate_keys(game.game_id),
            game.change,
            board,
        )
        await self._tell(game.game_id, entry)
        return board

    async def _tell(self, game_id: str, entry: dict[FieldT, EncodableT]) -> None:
        """Add an announcement to the change stream of its game's shard."""
        stream = self.keys.change_stream(game_id)
        await self.redis.xadd(stream, entry, maxlen=self.changes_maxlen, approximate=True)

    @translated
    async def write_plays(self, game_id: str, plays: list[Play]) -> None:
        """Keep each applied event as a line of the play-by-play (before the versions that
        include them are written); a removed record's line goes."""
        if not plays:
            return
        key = self.keys.plays(game_id)
        async with self.redis.pipeline(transaction=True) as pipe:
            for play in plays:
                event = play.event
                if event.revision is Revision.REMOVED:
                    pipe.hdel(key, event.event_id)
                else:
                    pipe.hset(key, event.event_id, play_line(play))
            await pipe.execute()

    @translated
    async def record_final(self, game: Game) -> bool:
        """Add a final result to its league's standings and leaderboard, once per game; a
        newer version with another result (a correction) replaces what the game counted.

        Safe to call again for the same game (after a crash, or a redelivered final) and for
        every version after the final: returns False where nothing changed.
        """
        league = game.league
        teams = [row.model_dump() for row in standings.team_results(game)]
        players = [row.model_dump() for row in standings.player_results(game)]
        version = await self._record_final(
            keys=[
                self.keys.league(league, "counted"),
                self.keys.league(league, "teams"),
                self.keys.league(league, "leaders"),
                self.keys.league(league, "players"),
                self.keys.league(league, "version"),
            ],
            args=[game.game_id, json.dumps(teams), json.dumps(players), game.version],
        )
        if not version:
            return False
        entry = changes.fields(
            changes.FINAL, game.game_id, game.version, final_surrogate_keys(league)
        )
        await self._tell(game.game_id, entry)
        return True


def play_line(play: Play) -> bytes:
    """A play as stored: ``applied`` is the sequence it was applied at (a view of version N
    shows lines applied up to N), ``order`` its place in the game (an edit keeps the place of
    the record it edits)."""
    event = play.event
    order = event.previous.sequence if event.previous is not None else event.sequence
    line = {
        "applied": event.sequence,
        "order": order,
        "home": play.home_score,
        "away": play.away_score,
        "event": event.model_dump(mode="json", exclude={"previous", "revision", "game"}),
    }
    return json.dumps(line, separators=(",", ":")).encode()


def snapshot_body(game: Game) -> bytes:
    """What fans get for a version: the state without the box score (its own resource), so
    that the documents every change pushes to every fan stay small."""
    return game.model_dump_json(exclude={"box"}).encode()


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
            "change",
        }
    ).encode()
