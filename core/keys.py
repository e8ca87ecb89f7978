"""The one source of cache keys (surrogate keys) and Redis keys.

The keys a response carries and the keys a change purges both come from here, so they cannot
drift apart. A game's Redis keys share the hash tag ``{game:ID}`` so Redis Cluster keeps them on
one slot; the scoreboard's keys share ``{scoreboard}``.

The scoreboard is kept in parts, one per league and day (:func:`board_part`): no key is shared
by every game, a change purges only its own part, and a match day spreads over a cluster. A
view of several parts is composed from them and carries every part's key.
"""

from __future__ import annotations

import re
import zlib
from datetime import date, datetime

from core import calendar

SCOREBOARD_KEY = "scoreboard"
#: Key of every view composed of several board parts: purged when a part first appears.
BOARDS_KEY = "boards"
UNDATED = calendar.UNDATED


def league_key(league: str) -> str:
    """A league name made safe for URLs and keys: ``2. Bundesliga`` → ``2-bundesliga``."""
    return re.sub(r"[^a-z0-9]+", "-", league.lower()).strip("-") or "league"


#: The season of games no document names one of (their standings are kept as before seasons).
UNSPECIFIED = "unspecified"


def season_key(season: str | None) -> str:
    """A season made safe for URLs and keys: ``2018/2019`` → ``2018-2019``."""
    if season is None:
        return UNSPECIFIED
    return re.sub(r"[^a-z0-9]+", "-", season.lower()).strip("-")[:16] or UNSPECIFIED


def standings_surrogate_keys(league: str, season: str | None = None) -> list[str]:
    """Keys of a league's standings: its current season's view (the league's key) and one
    season's (the league's and the season's)."""
    if season is None:
        return [f"standings-{league_key(league)}"]
    return [f"standings-{league_key(league)}-{season_key(season)}"]


def leaders_surrogate_keys(league: str, season: str | None = None) -> list[str]:
    if season is None:
        return [f"leaders-{league_key(league)}"]
    return [f"leaders-{league_key(league)}-{season_key(season)}"]


def final_surrogate_keys(league: str, season: str | None = None) -> list[str]:
    """Keys to purge when a game of ``league`` becomes final: its season's tables and the
    league's current ones (the season may be the current one)."""
    keys = [*standings_surrogate_keys(league), *leaders_surrogate_keys(league)]
    if season is not None:
        keys += [*standings_surrogate_keys(league, season), *leaders_surrogate_keys(league, season)]
    return keys


def teams_surrogate_key(league: str) -> str:
    """Key of a league's list of teams (purged when a game first shows its teams)."""
    return f"teams-{league_key(league)}"


def team_surrogate_key(league: str, team_id: str) -> str:
    """Key of every view of a team's games (its season's results and fixtures)."""
    return f"team-{league_key(league)}-{team_id}"


def game_key(game_id: str) -> str:
    """Surrogate key of everything that shows a game's latest state."""
    return f"game-{game_id}"


def game_surrogate_keys(game_id: str) -> list[str]:
    """Keys of the response ``GET /v1/games/{game_id}``."""
    return [game_key(game_id)]


def board_part(league: str, day: date | None) -> str:
    """The scoreboard part a game is shown on: ``LEAGUE:DAY``, the game's day (see
    :mod:`core.calendar`; :data:`UNDATED` without one). A moved start can move the game to
    another part."""
    return f"{league_key(league)}:{day.isoformat() if day is not None else UNDATED}"


def game_part(league: str, day: date | None, start: datetime | None) -> str:
    """The part of a game whose day is ``day`` (stated) or that of ``start``."""
    return board_part(league, calendar.game_day(league_key(league), day, start))


def part_day(part: str) -> str:
    return part.rsplit(":", 1)[1]


def part_league(part: str) -> str:
    return part.rsplit(":", 1)[0]


def board_surrogate_key(part: str) -> str:
    """Key of every board that shows the part ``LEAGUE:DAY``."""
    return "board-" + part.replace(":", "-")


_BOARD_KEY = re.compile(r"board-(?P<league>[a-z0-9-]+)-(?P<day>[0-9]{4}-[0-9]{2}-[0-9]{2}|undated)")


def keyed_game(key: str) -> str | None:
    """The game a surrogate key is :func:`game_key` of, if it is one."""
    return key.removeprefix("game-") if key.startswith("game-") else None


def game_page(game_id: str) -> str:
    """The page fans poll for a game's state: what the purger refreshes after a score."""
    return f"/v1/games/{game_id}"


