"""Providers' schedules and scoreboards, read from the real sample documents (pure).

Each test reads the provider's own fields from the raw JSON, apart from the adapter, and checks
that every date lists exactly the provider's games on that date, with their teams (full names),
start times and venues as the provider states them.
"""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from core.calendar import game_day
from core.errors import FeedFormatError
from core.keys import league_key
from core.models import GameEvent, GameStatus
from feeds import schedules
from feeds.validate import against, validate

#: (home full name, away full name, start in UTC or None, venue or None) by game id, by day.
Listing = dict[date, dict[str, tuple[str, str, datetime | None, str | None]]]


def _schedule(data_dir: Path, name: str) -> tuple[Any, schedules.Schedule]:
    path = data_dir / "schedules" / name
    return json.loads(path.read_bytes()), schedules.load(path)


def _listing(schedule: schedules.Schedule) -> Listing:
    """What the adapter made of a schedule, by the day its board shows each game on."""
    found: Listing = defaultdict(dict)
    for event in schedule.games:
        info = event.game
        assert info is not None
        assert info.listed
        day = game_day(league_key(info.league), info.day, info.start_time)
        assert day is not None, event.game_id
        start = info.start_time.astimezone(UTC) if info.start_time else None
        found[day][event.game_id] = (info.home.name, info.away.name, start, info.venue)
    return dict(found)


