"""Snapshots in Redis: the one place the publisher writes and the origin reads.

Layout (see :mod:`core.keys`): per game a hash ``latest = {version, body, box, row}`` and one
immutable string per version; per board part (league and day) the set of its games; streams of
change announcements, a game's always on the same one (:mod:`core.changes`). Writes keep the
order the architecture requires: a batch's versions, then ``latest`` (atomically, in one
script), then the announcement.

The origin gets a :class:`SnapshotReader`, which cannot write; the publisher a
:class:`SnapshotWriter`. redis-py's errors leave both as :class:`StoreUnavailableError`.
"""

from __future__ import annotations

import json
import logging
import time
import zlib
from dataclasses import dataclass
from typing import Any, cast

from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster
from redis.typing import EncodableT, FieldT

from core import changes, standings
from core.connection import translated
from core.errors import VersionConflictError
from core.keys import (
    BOARDS_KEY,
    UNSPECIFIED,
    RedisKeys,
    board_surrogate_key,
    change_surrogate_keys,
    final_surrogate_keys,
    game_part,
    season_key,
    team_surrogate_key,
    teams_surrogate_key,
)
from core.models import Game, GameStatus, Revision, Sport
from core.reducer import Play

logger = logging.getLogger("scorecast.store")

# KEYS: the game's latest hash, plays hash, pushed marker, then one key per version written.
# ARGV: the number of play lines P; P pairs (record id, line; an empty line removes the record);
# then per version: number, body, box score, scoreboard row, 1 to claim it for the stream tier.
# Everything a game's batch writes on its own slot, in one call: the play lines, every version
# (immutable, in order), the push claims (never a version older than one the tier has), and
# ``latest`` last. Refuses the batch when its first version is not newer than ``latest``, so
# versions only grow and are never reused: returns {-1, latest} then, else {0, previous
# pushed version of each claimed version or -1 where not claimed, ...}.
_WRITE_GAME = """
local current = tonumber(redis.call('HGET', KEYS[1], 'version') or '0')
local plays = tonumber(ARGV[1])
local at = 2 + 2 * plays
if tonumber(ARGV[at]) <= current then
  return {-1, current}
end
for i = 0, plays - 1 do
  local line = ARGV[3 + 2 * i]
  if line == '' then
    redis.call('HDEL', KEYS[2], ARGV[2 + 2 * i])
  else
    redis.call('HSET', KEYS[2], ARGV[2 + 2 * i], line)
  end
end
local pushed = tonumber(redis.call('GET', KEYS[3]) or '0')
local claimed = pushed
local answer = {0}
local last = at
local key = 4
while at <= #ARGV do
  redis.call('SET', KEYS[key], ARGV[at + 1], 'NX')
  local version = tonumber(ARGV[at])
  if ARGV[at + 4] == '1' and version > claimed then
    answer[#answer + 1] = claimed
    claimed = version
  else
    answer[#answer + 1] = -1
  end
  last = at
  at = at + 5
  key = key + 1
end
if claimed ~= pushed then
  redis.call('SET', KEYS[3], claimed)
end
redis.call('HSET', KEYS[1], 'version', ARGV[last], 'body', ARGV[last + 1], 'box', ARGV[last + 2],
           'row', ARGV[last + 3])
return answer
"""

# KEYS: the game's latest hash, plays hash, packed plays, held ids, feed records, feed outbox,
# feed retired marker, then every version key but the latest's. ARGV: the latest version when
# the plays were read, the packed plays. Nothing is done (0) when a newer version came meanwhile
# (a correction after the final): the game retires at its next turn.
_RETIRE = """
if redis.call('HGET', KEYS[1], 'version') ~= ARGV[1] then
  return 0
end
redis.call('SET', KEYS[3], ARGV[2])
redis.call('DEL', KEYS[2], KEYS[4], KEYS[5], KEYS[6])
redis.call('SET', KEYS[7], '1')
for i = 8, #KEYS do
  redis.call('DEL', KEYS[i])
end
redis.call('HSET', KEYS[1], 'retired', '1')
return 1
"""

