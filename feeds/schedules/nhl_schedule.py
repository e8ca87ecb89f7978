"""The NHL's schedules (api-web ``v1/club-schedule/…`` and ``v1/schedule/<date>``).

A club schedule lists ``games[]``; the league's schedule groups the same game objects by day
in ``gameWeek[].games[]``. ``gameDate`` is the local day, ``startTimeUTC`` the start; names
are localized objects (``{"default": …, "fr": …}``); ``gameScheduleState`` says a game was
postponed or cancelled.
"""

from __future__ import annotations

from typing import Any

from core.models import GameEvent, GameStatus, Sport, Team
from feeds.adapters.common import get, safe_id, text, to_time
from feeds.schedules.schedule import Games, Schedule, day, info, listed, result, team

FORMAT = "nhl-schedule"

_STATES = {
    "FUT": GameStatus.SCHEDULED,
    "PRE": GameStatus.SCHEDULED,
    "LIVE": GameStatus.LIVE,
    "CRIT": GameStatus.LIVE,
    "FINAL": GameStatus.FINAL,
    "OFF": GameStatus.FINAL,
}
_SCHEDULE_STATES = {"PPD": GameStatus.POSTPONED, "CNCL": GameStatus.CANCELLED}


def matches(payload: Any) -> bool:
    games = get(payload, "games")
    if isinstance(games, list):
        return all(isinstance(game, dict) and "startTimeUTC" in game for game in games)
    return isinstance(get(payload, "gameWeek"), list)


def parse(payload: Any, source: str | None = None) -> Schedule:
    found = list(payload.get("games") or [])
    for listed_day in payload.get("gameWeek") or []:
        found += get(listed_day, "games") or []
    games = Games()
    for game in found:
        games.add(_game, game)
    return games.schedule(FORMAT)


def _game(game: dict[str, Any]) -> GameEvent:
    game_id = safe_id(game["id"])
    status = _SCHEDULE_STATES.get(str(game.get("gameScheduleState"))) or _STATES.get(
        str(game.get("gameState")), GameStatus.SCHEDULED
    )
    home, away = game["homeTeam"], game["awayTeam"]
    season = str(game.get("season", ""))
    return listed(
        game_id,
        info(
            Sport.ICE_HOCKEY,
            "NHL",
            _team(home),
            _team(away),
            start_time=to_time(game.get("startTimeUTC")),
            venue=text(get(game, "venue", "default"), 128).strip() or None,
            season=f"{season[:4]}-{season[6:8]}" if len(season) == 8 else None,
            day=day(game.get("gameDate"), "%Y-%m-%d"),
            status=status,
            result=result(home.get("score"), away.get("score"))
            if status in (GameStatus.LIVE, GameStatus.FINAL)
            else None,
        ),
    )


def _team(side: dict[str, Any]) -> Team:
    place, common = get(side, "placeName", "default"), get(side, "commonName", "default")
    name = " ".join(part for part in (place, common) if isinstance(part, str))
    return team(side["id"], side.get("abbrev"), name, place)
