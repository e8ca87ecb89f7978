"""The NBA liveData-compatible view: read by the real ``nba_api`` through the edge, and held
against the real liveData file the game was recorded from."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from nba_api.live.nba.endpoints import boxscore, playbyplay, scoreboard
from nba_api.live.nba.library.http import NBALiveHTTP

from core.models import Game, GameEvent
from core.reducer import fold
from feeds.adapters import Feed, load
from feeds.replay import ReplaySettings, replay
from feeds.schedules.schedule import listed
from harness.fans import origin_requests, until_purged, until_served
from local.stack import LocalStack
from purger.settings import PurgerSettings
from tests.helpers import eventually

ROUTES = [
    "/liveData/scoreboard/todaysScoreboard_00.json",
    "/liveData/boxscore/boxscore_{game_id}.json",
    "/liveData/playbyplay/playbyplay_{game_id}.json",
]
MIDGAME = 300
PURGER_GROUP: str = PurgerSettings.model_fields["group"].default


@pytest.fixture
def nba_api_at_edge(stack: LocalStack) -> Iterator[None]:
    """``nba_api``'s live base URL is a class attribute: point it at the edge."""
    before = NBALiveHTTP.base_url
    NBALiveHTTP.base_url = f"{stack.edge_url}/liveData/{{endpoint}}"
    try:
        yield
    finally:
        NBALiveHTTP.base_url = before


def _read_with_nba_api(game_id: str) -> dict[str, Any]:
    board = scoreboard.ScoreBoard(timeout=10)
    box = boxscore.BoxScore(game_id, timeout=10)
    plays = playbyplay.PlayByPlay(game_id, timeout=10)
    [listed] = [g for g in board.games.get_dict() if g["gameId"] == game_id]
    home, away = box.home_team_stats.get_dict(), box.away_team_stats.get_dict()
    actions = plays.actions.get_dict()
    return {
        "scoreboard": (listed["homeTeam"]["score"], listed["awayTeam"]["score"]),
        "line": tuple(
            sum(period["score"] for period in listed[side]["periods"])
            for side in ("homeTeam", "awayTeam")
        ),
        "boxscore": (home["score"], away["score"]),
        "box_points": (home["statistics"]["points"], away["statistics"]["points"]),
        "player_points": tuple(
            sum(p["statistics"]["points"] for p in team.get_dict())
            for team in (box.home_team_player_stats, box.away_team_player_stats)
        ),
        "playbyplay": (int(actions[-1]["scoreHome"]), int(actions[-1]["scoreAway"])),
        "actions": len(actions),
        "status": box.game_details.get_dict()["gameStatus"],
    }


async def _stage(stack: LocalStack, feed: Feed, upto: int) -> Game:
    """Replay the game up to event ``upto`` and wait until the edge serves it and has had every
    purge: a batch's versions can be fetched before their own purge lands, which would count
    one more fetch after it."""
    # Listed on today's schedule (the recorded game is from 2020): today's scoreboard lists it.
    part = Feed(feed.format, feed.game_id, [_today(feed.events[0]), *feed.events[1:upto]])
    await asyncio.to_thread(replay, part, ReplaySettings(kafka_bootstrap=stack.bootstrap), 0, 0)
    expected = fold(part.events)
    assert expected is not None
    url = f"{stack.edge_url}/v1/games/{feed.game_id}"
    await until_served(url, lambda game: game["sequence"] == expected.sequence)
    await until_purged(stack.redis_url, stack.keys, PURGER_GROUP)
    return expected


def _today(scheduled: GameEvent, day: date | None = None, league: str = "NBA") -> GameEvent:
    """The game as a schedule lists it on ``day`` (today in New York, the NBA's day)."""
    assert scheduled.game is not None
    on = day or datetime.now(ZoneInfo("America/New_York")).date()
    info = scheduled.game.model_copy(update={"day": on, "league": league})
    return listed(scheduled.game_id, info)


async def _origin_fetches(stack: LocalStack) -> list[int]:
    return [await origin_requests(stack.metrics_url(), route) for route in ROUTES]


async def test_nba_api_reads_a_replayed_game_through_the_edge_mid_game_and_at_the_final(
    stack: LocalStack, nba_file: Path, nba_api_at_edge: None
) -> None:
    feed = load(nba_file)
    for upto, status in ((MIDGAME, 2), (len(feed.events), 3)):
        ours = await _stage(stack, feed, upto)
        score = (ours.home.score, ours.away.score)
        before = await _origin_fetches(stack)

        def current(score: tuple[int, int] = score) -> bool:
            # The edge may serve its stale copy once after a purge while it refreshes
            # (stale-while-revalidate): the next reader gets the new version.
            read = _read_with_nba_api(feed.game_id)
            return bool(read["scoreboard"] == read["boxscore"] == read["playbyplay"] == score)

        await eventually(lambda: asyncio.to_thread(current), 20)
        for _ in range(5):  # five more readers of this version: the edge answers them
            read = await asyncio.to_thread(_read_with_nba_api, feed.game_id)
        after = await _origin_fetches(stack)
        assert read["scoreboard"] == read["boxscore"] == read["playbyplay"] == score
        assert read["box_points"] == read["player_points"] == read["line"] == score
        assert read["actions"] == upto - 1  # every applied event but the schedule
        assert read["status"] == status
        # One origin fetch per resource for this version, however many readers.
        assert [a - b for a, b in zip(after, before, strict=True)] == [1, 1, 1]
    assert score == (125, 99)