def edge_paths(key: str) -> list[str]:
    """The paths at the edge that show what surrogate ``key`` names, for a game or a board
    part (others: none): what the follower warms before a start."""
    game_id = keyed_game(key)
    if game_id is not None:
        return [game_page(game_id), f"/v1/games/{game_id}/boxscore"]
    board = _BOARD_KEY.fullmatch(key)
    if board is None:
        return []
    league, day = board["league"], board["day"]
    return [f"/v1/scoreboard/{day}/{league}", f"/v1/scoreboard/{day}", "/v1/scoreboard"]


#: Push channels are named by the surrogate key of what they carry, so a purge and a publish
#: for the same change name the same thing.
SCOREBOARD_CHANNEL = SCOREBOARD_KEY


def game_channel(game_id: str) -> str:
    return game_key(game_id)


def change_surrogate_keys(game_id: str, part: str) -> list[str]:
    """Keys to purge when a game gets a new version: the game and the boards that show it."""
    return [*game_surrogate_keys(game_id), board_surrogate_key(part)]


class RedisKeys:
    """Redis key names under a configurable prefix.

    ``change_shards`` streams carry the change announcements, each game's always on the same
    one (so its announcements stay in order). The streams' names share no hash tag: on a
    cluster they land on different slots, and no one stream takes every change of a match day.
    """

    def __init__(self, prefix: str = "scorecast", change_shards: int = 1) -> None:
        if change_shards < 1:
            raise ValueError("change_shards must be at least 1")
        self.prefix = prefix
        self.change_shards = change_shards

    def latest(self, game_id: str) -> str:
        """Hash ``{version, body}`` of the newest snapshot: one read gives both, atomically."""
        return f"{self.prefix}:{{game:{game_id}}}:latest"

    def version(self, game_id: str, version: int) -> str:
        """The immutable body of one version."""
        return f"{self.prefix}:{{game:{game_id}}}:v:{version}"

    def versions_pattern(self, game_id: str) -> str:
        """A ``SCAN`` pattern matching every version key of a game."""
        return f"{self.prefix}:{{game:{game_id}}}:v:*"

    @staticmethod
    def version_number(key: bytes | str) -> int:
        """The version a key made by :meth:`version` holds."""
        text = key.decode() if isinstance(key, bytes) else key
        return int(text.rsplit(":v:", 1)[1])

    def board_games(self, part: str) -> str:
        """Set: the games a scoreboard part shows (their rows live with each game's latest)."""
        return f"{self.prefix}:{{board:{part}}}:games"

    def board_gone(self, part: str) -> str:
        """Counter: the versions of games that left the part (a moved start), so that the
        part's version (the sum of its games' versions and this) never goes back."""
        return f"{self.prefix}:{{board:{part}}}:gone"

    @property
    def board_parts(self) -> str:
        """Set of every scoreboard part (written when a game first shows on one)."""
        return f"{self.prefix}:{{boards}}:parts"

    def league(self, league: str, part: str) -> str:
        """A league's keys share the hash tag ``{league:KEY}``: finals, teams, leaders…"""
        return f"{self.prefix}:{{league:{league_key(league)}}}:{part}"

    def season(self, league: str, season: str | None, part: str) -> str:
        """A league's keys of one season (standings, leaders, counted finals). Games of no
        named season keep the keys the league had before seasons."""
        if season is None or season_key(season) == UNSPECIFIED:
            return self.league(league, part)
        return self.league(league, f"season:{season_key(season)}:{part}")

    def seasons(self, league: str) -> str:
        """Set: the named seasons a league has finals in."""
        return self.league(league, "seasons")

    def teams(self, league: str) -> str:
        """Hash team id → the team as its newest listed game names it (code, name, city)."""
        return self.league(league, "teams:known")

    def team_games(self, league: str, season: str | None, team_id: str) -> str:
        """Set: the games of a team in a season (results and fixtures)."""
        return self.league(league, f"team:{season_key(season)}:{team_id}")

    @property
    def change_streams(self) -> list[str]:
        """Every stream of change announcements: purgers and origins read them all. The first
        keeps the name of the single stream of one shard, so one shard is what it always was."""
        return self._sharded("changes")

    def change_stream(self, game_id: str) -> str:
        """The stream that carries the announcements of ``game_id``."""
        return self.change_streams[self._shard(game_id)]

    def _sharded(self, name: str) -> list[str]:
        first = f"{self.prefix}:{name}"
        return [first] + [f"{first}:{shard}" for shard in range(1, self.change_shards)]

    def _shard(self, game_id: str) -> int:
        """A game's shard: the same in every process (a checksum of the id, not Python's
        per-process ``hash``)."""
        return zlib.crc32(game_id.encode()) % self.change_shards

    @property
    def retiring_sets(self) -> list[str]:
        """Sorted sets of finished games by when they retire (see :meth:`retiring`)."""
        return self._sharded("retiring")

    def retiring(self, game_id: str) -> str:
        """The set that holds ``game_id`` once it is final: spread over the change shards like
        the announcements, so no one key takes every game's final."""
        return self.retiring_sets[self._shard(game_id)]

    def packed_plays(self, game_id: str) -> str:
        """A retired game's play lines, compressed into one string (see :meth:`plays`)."""
        return f"{self.prefix}:{{game:{game_id}}}:plays:packed"

    def feed_retired(self, game_id: str) -> str:
        """Set when a game retired: its feed ledger is gone, so no feed may add to it."""
        return f"{self.prefix}:{{game:{game_id}}}:feed:retired"

    def pushed(self, game_id: str) -> str:
        """The newest version of a game handed to the stream tier (never goes back)."""
        return f"{self.prefix}:{{game:{game_id}}}:pushed"

    def delivered(self, game_id: str) -> str:
        """The newest version of a game the stream tier took (the claimed ones before it too)."""
        return f"{self.prefix}:{{game:{game_id}}}:delivered"

    def held(self, game_id: str) -> str:
        """Sorted set: the stream tier's message id (member) of each pushed version (score),
        so that a resuming stream starts right after the version it holds."""
        return f"{self.prefix}:{{game:{game_id}}}:held"

    def feed_records(self, game_id: str) -> str:
        """Hash provider record id → the record as last produced (a removed one as removed):
        what a feed's next document is compared with."""
        return f"{self.prefix}:{{game:{game_id}}}:feed:records"

    def feed_next(self, game_id: str) -> str:
        """The sequence the next produced record of a game gets."""
        return f"{self.prefix}:{{game:{game_id}}}:feed:next"

    def feed_outbox(self, game_id: str) -> str:
        """List of records numbered and remembered but not yet acknowledged by Kafka."""
        return f"{self.prefix}:{{game:{game_id}}}:feed:outbox"

    def follower(self, game_id: str) -> str:
        """The follower instance whose game it is (a lease: expires unless renewed)."""
        return f"{self.prefix}:{{game:{game_id}}}:follow:owner"

    def followed_final(self, game_id: str) -> str:
        """When a follower first saw the game final (its grace period counts from then)."""
        return f"{self.prefix}:{{game:{game_id}}}:follow:final"

    @property
    def followers(self) -> str:
        """Sorted set: each live follower instance, scored by when its heartbeat expires."""
        return f"{self.prefix}:followers"

    def ingest_seen(self, signature: str) -> str:
        """A webhook request already received, by its signature (replays are refused)."""
        return f"{self.prefix}:ingest:seen:{signature}"

    def plays(self, game_id: str) -> str:
        """Hash provider record id → the play as applied, with the score after it (the
        play-by-play view reads it)."""
        return f"{self.prefix}:{{game:{game_id}}}:plays"

    # Notifications. A device's registration and its windows share the tag ``{notify:N}`` (N
    # from the device id), so each window decision is one script on one slot; a subject's
    # followers are kept in shards of their own (``{followers:SUBJECT:N}``), so a big game's
    # fan-out spreads over a cluster and over the notifier workers.

    @staticmethod
    def device_shard(device_id: str, shards: int) -> int:
        return zlib.crc32(device_id.encode()) % shards

    def device(self, device_id: str, shards: int) -> str:
        """Hash: a registered device (platform, address, its credential's digest, follows)."""
        return f"{self.prefix}:{{notify:{self.device_shard(device_id, shards)}}}:device:{device_id}"

    def notify_state(self, device_id: str, game_id: str, shards: int) -> str:
        """Hash: what a device was last told of a game, and what waits for its window."""
        tag = self.device_shard(device_id, shards)
        return f"{self.prefix}:{{notify:{tag}}}:told:{device_id}:{game_id}"

    def notify_waiting(self, shard: int) -> str:
        """Sorted set: (device, game) pairs whose newest alert waits, by when it may go."""
        return f"{self.prefix}:{{notify:{shard}}}:waiting"

    def subscribers(self, subject: str, shard: int) -> str:
        """Set: the devices following ``subject`` (``game:ID``, ``team:LEAGUE:TEAM``), one
        shard of them."""
        return f"{self.prefix}:{{followers:{subject}:{shard}}}"

    def told(self, game_id: str) -> str:
        """Hash: what a game's followers were last told (the notifier's rule reads it)."""
        return f"{self.prefix}:{{game:{game_id}}}:told"
