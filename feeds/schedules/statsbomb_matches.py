"""StatsBomb's matches of a competition and season (open-data ``matches/<comp>/<season>.json``).

A JSON array; ``match_date`` and ``kick_off`` are the stadium's local day and time with no
zone: the start is read in the league's time zone where :mod:`core.calendar` knows it, and
left unset otherwise (the day stands). A match with both scores is played.
"""

from __future__ import annotations

from typing import Any

from core.calendar import LEAGUE_ZONES
from core.keys import league_key
from core.models import GameEvent, GameStatus, Sport
from feeds.adapters.common import get, safe_id, text
from feeds.schedules.schedule import (
    Games,
    Schedule,
    day,
    info,
    initials,
    listed,
    result,
    team,
    wall_time,
)

FORMAT = "statsbomb-matches"


def matches(payload: Any) -> bool:
    return (
        isinstance(payload, list)
        and bool(payload)
        and all(isinstance(match, dict) and "match_id" in match for match in payload)
    )


def parse(payload: Any, source: str | None = None) -> Schedule:
    games = Games()
    for match in payload:
        games.add(_game, match)
    return games.schedule(FORMAT)


def _game(match: dict[str, Any]) -> GameEvent:
    league = text(get(match, "competition", "competition_name"), 32).strip() or "soccer"
    on = day(match.get("match_date"), "%Y-%m-%d")
    zone = LEAGUE_ZONES.get(league_key(league))
    kick_off = text(match.get("kick_off"), 16).split(".")[0]
    score = result(match.get("home_score"), match.get("away_score"))
    home, away = match["home_team"], match["away_team"]
    return listed(
        safe_id(match["match_id"]),
        info(
            Sport.SOCCER,
            league,
            _team(home["home_team_id"], home["home_team_name"]),
            _team(away["away_team_id"], away["away_team_name"]),
            start_time=wall_time(on, kick_off, zone, "%H:%M:%S") if zone else None,
            # One stadium's name starts with a tab in StatsBomb's file.
            venue=text(get(match, "stadium", "name"), 128).strip() or None,
            season=text(get(match, "season", "season_name"), 16) or None,
            day=on,
            status=GameStatus.FINAL if score is not None else GameStatus.SCHEDULED,
            result=score,
        ),
    )


def _team(team_id: object, name: object) -> Any:
    full = text(name, 128).strip()
    return team(team_id, initials(full), full)