def _utc(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def test_the_nba_season_schedule_lists_every_game_on_its_eastern_day(data_dir: Path) -> None:
    raw, schedule = _schedule(data_dir, "nba-cdn-scheduleleaguev2_2023-24.json")
    expected: Listing = defaultdict(dict)
    for listed in raw["leagueSchedule"]["gameDates"]:
        on = datetime.strptime(listed["gameDate"], "%m/%d/%Y %H:%M:%S").date()
        for game in listed["games"]:
            home, away = game["homeTeam"], game["awayTeam"]
            names = [_nba_name(side) for side in (home, away)]
            # Midnight Eastern is the league's "time not set yet".
            unset = game["gameDateTimeEst"].endswith("T00:00:00Z")
            start = None if unset else _utc(game["gameDateTimeUTC"])
            expected[on][game["gameId"]] = (names[0], names[1], start, game["arenaName"] or None)
    assert _listing(schedule) == dict(expected)
    assert len(schedule.games) == 1280
    assert schedule.unrecognized == 0
    # The In-Season Tournament final: no teams and no time yet, but on its day.
    final = next(event for event in schedule.games if event.game_id == "0062300001")
    assert final.game is not None
    assert final.game.start_time is None
    assert (final.game.home.code, final.game.day) == ("TBD", date(2023, 12, 9))
    assert {event.game.season for event in schedule.games if event.game} == {"2023-24"}


def _nba_name(side: dict[str, Any]) -> str:
    if not side["teamId"]:
        return "To be determined"
    if side["teamCity"] == side["teamName"]:
        return str(side["teamName"])  # a visiting club named for its city (Flamengo)
    return f"{side['teamCity']} {side['teamName']}"


def test_a_late_nba_game_is_on_the_day_americans_played_it(data_dir: Path) -> None:
    raw, schedule = _schedule(data_dir, "nba-cdn-scoreboard_2026-04-12.json")
    games = raw["scoreboard"]["games"]
    late = [g for g in games if _utc(g["gameTimeUTC"]).date() > date(2026, 4, 12)]
    assert late, "the sample has games after midnight UTC"
    expected = {
        g["gameId"]: (
            f"{g['homeTeam']['teamCity']} {g['homeTeam']['teamName']}",
            f"{g['awayTeam']['teamCity']} {g['awayTeam']['teamName']}",
            _utc(g["gameTimeUTC"]),
            None,
        )
        for g in games
    }
    assert _listing(schedule) == {date(2026, 4, 12): expected}
    # All final: the score each states stands until a play arrives.
    for event, game in zip(schedule.games, games, strict=True):
        assert event.game is not None
        assert event.game.status is GameStatus.FINAL
        assert event.game.result is not None
        assert (event.game.result.home, event.game.result.away) == (
            game["homeTeam"]["score"],
            game["awayTeam"]["score"],
        )
        assert event.game.season == "2025-26"


def test_the_stats_scoreboard_joins_game_headers_and_line_scores(data_dir: Path) -> None:
    raw, schedule = _schedule(data_dir, "nba-stats-scoreboardv2_gleague-2020-02-25.json")
    sets = {one["name"]: one for one in raw["resultSets"]}
    header = sets["GameHeader"]["headers"]
    line = sets["LineScore"]["headers"]
    teams = {
        (row[line.index("GAME_ID")], row[line.index("TEAM_ID")]): row
        for row in sets["LineScore"]["rowSet"]
    }

    def name(game_id: str, team_id: int) -> str:
        row = teams[(game_id, team_id)]
        return f"{row[line.index('TEAM_CITY_NAME')]} {row[line.index('TEAM_NAME')]}"

    expected = {
        row[header.index("GAME_ID")]: (
            name(row[header.index("GAME_ID")], row[header.index("HOME_TEAM_ID")]),
            name(row[header.index("GAME_ID")], row[header.index("VISITOR_TEAM_ID")]),
            None,  # played: the start time is written only before tip-off
            row[header.index("ARENA_NAME")],
        )
        for row in sets["GameHeader"]["rowSet"]
    }
    assert _listing(schedule) == {date(2020, 2, 25): expected}
    assert {event.game.league for event in schedule.games if event.game} == {"G League"}


def test_the_nhl_club_schedule_names_teams_in_full(data_dir: Path) -> None:
    raw, schedule = _schedule(data_dir, "nhl-apiweb-club-schedule-week_TOR_2026-04-11.json")
    expected: Listing = defaultdict(dict)
    for game in raw["games"]:
        names = [
            f"{game[side]['placeName']['default']} {game[side]['commonName']['default']}"
            for side in ("homeTeam", "awayTeam")
        ]
        on = date.fromisoformat(game["gameDate"])
        start = _utc(game["startTimeUTC"])
        expected[on][str(game["id"])] = (names[0], names[1], start, game["venue"]["default"])
    assert _listing(schedule) == dict(expected)
    assert {event.game.season for event in schedule.games if event.game} == {"2025-26"}


@pytest.mark.parametrize(
    "name", ["espn-nfl-scoreboard_2025-week01.json", "espn-cfb-scoreboard_2025-09-26.json"]
)
def test_espn_scoreboards_list_games_on_their_eastern_day(data_dir: Path, name: str) -> None:
    raw, schedule = _schedule(data_dir, name)
    expected: Listing = defaultdict(dict)
    for event in raw["events"]:
        competition = event["competitions"][0]
        sides = {c["homeAway"]: c["team"]["displayName"] for c in competition["competitors"]}
        start = _utc(event["date"])
        on = start.astimezone(ZoneInfo("America/New_York")).date()
        detail = event["status"]["type"]["shortDetail"]
        if event["status"]["type"]["name"] == "STATUS_SCHEDULED":
            # ESPN's own status text for the game says the same local time.
            assert detail.startswith(f"{on.month}/{on.day} "), detail
        venue = competition["venue"]["fullName"]
        expected[on][event["id"]] = (sides["home"], sides["away"], start, venue)
    assert _listing(schedule) == dict(expected)
    if "nfl" in name:
        # Thursday's opener, Friday's game in Brazil, Sunday's thirteen, Monday night.
        assert sorted((day, len(games)) for day, games in expected.items()) == [
            (date(2025, 9, 4), 1),
            (date(2025, 9, 5), 1),
            (date(2025, 9, 7), 13),
            (date(2025, 9, 8), 1),
        ]


def test_statsbomb_matches_list_la_liga_days_and_stadiums(data_dir: Path) -> None:
    raw, schedule = _schedule(data_dir, "statsbomb-matches_11-4.json")
    madrid = ZoneInfo("Europe/Madrid")
    expected: Listing = defaultdict(dict)
    for match in raw:
        on = date.fromisoformat(match["match_date"])
        local = datetime.fromisoformat(f"{match['match_date']}T{match['kick_off'][:8]}")
        start = local.replace(tzinfo=madrid).astimezone(UTC)
        expected[on][str(match["match_id"])] = (
            match["home_team"]["home_team_name"],
            match["away_team"]["away_team_name"],
            start,
            match["stadium"]["name"].strip(),  # one name starts with a tab
        )
    assert _listing(schedule) == dict(expected)
    assert len(schedule.games) == 34


def test_a_stats_perform_fixture_is_listed_with_its_local_day(data_dir: Path) -> None:
    raw, schedule = _schedule(data_dir, "statsperform-ma1_71pif9hi2vwzp6q0xzilyxst0.json")
    info = raw["matchInfo"]
    names = {c["position"]: c["name"] for c in info["contestant"]}
    start = _utc(f"{info['date'].rstrip('Z')}T{info['time']}")
    assert _listing(schedule) == {
        date.fromisoformat(info["localDate"]): {
            info["id"]: (names["home"], names["away"], start, info["venue"]["longName"])
        }
    }


def test_every_sample_is_told_apart_from_play_by_play(data_dir: Path) -> None:
    from feeds import adapters

    for path in sorted((data_dir / "schedules").glob("*.json")):
        payload = json.loads(path.read_bytes())
        assert schedules.detect(payload), path.name
        with pytest.raises(FeedFormatError):
            adapters.detect(payload)
    for folder in ("basketball", "hockey", "soccer", "american_football"):
        for path in (data_dir / folder).glob("*.json"):
            with pytest.raises(FeedFormatError):
                schedules.detect(json.loads(path.read_bytes()))


def test_a_game_the_model_refuses_is_counted_and_the_rest_still_listed(data_dir: Path) -> None:
    raw = json.loads((data_dir / "schedules" / "statsbomb-matches_11-4.json").read_bytes())
    raw[0]["match_id"] = "../../etc"  # made safe, still listed
    raw[1]["home_team"] = None  # unreadable
    raw[2]["competition"]["competition_name"] = "x" * 500  # cut to the model's limit
    raw[3]["match_date"] = "2018-02-31"  # no such day: listed without one
    schedule = schedules.parse(raw)
    assert (len(schedule.games), schedule.unrecognized) == (33, 1)
    games = {event.game_id: event.game for event in schedule.games}
    assert "etc" in games
    assert str(raw[1]["match_id"]) not in games
    long_name, no_day = games[str(raw[2]["match_id"])], games[str(raw[3]["match_id"])]
    assert long_name is not None
    assert len(long_name.league) == 32
    assert no_day is not None
    assert (no_day.day, no_day.start_time) == (None, None)
    with pytest.raises(FeedFormatError, match="unknown schedule format"):
        schedules.parse({"games": "none"})
    with pytest.raises(FeedFormatError, match="unknown format"):
        schedules.parse(raw, "fixtures")
    with pytest.raises(FeedFormatError, match="not JSON"):
        schedules.load(Path(__file__))


def test_validate_checks_a_play_by_play_file_against_the_schedule_final(
    data_dir: Path,
) -> None:
    events = adapters_load(data_dir / "soccer" / "statsbomb_15986.json")
    listing = schedules.load(data_dir / "schedules" / "statsbomb-matches_11-4.json")
    assert events.final is None  # StatsBomb's events state no score
    checked = validate(against(events, listing))
    assert checked.final_agrees is True
    assert checked.ok
    # A schedule stating another final: the check fails, as the exit code says.
    wrong = [_with_result(event, 3, 2) for event in listing.games]
    assert validate(against(events, schedules.Schedule("test", wrong))).ok is False
    elsewhere = against(events, schedules.Schedule("test", []))
    assert elsewhere.final is None
    assert "does not list game 15986" in elsewhere.problems[-1]


def adapters_load(path: Path) -> Any:
    from feeds.adapters import load

    return load(path)


def _with_result(event: GameEvent, home: int, away: int) -> GameEvent:
    assert event.game is not None
    assert event.game.result is not None
    result = event.game.result.model_copy(update={"home": home, "away": away})
    return event.model_copy(update={"game": event.game.model_copy(update={"result": result})})
