"""Standings and leaderboards in a real Redis: every final counts once."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from core import changes
from core.boxscore import derive
from core.models import Game, Sport
from core.reducer import fold
from core.standings import rank
from core.store import SnapshotWriter
from feeds.adapters import load
from origin import documents
from tests.test_adapters import FILES


@pytest.fixture
def finals(data_dir: Path) -> list[Game]:
    games = []
    for file in FILES:
        game = fold(load(data_dir / file).events)
        assert game is not None
        games.append(game.model_copy(update={"version": 1}))
    return games


async def _table(store: SnapshotWriter, league: str) -> dict[str, tuple[int, ...]]:
    body = await _body(store, league)
    rows = json.loads(body)["teams"]
    return {
        row["code"]: (
            row["rank"],
            row["games"],
            row["wins"],
            row["losses"],
            row["ties"],
            row["points"],
        )
        for row in rows
    }


async def test_standings_after_every_game_and_after_replayed_finals(
    store: SnapshotWriter, finals: list[Game]
) -> None:
    for game in finals:
        assert await store.record_final(game) is True
    expected = {
        "NBA": {
            "BKN": (1, 1, 1, 0, 0, 1), "DAL": (2, 1, 1, 0, 0, 1), "TOR": (3, 1, 1, 0, 0, 1),
            "NOP": (4, 1, 0, 1, 0, 0), "POR": (5, 1, 0, 1, 0, 0), "GSW": (6, 1, 0, 1, 0, 0),
        },
        "NHL": {"TBL": (1, 1, 1, 0, 0, 2), "NSH": (2, 1, 0, 1, 0, 0)},
        "ncaaf": {"OU": (1, 1, 1, 0, 0, 1), "TULN": (2, 1, 0, 1, 0, 0)},
        "soccer": {"BAR": (1, 1, 0, 0, 1, 1), "GIR": (2, 1, 0, 0, 1, 1)},
        "2-bundesliga": {"HSV": (1, 1, 1, 0, 0, 3), "SVS": (2, 1, 0, 1, 0, 0)},
    }  # fmt: skip
    for league, table in expected.items():
        assert await _table(store, league) == table, league
    before = {league: await _body(store, league) for league in expected}
    for game in finals:  # every final delivered again
        assert await store.record_final(game) is False
    for league in expected:
        assert await _body(store, league) == before[league]


async def test_leaders_rank_the_top_scorers(store: SnapshotWriter, finals: list[Game]) -> None:
    nba = [game for game in finals if game.league == "NBA"]
    for game in nba:
        await store.record_final(game)
    body = json.loads(
        documents.leaders("nba", await store.leaders("nba", top=5), "unspecified").body
    )
    season: Counter[str] = Counter()  # a player of two of these games scores in both
    for game in nba:
        for player_id, line in game.box.players.items():
            season[player_id] += line.stats.get("pts", 0)
    assert [leader["pts"] for leader in body["leaders"]] == sorted(season.values())[::-1][:5]
    assert [leader["rank"] for leader in body["leaders"]] == [1, 2, 3, 4, 5]
    assert all(leader["name"] for leader in body["leaders"])


async def test_a_final_announces_its_league_keys(store: SnapshotWriter, finals: list[Game]) -> None:
    await store.record_final(finals[3])
    read = changes.parse(
        [(store.keys.change_streams[0], await store.redis.xrange(store.keys.change_streams[0]))]
    )
    entries = read.announcements
    assert entries[-1].keys == ["standings-nhl", "leaders-nhl"]


@pytest.fixture
async def client(origin: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=origin, timeout=5) as http:
        yield http


async def test_standings_and_leaders_over_http(
    store: SnapshotWriter, finals: list[Game], client: httpx.AsyncClient
) -> None:
    empty = await client.get("/v1/leagues/nhl/standings")
    assert empty.json() == {
        "league": "nhl",
        "season": "unspecified",
        "rule": "points, point difference, points scored",
        "teams": [],
        "version": 0,
    }
    await store.record_final(finals[3])
    response = await client.get("/v1/leagues/nhl/standings")
    assert response.headers["Surrogate-Key"] == "standings-nhl"
    assert response.headers["ETag"] == '"unspecified-v1"'  # the season is part of it
    assert [team["code"] for team in response.json()["teams"]] == ["TBL", "NSH"]
    leaders = await client.get("/v1/leagues/nhl/leaders")
    assert leaders.headers["Surrogate-Key"] == "leaders-nhl"
    assert leaders.json()["leaders"][0]["pts"] == 2  # two goals scored by one Lightning player
    bad = await client.get("/v1/leagues/NHL!/standings")
    assert bad.status_code == 400
    assert bad.json()["error"]["code"] == "bad_league"


async def test_standings_belong_to_a_season_and_the_current_one_is_the_newest(
    store: SnapshotWriter, finals: list[Game], client: httpx.AsyncClient
) -> None:
    """The same final counted in two seasons' tables: each season its own table, the league's
    current table the newest season's; a team's season lists its games; keys name the season."""
    nhl = finals[3]
    older = nhl.model_copy(update={"game_id": "old1", "season": "2024-25"})
    newer = nhl.model_copy(update={"game_id": "new1", "season": "2025-26"})
    for game in (older, newer):
        await store.write_game(None, [], [game])
        await store.record_final(game)
    await store.record_final(newer)  # again: counted once
    old = await client.get("/v1/leagues/nhl/seasons/2024-25/standings")
    assert old.headers["Surrogate-Key"] == "standings-nhl-2024-25"
    assert old.json()["season"] == "2024-25"
    current = (await client.get("/v1/leagues/nhl/standings")).json()
    assert current["season"] == "2025-26"
    for table in (old.json(), current):
        assert [(team["code"], team["games"]) for team in table["teams"]] == [
            ("TBL", 1),
            ("NSH", 1),
        ]
    leaders = await client.get("/v1/leagues/nhl/seasons/2025-26/leaders")
    assert leaders.headers["Surrogate-Key"] == "leaders-nhl-2025-26"
    assert leaders.json()["leaders"][0]["pts"] == 2
    unnamed = (await client.get("/v1/leagues/nhl/seasons/unspecified/standings")).json()
    assert unnamed["teams"] == []  # no final of no named season
    team = nhl.home.team_id
    teams = await client.get("/v1/leagues/nhl/teams")
    assert teams.headers["Surrogate-Key"] == "teams-nhl"
    assert [(t["code"], t["name"]) for t in teams.json()["teams"]] == [
        (nhl.away.code, nhl.away.name),
        (nhl.home.code, nhl.home.name),
    ][:: 1 if nhl.away.code < nhl.home.code else -1]
    again = await client.get(
        "/v1/leagues/nhl/teams", headers={"If-None-Match": teams.headers["ETag"]}
    )
    assert again.status_code == 304
    mine = await client.get(f"/v1/leagues/nhl/teams/{team}/seasons/2025-26")
    assert mine.headers["Surrogate-Key"] == f"team-nhl-{team}"
    assert [game["game_id"] for game in mine.json()["games"]] == ["new1"]
    entries = await store.redis.xrange(store.keys.change_stream("new1"))
    keys = changes.parse([(store.keys.change_stream("new1"), entries)]).announcements[-1].keys
    assert keys == ["standings-nhl", "leaders-nhl", "standings-nhl-2025-26", "leaders-nhl-2025-26"]
    for bad, code in (
        ("/v1/leagues/nhl/seasons/2025!26/standings", "bad_season"),
        (f"/v1/leagues/nhl/teams/{team}/seasons/Season", "bad_season"),
        ("/v1/leagues/nhl/teams/-x/seasons/2025-26", "bad_team_id"),
    ):
        response = await client.get(bad)
        assert (response.status_code, response.json()["error"]["code"]) == (400, code), bad


def test_shooting_rates() -> None:
    # 10 points from 3/6 field goals (one three) and 3/4 free throws.
    stats = {"pts": 10, "fgm": 3, "fga": 6, "fg3m": 1, "ftm": 3, "fta": 4}
    derived = derive(stats)
    assert derived["ts_pct"] == pytest.approx(10 / (2 * (6 + 0.44 * 4)), abs=1e-4)
    assert derived["efg_pct"] == pytest.approx((3 + 0.5) / 6, abs=1e-4)
    assert derive({"pts": 0}) == {}


def test_box_score_totals_match_the_score(finals: list[Game]) -> None:
    for game in finals:
        for side in (game.home, game.away):
            assert game.box.teams[side.team_id].stats.get("pts", 0) == side.score, game.game_id


async def test_a_corrected_final_is_counted_once_as_corrected(
    store: SnapshotWriter, finals: list[Game]
) -> None:
    hockey = finals[3]  # TBL 5 - 3 NSH
    assert await store.record_final(hockey) is True
    assert await store.record_final(hockey.model_copy(update={"version": 2})) is False
    # Three Lightning goals taken back after review: now a Predators win, version 3.
    home = hockey.home.model_copy(update={"score": 2})
    corrected = hockey.model_copy(update={"home": home, "version": 3})
    assert await store.record_final(corrected) is True
    table = await _table(store, "nhl")
    assert table == {"NSH": (1, 1, 1, 0, 0, 2), "TBL": (2, 1, 0, 1, 0, 0)}
    row = {t["code"]: t for t in json.loads(await _body(store, "nhl"))["teams"]}
    assert (row["TBL"]["points_for"], row["TBL"]["points_against"]) == (2, 3)
    assert await store.record_final(corrected) is False  # delivered again: counted once
    assert await store.record_final(hockey) is False  # an older version never wins back
    assert await _table(store, "nhl") == table


async def _body(store: SnapshotWriter, league: str) -> bytes:
    """The standings document the origin serves."""
    return documents.standings_table(league, await store.standings(league), "unspecified").body


def _row(
    code: str, games: int, wins: int, ties: int = 0, points: int = 0, gf: int = 0, ga: int = 0
) -> dict[str, object]:
    return {
        "team_id": code.lower(),
        "code": code,
        "name": code,
        "games": games,
        "wins": wins,
        "losses": games - wins - ties,
        "ties": ties,
        "overtime_losses": 0,
        "points": points,
        "points_for": gf,
        "points_against": ga,
    }


def test_each_sport_ranks_by_its_own_rule() -> None:
    # Basketball: 30-20 (.600) is above 31-29 (.517), whatever the wins.
    nba = rank([_row("MORE", 60, 31, points=31), _row("BEST", 50, 30, points=30)], Sport.BASKETBALL)
    assert [(row["code"], row["pct"]) for row in nba] == [("BEST", 0.6), ("MORE", 0.517)]
    # Football: a tie counts half (9-7-1 is .559, above 9-8's .529).
    nfl = rank(
        [_row("NOTIE", 17, 9, points=9), _row("TIED", 17, 9, ties=1, points=9)],
        Sport.AMERICAN_FOOTBALL,
    )
    assert [row["code"] for row in nfl] == ["TIED", "NOTIE"]
    # Hockey: level on points, the team with games in hand (a better points share) first.
    nhl = rank([_row("AAA", 82, 40, points=90), _row("ZZZ", 80, 40, points=90)], Sport.ICE_HOCKEY)
    assert [row["code"] for row in nhl] == ["ZZZ", "AAA"]
    # Soccer: points, then goal difference, then goals scored.
    liga = rank(
        [
            _row("FEW", 38, 20, points=70, gf=60, ga=30),
            _row("MANY", 38, 20, points=70, gf=80, ga=50),
            _row("TOP", 38, 22, points=72, gf=50, ga=40),
        ],
        Sport.SOCCER,
    )
    assert [row["code"] for row in liga] == ["TOP", "MANY", "FEW"]
    assert [row["rank"] for row in liga] == [1, 2, 3]