# KEYS: the part a game left (its games, its gone counter). ARGV: game id, the game's version.
# The part's version (its games' versions and gone, summed) must not go back when one leaves.
_LEAVE_PART = """
if redis.call('SREM', KEYS[1], ARGV[1]) == 1 then
  redis.call('INCRBY', KEYS[2], ARGV[2])
end
return 0
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
    #: The sport of a league's records (standings are ordered by its rule), where known.
    sport: Sport | None = None


@dataclass(frozen=True)
class Leaders:
    version: int
    #: (player id, score, the player's record as stored), best first.
    ranked: list[tuple[str, int, bytes | None]]


@dataclass(frozen=True)
class Written:
    """What :meth:`SnapshotWriter.write_game` stored, for the stream tier to reuse as is."""

    game: Game
    body: bytes
    row: bytes
    #: The version pushed before this one, when this one was claimed for the stream tier
    #: (0: none); ``None`` when it is not to be pushed (a newer one was pushed already).
    previous_pushed: int | None = None


@dataclass(frozen=True)
class Telling:
    """A game batch's announcement, to go once the batch is written: alone, or with the other
    games of a poll batch in one round trip (:meth:`SnapshotWriter.tell`)."""

    game_id: str
    stream: str
    entry: dict[FieldT, EncodableT]
    #: When a final (or a correction after it) retires the game, epoch seconds.
    retire_at: float | None


@dataclass(frozen=True)
class Board:
    """Scoreboard parts read together: every shown game's row by game id, and a version that
    grows whenever a row does (the sum of the games' versions and of those that left)."""

    version: int
    parts: list[str]
    rows: dict[str, bytes]


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
    async def board_parts(self) -> list[str]:
        """Every scoreboard part (``LEAGUE:DAY``), sorted."""
        found = cast(set[bytes], await self.redis.smembers(self.keys.board_parts))
        return sorted(part.decode() for part in found)

    @translated
    async def board(self, parts: list[str]) -> Board:
        """The rows of every game the ``parts`` show, read from each game's latest."""
        async with self.redis.pipeline(transaction=False) as pipe:
            for part in parts:
                pipe.smembers(self.keys.board_games(part))
                pipe.get(self.keys.board_gone(part))
            found = await pipe.execute()
        games = sorted({game.decode() for members in found[0::2] for game in members})
        gone = sum(int(count or 0) for count in found[1::2])
        version, rows = await self._rows(games)
        return Board(version + gone, parts, rows)

    @translated
    async def teams(self, league: str) -> dict[str, bytes]:
        """A league's teams as their newest listed games name them, by team id."""
        found = cast(dict[bytes, bytes], await self.redis.hgetall(self.keys.teams(league)))
        return {team_id.decode(): team for team_id, team in found.items()}

    @translated
    async def team_games(self, league: str, season: str | None, team_id: str) -> Records:
        """The rows of a team's games in a season; the version is the sum of theirs."""
        key = self.keys.team_games(league, season, team_id)
        found = cast(set[bytes], await self.redis.smembers(key))
        version, rows = await self._rows(sorted(game.decode() for game in found))
        return Records(version, rows)

    async def _rows(self, games: list[str]) -> tuple[int, dict[str, bytes]]:
        """Each game's board row, and the sum of their versions (a view of them never goes
        back while none does)."""
        version = 0
        rows: dict[str, bytes] = {}
        if games:
            async with self.redis.pipeline(transaction=False) as pipe:
                for game_id in games:
                    pipe.hmget(self.keys.latest(game_id), ["version", "row"])
                latest = await pipe.execute()
            for game_id, (number, row) in zip(games, latest, strict=True):
                version += int(number or 0)
                if row is not None:
                    rows[game_id] = row
        return version, rows

    @translated
    async def version_numbers(self, game_id: str) -> list[int]:
        """Every version of a game that exists, in order (a scan: for tools and tests)."""
        pattern = self.keys.versions_pattern(game_id)
        found = [self.keys.version_number(key) async for key in self.redis.scan_iter(pattern)]
        return sorted(found)

    @translated
    async def scoreboard_row(self, game_id: str) -> bytes | None:
        row = await self.redis.hget(self.keys.latest(game_id), "row")
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
    async def seasons(self, league: str) -> list[str]:
        """The named seasons a league has finals in (season keys), oldest first."""
        found = cast(set[bytes], await self.redis.smembers(self.keys.seasons(league)))
        return sorted(season.decode() for season in found)

    @translated
    async def standings(self, league: str, season: str | None = None) -> Records:
        """A league's team rows of a season (JSON as stored), by team id, unranked."""
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.get(self.keys.season(league, season, "version"))
            pipe.hgetall(self.keys.season(league, season, "teams"))
            pipe.get(self.keys.league(league, "sport"))
            version, rows, sport = await pipe.execute()
        names = {kind.value for kind in Sport}
        known = Sport(sport.decode()) if sport and sport.decode() in names else None
        return Records(int(version or 0), {key.decode(): row for key, row in rows.items()}, known)

    @translated
    async def leaders(self, league: str, top: int, season: str | None = None) -> Leaders:
        """The top scorers of a league's season (points in basketball, goals in hockey and
        soccer), best first, with each one's player record (JSON as stored; ``None`` where
        there is none)."""
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.get(self.keys.season(league, season, "version"))
            pipe.zrevrange(self.keys.season(league, season, "leaders"), 0, top - 1, withscores=True)
            pipe.hgetall(self.keys.season(league, season, "players"))
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
    async def retired(self, game_id: str) -> bool:
        """Has the game retired (its intermediate versions are gone)?"""
        return bool(await self.redis.hexists(self.keys.latest(game_id), "retired"))

    @translated
    async def game_view(self, game_id: str, plays: bool = True) -> GameView | None:
        """The latest version, its box score and (``plays``) its play-by-play, read at one
        instant."""
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hmget(self.keys.latest(game_id), ["version", "body", "box"])
            if plays:
                pipe.hgetall(self.keys.plays(game_id))
                pipe.get(self.keys.packed_plays(game_id))
            (version, body, box), *found = await pipe.execute()
        if version is None or body is None:
            return None
        game = json.loads(body)
        lines = [json.loads(line) for line in _play_lines(*found).values()] if found else []
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
        retention_seconds: float = 86_400.0,
    ) -> None:
        super().__init__(redis, keys)
        self.changes_maxlen = changes_maxlen
        #: How long after its final a game keeps every version (see :meth:`retire`).
        self.retention_seconds = retention_seconds
        #: Replicas that must have each snapshot before it is announced (and before the
        #: publisher commits past its events): a master that dies then loses no version.
        self.replicas = replicas
        self.replica_wait_ms = replica_wait_ms
        self._write_game = redis.register_script(_WRITE_GAME)
        self._leave_part = redis.register_script(_LEAVE_PART)
        self._retire = redis.register_script(_RETIRE)
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
    async def write_game(
        self,
        before: Game | None,
        plays: list[Play],
        versions: list[Game],
        claims: list[bool] | None = None,
        told: list[Telling] | None = None,
    ) -> list[Written]:
        """Write a game's batch (numbered already, in order) and announce it: its play lines,
        every version and ``latest`` in one call on the game's slot, then, once those are
        readable, one announcement for the whole batch (a game's first batch also joins its
        board part first).
        ``before`` is the game's state before the batch (it tells which board part it leaves).

        ``claims`` marks the versions to claim for the stream tier (see
        :class:`Written.previous_pushed`). With ``told``, the announcement is added to it
        instead, for :meth:`tell` to send with those of other games."""
        if not versions:
            return []
        game_id = versions[0].game_id
        wanted = claims if claims is not None else [False] * len(versions)
        args: list[EncodableT] = [len(plays)]
        for play in plays:
            removed = play.event.revision is Revision.REMOVED
            args += [play.event.event_id, b"" if removed else play_line(play)]
        written: list[Written] = []
        last = versions[-1]
        for game, claim in zip(versions, wanted, strict=True):
            body, row = snapshot_body(game), scoreboard_row(game)
            # Only the newest box score and row are kept (in ``latest``): not sent for the rest.
            box = game.box.model_dump_json().encode() if game is last else b""
            args += [game.version, body, box, row if game is last else b"", int(claim)]
            written.append(Written(game, body, row))
        keys = [
            self.keys.latest(game_id),
            self.keys.plays(game_id),
            self.keys.pushed(game_id),
            *(self.keys.version(game_id, game.version) for game in versions),
        ]
        status, *previous = await self._write_game(keys=keys, args=args)
        if int(status) < 0:
            raise VersionConflictError(game_id, int(previous[0]))
        if self.replicas:
            await self._replicated(self.keys.latest(game_id))
        telling = await self._show(before, versions)
        if told is None:
            await self.tell([telling])
        else:
            told.append(telling)
        return [
            Written(w.game, w.body, w.row, None if int(p) < 0 else int(p))
            for w, p in zip(written, previous, strict=True)
        ]

    @translated
    async def write(self, game: Game) -> Written:
        """Write and announce one version (see :meth:`write_game`)."""
        return (await self.write_game(None, [], [game]))[0]

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
    async def announce(self, game: Game) -> None:
        """Show ``game`` (its latest) on its board and announce it again: safe to repeat after
        a crash between writing and announcing."""
        await self.redis.hsetnx(self.keys.latest(game.game_id), "row", scoreboard_row(game))
        await self.tell([await self._show(None, [game])])

    async def _show(self, before: Game | None, versions: list[Game]) -> Telling:
        """Board membership where it changes; the batch's announcement, to be told."""
        last = versions[-1]
        part = game_part(last.league, last.day, last.start_time)
        teams_changed = before is None or _teams_of(before) != _teams_of(last)
        if teams_changed:
            # Its teams' seasons list it, the league knows its teams (a game first seen, or
            # its teams, their names or its season restated).
            async with self.redis.pipeline(transaction=False) as pipe:
                for team in (last.home, last.away):
                    pipe.sadd(
                        self.keys.team_games(last.league, last.season, team.team_id), last.game_id
                    )
                    known = team.model_dump_json(include={"team_id", "code", "name", "city"})
                    pipe.hset(self.keys.teams(last.league), team.team_id, known)
                await pipe.execute()
        left = (
            game_part(before.league, before.day, before.start_time) if before is not None else None
        )
        boards: list[str] = []
        if left != part:
            # A game's first batch, or a moved start: rare, so its own round trip.
            async with self.redis.pipeline(transaction=False) as pipe:
                pipe.sadd(self.keys.board_games(part), last.game_id)
                pipe.sadd(self.keys.board_parts, part)
                _, new_part = await pipe.execute()
            if left is not None:
                await self._leave_part(
                    keys=[self.keys.board_games(left), self.keys.board_gone(left)],
                    args=[last.game_id, last.version],
                )
            if new_part:
                boards = [BOARDS_KEY]  # the views composed of parts now have one more
            if left is not None:
                boards.append(board_surrogate_key(left))  # it shows the game no more
        keys = list(boards)
        if teams_changed:
            keys.append(teams_surrogate_key(last.league))
        for game in versions:
            shown = game_part(game.league, game.day, game.start_time)
            shows = [
                *change_surrogate_keys(game.game_id, shown),
                team_surrogate_key(game.league, game.home.team_id),
                team_surrogate_key(game.league, game.away.team_id),
            ]
            keys += [key for key in shows if key not in keys]
        entry = changes.fields(
            changes.VERSION, last.game_id, last.version, keys, last.change, versions[0].version
        )
        final = last.status is GameStatus.FINAL
        return Telling(
            last.game_id,
            self.keys.change_stream(last.game_id),
            entry,
            time.time() + self.retention_seconds if final else None,
        )

    @translated
    async def tell(self, tellings: list[Telling]) -> None:
        """Send announcements of batches already written, in one round trip."""
        if not tellings:
            return
        async with self.redis.pipeline(transaction=False) as pipe:
            for telling in tellings:
                if telling.retire_at is not None:
                    # A correction after the final moves the retirement later, never sooner.
                    key = self.keys.retiring(telling.game_id)
                    pipe.zadd(key, {telling.game_id: telling.retire_at}, gt=True)
                stream, entry = telling.stream, telling.entry
                pipe.xadd(stream, entry, maxlen=self.changes_maxlen, approximate=True)
            await pipe.execute()

    @translated
    async def retiring(self, now: float, most: int) -> list[str]:
        """Finished games whose retention ended by ``now`` (epoch seconds), ``most`` at most."""
        due: list[str] = []
        for key in self.keys.retiring_sets:
            found = await self.redis.zrangebyscore(key, "-inf", now, start=0, num=most)
            due += [cast(bytes, game_id).decode() for game_id in found]
        return due[:most]

    @translated
    async def retire(self, game_id: str) -> bool:
        """Keep of a finished game only what its views read: ``latest`` (snapshot, box score,
        row), the final version, its play lines packed into one string, the board's and the
        standings' records. Intermediate versions, the stream tier's ids and the feed's ledger
        go; the feed is closed (:meth:`FeedLedger.load` refuses it). False when a newer
        version came meanwhile: the game stays due and retires at its next turn."""
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hget(self.keys.latest(game_id), "version")
            pipe.hgetall(self.keys.plays(game_id))
            pipe.get(self.keys.packed_plays(game_id))
            version, lines, packed = await pipe.execute()
        if version is None:
            await self.redis.zrem(self.keys.retiring(game_id), game_id)
            return False
        kept = {key.decode(): line.decode() for key, line in _play_lines(lines, packed).items()}
        keys = [
            self.keys.latest(game_id),
            self.keys.plays(game_id),
            self.keys.packed_plays(game_id),
            self.keys.held(game_id),
            self.keys.feed_records(game_id),
            self.keys.feed_outbox(game_id),
            self.keys.feed_retired(game_id),
            *(self.keys.version(game_id, n) for n in range(1, int(version))),
        ]
        packed_now = zlib.compress(json.dumps(kept, separators=(",", ":")).encode(), 9)
        if not await self._retire(keys=keys, args=[version, packed_now]):
            return False
        await self.redis.zrem(self.keys.retiring(game_id), game_id)
        return True

    @translated
    async def record_final(self, game: Game) -> bool:
        """Add a final result to its league's standings and leaderboard, once per game; a
        newer version with another result (a correction) replaces what the game counted.

        Safe to call again for the same game (after a crash, or a redelivered final) and for
        every version after the final: returns False where nothing changed.
        """
        league, season = game.league, game.season
        teams = [row.model_dump() for row in standings.team_results(game)]
        players = [row.model_dump() for row in standings.player_results(game)]
        version = await self._record_final(
            keys=[
                self.keys.season(league, season, "counted"),
                self.keys.season(league, season, "teams"),
                self.keys.season(league, season, "leaders"),
                self.keys.season(league, season, "players"),
                self.keys.season(league, season, "version"),
            ],
            args=[game.game_id, json.dumps(teams), json.dumps(players), game.version],
        )
        if not version:
            return False
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.set(self.keys.league(league, "sport"), game.sport.value)
            if season_key(season) != UNSPECIFIED:
                pipe.sadd(self.keys.seasons(league), season_key(season))
            await pipe.execute()
        entry = changes.fields(
            changes.FINAL, game.game_id, game.version, final_surrogate_keys(league, season)
        )
        await self.tell([Telling(game.game_id, self.keys.change_stream(game.game_id), entry, None)])
        return True


