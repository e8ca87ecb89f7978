"""The NBA's liveData documents, as a view of our state.

Programs that already read ``cdn.nba.com/static/json/liveData/…`` (today's scoreboard, a game's
box score and play-by-play) can point their base URL at the edge. The documents are built from
the same versions, ETags and surrogate keys as our own API: a view, never a second source of
truth. What we do not know (arenas, officials, minutes, per-period scores, odds) is left out,
never invented. Pure: JSON values in, JSON values out.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from core.store import GameView

LEAGUE_ID = "00"
LEAGUE_NAME = "National Basketball Association"
REGULATION_PERIODS = 4

#: Our status → liveData ``gameStatus`` (1 scheduled, 2 in progress, 3 final).
_STATUS = {"SCHEDULED": 1, "LIVE": 2, "FINAL": 3}
#: Box score counters → liveData ``statistics`` names.
_COUNTERS = {
    "pts": "points",
    "fgm": "fieldGoalsMade",
    "fga": "fieldGoalsAttempted",
    "fg3m": "threePointersMade",
    "fg3a": "threePointersAttempted",
    "ftm": "freeThrowsMade",
    "fta": "freeThrowsAttempted",
    "reb": "reboundsTotal",
    "tov": "turnovers",
    "pf": "foulsPersonal",
}
_RATES = {
    "fieldGoalsPercentage": ("fieldGoalsMade", "fieldGoalsAttempted"),
    "threePointersPercentage": ("threePointersMade", "threePointersAttempted"),
    "freeThrowsPercentage": ("freeThrowsMade", "freeThrowsAttempted"),
}
#: Our event types → liveData ``actionType`` (shots take their kind: 2pt, 3pt, freethrow).
_ACTIONS = {
    "REBOUND": "rebound",
    "TURNOVER": "turnover",
    "FOUL": "foul",
    "SUBSTITUTION": "substitution",
    "TIMEOUT": "timeout",
    "PERIOD_START": "period",
    "PERIOD_END": "period",
    "GAME_END": "game",
}
_SUBTYPES = {"PERIOD_START": "start", "PERIOD_END": "end", "GAME_END": "end"}


def shown(game: dict[str, Any]) -> bool:
    """The view covers the NBA's own games (``todaysScoreboard_00``: league 00)."""
    return game.get("sport") == "basketball" and game.get("league") == "NBA"


def scoreboard(rows: list[dict[str, Any]], today: date) -> dict[str, Any]:
    """Today's games (``today``: the league's, in New York), as the NBA's scoreboard lists."""
    games = [_scoreboard_game(row) for row in sorted(rows, key=lambda r: r["game_id"])]
    return {
        "meta": _meta(),
        "scoreboard": {
            "gameDate": today.isoformat(),
            "leagueId": LEAGUE_ID,
            "leagueName": LEAGUE_NAME,
            "games": games,
        },
    }


def boxscore(view: GameView) -> dict[str, Any]:
    game = view.game
    players = view.box.get("players", {})
    teams = view.box.get("teams", {})
    document = _game_header(game)
    for side, key in (("home", "homeTeam"), ("away", "awayTeam")):
        team = game[side]
        line = teams.get(team["team_id"], {})
        document[key] = {
            **_team(team),
            "players": [
                {
                    "personId": _number(person),
                    "name": player.get("name", ""),
                    "statistics": _statistics(player.get("stats", {})),
                }
                for person, player in sorted(players.items())
                if player.get("team_id") == team["team_id"]
            ],
            "statistics": _statistics(line.get("stats", {})),
        }
    return {"meta": _meta(), "game": document}


def playbyplay(view: GameView) -> dict[str, Any]:
    game = view.game
    codes = {game[side]["team_id"]: game[side]["code"] for side in ("home", "away")}
    actions = [_action(play, codes) for play in view.plays]
    actions = [action for action in actions if action is not None]
    return {"meta": _meta(), "game": {"gameId": game["game_id"], "actions": actions}}


def _meta() -> dict[str, Any]:
    return {"version": 1, "code": 200, "request": None, "time": None}


def _scoreboard_game(row: dict[str, Any]) -> dict[str, Any]:
    header = _game_header(row)
    header["homeTeam"] = _team(row["home"])
    header["awayTeam"] = _team(row["away"])
    return header


