"""Sport rules on small synthetic payloads in the real formats: shootouts, own goals, defensive
scores and a football feed whose flags disagree with its running score."""

from __future__ import annotations

from typing import Any

from core.models import GameStatus, Shootout
from feeds.adapters import parse
from feeds.validate import validate


def _nhl_play(n: int, kind: str, period_type: str = "REG", **details: Any) -> dict[str, Any]:
    number = {"REG": 3, "OT": 4, "SO": 5}[period_type]
    play: dict[str, Any] = {
        "eventId": n,
        "sortOrder": n,
        "typeDescKey": kind,
        "periodDescriptor": {"number": number, "periodType": period_type},
        "timeRemaining": "05:00",
    }
    if details:
        play["details"] = details
    return play


def _nhl(plays: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "id": 99,
        "gameState": "LIVE",
        "homeTeam": {"id": 1, "abbrev": "HOM"},
        "awayTeam": {"id": 2, "abbrev": "AWY"},
        "plays": plays,
    }


def test_hockey_shootout_win_counts_one_goal() -> None:
    plays = [
        _nhl_play(1, "goal", eventOwnerTeamId=1, homeScore=1, awayScore=0),
        _nhl_play(2, "goal", eventOwnerTeamId=2, homeScore=1, awayScore=1),
        _nhl_play(3, "period-end", "OT"),
        _nhl_play(4, "goal", "SO", eventOwnerTeamId=2),
        _nhl_play(5, "goal", "SO", eventOwnerTeamId=1),
        _nhl_play(6, "goal", "SO", eventOwnerTeamId=1),
        _nhl_play(7, "game-end", "SO"),
    ]
    result = validate(parse(_nhl(plays)))
    game = result.game
    assert result.mismatches == 0
    assert game.shootout == Shootout(home=2, away=1)
    assert (game.home.score, game.away.score) == (2, 1)  # 1-1, and one for the shootout
    # The line score: the goals by period, and the shootout win as its period's 1.
    assert game.period == len(game.home.periods) == len(game.away.periods)
    assert (game.home.periods[-1], game.away.periods[-1]) == (1, 0)
    assert (sum(game.home.periods), sum(game.away.periods)) == (2, 1)
    assert game.status is GameStatus.FINAL


def _statsbomb(events: list[tuple[str, int, int, dict[str, Any]]]) -> list[dict[str, Any]]:
    teams = {1: {"id": 1, "name": "Home FC"}, 2: {"id": 2, "name": "Away United"}}
    out = [
        {"index": 1, "period": 1, "type": {"name": "Starting XI"}, "team": teams[1]},
        {"index": 2, "period": 1, "type": {"name": "Starting XI"}, "team": teams[2]},
    ]
    for index, (name, period, team, extra) in enumerate(events, start=3):
        out.append(
            {"index": index, "period": period, "type": {"name": name}, "team": teams[team]} | extra
        )
    return out


GOAL = {"shot": {"outcome": {"name": "Goal"}}}
SAVED = {"shot": {"outcome": {"name": "Saved"}}}


def test_soccer_penalty_shootout_is_kept_apart_from_the_score() -> None:
    events = _statsbomb(
        [
            ("Shot", 1, 1, GOAL),
            ("Own Goal For", 2, 2, {}),
            ("Half End", 4, 1, {}),
            ("Shot", 5, 1, GOAL),
            ("Shot", 5, 2, SAVED),
            ("Shot", 5, 1, GOAL),
            ("Half End", 5, 1, {}),
        ]
    )
    game = validate(parse(events, source="match_7")).game
    assert game.game_id == "7"
    assert (game.home.score, game.away.score) == (1, 1)  # the own goal went to the away side
    assert game.shootout == Shootout(home=2, away=0)
    assert game.status is GameStatus.FINAL