def _teams_of(game: Game) -> tuple[object, ...]:
    return (
        game.league,
        game.season,
        *((team.team_id, team.code, team.name, team.city) for team in (game.home, game.away)),
    )


def _play_lines(lines: dict[bytes, bytes], packed: bytes | None) -> dict[bytes, bytes]:
    """A game's play lines by record id: those packed when it retired, then any written after
    (a correction of a retired game) over them."""
    found = {}
    if packed is not None:
        unpacked = json.loads(zlib.decompress(packed))
        found = {key.encode(): line.encode() for key, line in unpacked.items()}
    return found | lines


def play_line(play: Play) -> bytes:
    """A play as stored: ``applied`` is the sequence it was applied at (a view of version N
    shows lines applied up to N), ``order`` its place in the game (an edit keeps the place of
    the record it edits)."""
    event = play.event
    order = event.previous.sequence if event.previous is not None else event.sequence
    # Serialized by pydantic, not through a dict and json.dumps: a match day writes every play.
    body = event.model_dump_json(exclude={"previous", "revision", "game"}).encode()
    return b'{"applied":%d,"order":%d,"home":%d,"away":%d,"event":%s}' % (
        event.sequence,
        order,
        play.home_score,
        play.away_score,
        body,
    )


def snapshot_change(body: bytes) -> str:
    """What a stored version changed (its SSE event type), read back from its body."""
    return str(json.loads(body).get("change", "state"))


def row_version(row: bytes) -> int:
    """The version of the game a stored scoreboard row shows."""
    return int(json.loads(row)["version"])


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
            "day",
            "venue",
            "season",
            "version",
            "change",
        }
    ).encode()