def _game_header(game: dict[str, Any]) -> dict[str, Any]:
    status = str(game.get("status", "SCHEDULED"))
    period = int(game.get("period") or 0)
    clock = game.get("clock_seconds")
    return {
        "gameId": game["game_id"],
        "gameStatus": _STATUS.get(status, 1),
        "gameStatusText": _status_text(status, period, clock),
        "period": period,
        "gameClock": iso_clock(clock) if clock is not None else "",
        "gameTimeUTC": game.get("start_time"),
        "regulationPeriods": REGULATION_PERIODS,
    }


def _status_text(status: str, period: int, clock: float | None) -> str:
    if status == "FINAL":
        return "Final" if period <= REGULATION_PERIODS else f"Final/OT{period - REGULATION_PERIODS}"
    if status == "POSTPONED":
        return "PPD"
    if status == "CANCELLED":
        return "Cancelled"
    if status == "SCHEDULED" or not period:
        return "Scheduled"
    name = f"Q{period}" if period <= REGULATION_PERIODS else f"OT{period - REGULATION_PERIODS}"
    if clock is None:
        return name
    whole = int(clock)
    return f"{name} {whole // 60}:{whole % 60:02d}"


def iso_clock(seconds: float) -> str:
    """708.5 → ``PT11M48.50S``, the feed's time remaining."""
    minutes, rest = divmod(max(seconds, 0.0), 60)
    return f"PT{int(minutes):02d}M{rest:05.2f}S"


def _team(team: dict[str, Any]) -> dict[str, Any]:
    """The NBA writes city and nickname apart (``Boston`` + ``Celtics``)."""
    name, city = str(team.get("name") or ""), team.get("city")
    if city and name.startswith(f"{city} "):
        name = name.removeprefix(f"{city} ")
    return {
        "teamId": _number(team["team_id"]),
        "teamName": name,
        "teamCity": city or "",
        "teamTricode": team.get("code"),
        "periods": [
            {
                "period": number,
                "periodType": "REGULAR" if number <= REGULATION_PERIODS else "OVERTIME",
                "score": points,
            }
            for number, points in enumerate(team.get("periods") or [], start=1)
        ],
        "score": team.get("score", 0),
    }


def _statistics(stats: dict[str, int]) -> dict[str, Any]:
    out: dict[str, Any] = {name: stats.get(ours, 0) for ours, name in _COUNTERS.items()}
    out["twoPointersMade"] = out["fieldGoalsMade"] - out["threePointersMade"]
    out["twoPointersAttempted"] = out["fieldGoalsAttempted"] - out["threePointersAttempted"]
    for rate, (made, attempted) in _RATES.items():
        out[rate] = round(out[made] / out[attempted], 3) if out[attempted] else 0.0
    return out


def _action(play: dict[str, Any], codes: dict[str, str]) -> dict[str, Any] | None:
    event = play["event"]
    kind = event["event_type"]
    if kind == "GAME_SCHEDULED":
        return None
    scoring = event.get("scoring") or {}
    clock = event.get("clock_seconds")
    action: dict[str, Any] = {
        "actionNumber": _action_number(event["event_id"], play["order"]),
        "orderNumber": play["order"],
        "clock": iso_clock(clock) if clock is not None else "",
        "timeActual": event.get("occurred_at"),
        "period": event.get("period"),
        "actionType": scoring.get("kind") if kind in ("SCORE", "MISS") else _ACTIONS.get(kind),
        "description": event.get("description", ""),
        "scoreHome": str(play["home"]),
        "scoreAway": str(play["away"]),
    }
    if kind in ("SCORE", "MISS"):
        action["shotResult"] = "Made" if kind == "SCORE" else "Missed"
        action["isFieldGoal"] = int(scoring.get("kind") in ("2pt", "3pt"))
    if kind in _SUBTYPES:
        action["subType"] = _SUBTYPES[kind]
    team_id = event.get("team_id")
    if team_id in codes:
        action["teamId"] = _number(team_id)
        action["teamTricode"] = codes[team_id]
    player = event.get("player")
    if player:
        action["personId"] = _number(player["player_id"])
        action["playerNameI"] = player.get("name", "")
    return action


def _action_number(event_id: str, order: int) -> int:
    """The provider's own action number where the id carries one (``0022000001:7`` → 7)."""
    tail = event_id.rsplit(":", 1)[-1]
    return int(tail) if tail.isdigit() else order


def _number(value: str) -> int | str:
    """NBA ids are numbers; ours are strings of digits for those feeds."""
    return int(value) if value.isdigit() else value