def test_ma3_own_goal_is_credited_to_the_opponent() -> None:
    payload = {
        "matchInfo": {
            "id": "m1",
            "contestant": [
                {"id": "h", "name": "Home", "code": "HOM", "position": "home"},
                {"id": "a", "name": "Away", "code": "AWY", "position": "away"},
            ],
        },
        "liveData": {
            "matchDetails": {"matchStatus": "Played", "scores": {"total": {"home": 1, "away": 1}}},
            "event": [
                {"id": 1, "typeId": 16, "periodId": 1, "timeMin": 5, "contestantId": "h"},
                {"id": 2, "typeId": 16, "periodId": 2, "timeMin": 50, "contestantId": "a",
                 "qualifier": [{"qualifierId": 28}]},
                {"id": 3, "typeId": 17, "periodId": 2, "timeMin": 60, "contestantId": "a",
                 "playerId": "p9", "playerName": "Nine", "qualifier": [{"qualifierId": 33}]},
                {"id": 4, "typeId": 30, "periodId": 2, "timeMin": 95, "contestantId": "h",
                 "qualifier": [{"qualifierId": 209}]},
            ],
        },
    }  # fmt: skip
    result = validate(parse(payload))
    game = result.game
    assert (game.home.score, game.away.score) == (2, 0)
    assert result.mismatches == 1  # the feed's final says 1-1: reported, not hidden
    assert game.box.players["p9"].stats == {"red": 1}


def _espn_play(n: int, kind: str, text: str, home: int, away: int) -> dict[str, Any]:
    return {
        "id": str(n),
        "sequenceNumber": str(n),
        "type": {"text": kind},
        "text": text,
        "homeScore": home,
        "awayScore": away,
        "period": {"number": 1},
        "clock": {"displayValue": "10:00"},
    }


def test_football_scores_come_from_the_plays_and_the_running_score_checks_them() -> None:
    fumble = _espn_play(6, "Fumble Return Touchdown", "fumbled, returned for a TD (K KICK)", 12, 12)
    fumble["start"] = {"team": {"id": "1"}}  # the home offense fumbled: the away side scored
    plays = [
        _espn_play(1, "Rushing Touchdown", "run for a TD (Kicker KICK)", 7, 0),
        # The text says the kick was good; the running score moved only 6.
        _espn_play(2, "Passing Touchdown", "pass for a TD (Kicker KICK)", 7, 6),
        _espn_play(3, "Interception Return Touchdown", "intercepted, TD (Two-Point failed)", 7, 12),
        _espn_play(4, "Safety", "tackled in the end zone, SAFETY", 9, 12),
        _espn_play(5, "Rush", "a play whose running score moved though it scored nothing", 12, 12),
        fumble,  # the running score did not move at all
        _espn_play(7, "Passing Touchdown", "TD. J.Doe extra point is GOOD, Center-X.", 19, 12),
        _espn_play(8, "Rushing Touchdown", "run, TD (A run for Two-Point Conversion)", 27, 12),
        _espn_play(9, "End of Game", "", 27, 12),
    ]
    payload = {
        "header": {
            "id": "g7",
            "competitions": [
                {
                    "competitors": [
                        {"homeAway": "home", "team": {"id": "1", "abbreviation": "HOM"}},
                        {"homeAway": "away", "team": {"id": "2", "abbreviation": "AWY"}},
                    ]
                }
            ],
        },
        "drives": {"previous": [{"plays": plays}]},
    }
    feed = parse(payload)
    result = validate(feed)
    assert (result.game.home.score, result.game.away.score) == (24, 20)
    assert result.game.status is GameStatus.FINAL
    assert result.mismatches == 8  # from the second play on, the plays and the feed disagree
    assert not result.ok
    assert [problem.split(":")[0] for problem in feed.problems] == [
        "play 2",
        "play 5",
        "play 6",
    ]
    assert "worth 7 to AWY; the running score moved 0-6" in feed.problems[0]
    assert result.game.box.teams["2"].stats["touchdown"] == 3
    assert result.game.box.teams["1"].stats["safety"] == 1