async def test_nba_apis_scoreboard_lists_todays_nba_games_only(
    stack: LocalStack, nba_file: Path, nba_api_at_edge: None
) -> None:
    """Yesterday's NBA game and today's G League game are listed elsewhere, never here."""
    feed = load(nba_file)
    await _stage(stack, feed, len(feed.events))  # a no-op where the module replayed it already
    today = datetime.now(ZoneInfo("America/New_York")).date()
    others = [
        _today(feed.events[0].model_copy(update={"game_id": "0022000002"}), today - timedelta(1)),
        _today(feed.events[0].model_copy(update={"game_id": "2022000003"}), league="G League"),
    ]
    for other in others:
        one = Feed(feed.format, other.game_id, [other])
        await asyncio.to_thread(replay, one, ReplaySettings(kafka_bootstrap=stack.bootstrap), 0, 0)
        await until_served(f"{stack.edge_url}/v1/games/{other.game_id}", lambda game: True)
    await until_purged(stack.redis_url, stack.keys, PURGER_GROUP)
    board = await asyncio.to_thread(scoreboard.ScoreBoard, timeout=10)
    assert board.score_board_date == today.isoformat()
    assert [game["gameId"] for game in board.games.get_dict()] == [feed.game_id]
    async with httpx.AsyncClient(base_url=stack.edge_url, timeout=10) as http:
        yesterday = await http.get(f"/v1/scoreboard/{today - timedelta(1)}/nba")
        g_league = await http.get(f"/v1/scoreboard/{today}/g-league")
    assert [game["game_id"] for game in yesterday.json()["games"]] == ["0022000002"]
    assert [game["game_id"] for game in g_league.json()["games"]] == ["2022000003"]


async def test_the_views_are_cached_and_answer_conditional_requests(
    stack: LocalStack, nba_file: Path
) -> None:
    feed = load(nba_file)
    await _stage(stack, feed, len(feed.events))  # a no-op where the module replayed it already
    async with httpx.AsyncClient(base_url=stack.edge_url, timeout=10) as http:
        box = await http.get(f"/liveData/boxscore/boxscore_{feed.game_id}.json")
        assert box.status_code == 200
        origin = await http.get(
            f"{stack.origin_url}/liveData/boxscore/boxscore_{feed.game_id}.json"
        )
        assert origin.headers["Surrogate-Key"] == f"game-{feed.game_id}"  # purged with the game
        assert origin.headers["ETag"] == box.headers["ETag"]
        again = await http.get(
            f"/liveData/boxscore/boxscore_{feed.game_id}.json",
            headers={"If-None-Match": box.headers["ETag"]},
        )
        assert again.status_code == 304
        unknown = await http.get("/liveData/playbyplay/playbyplay_0029999999.json")
        assert unknown.status_code == 404
        assert unknown.json()["error"]["code"] == "unknown_game"


def test_the_play_by_play_view_matches_the_liveData_file_it_came_from(
    nba_file: Path,
) -> None:
    """Our view of the final, action by action, against the provider's own document."""
    from core.reducer import versions
    from core.store import GameView, play_line
    from origin import nba_live

    feed = load(nba_file)
    folded = versions(None, feed.events)
    final = folded.versions[-1]
    lines = [json.loads(play_line(play)) for play in folded.plays]
    view = GameView(final.version, json.loads(final.model_dump_json()), {}, lines)
    ours = {a["actionNumber"]: a for a in nba_live.playbyplay(view)["game"]["actions"]}
    theirs = json.loads(nba_file.read_bytes())["game"]["actions"]
    assert len(ours) == len(theirs)
    for action in theirs:
        mine = ours[action["actionNumber"]]
        assert (mine["scoreHome"], mine["scoreAway"]) == (action["scoreHome"], action["scoreAway"])
        assert (mine["period"], mine["clock"]) == (action["period"], action["clock"])
        assert mine.get("personId", 0) == action.get("personId", 0) or not action.get("personId")
        if action["actionType"] in ("2pt", "3pt", "freethrow"):
            assert (mine["actionType"], mine["shotResult"]) == (
                action["actionType"],
                action["shotResult"],
            )
            assert mine["teamTricode"] == action["teamTricode"]
