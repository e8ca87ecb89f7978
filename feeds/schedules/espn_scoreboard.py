"""ESPN's scoreboards (``site.api.espn.com/apis/site/v2/sports/<sport>/<league>/scoreboard``).

``events[]`` each with ``date`` (UTC, minutes), ``status.type`` and one competition: venue,
competitors (home and away, score as a string). ESPN states no calendar day: the day is the
start's date in the league's time zone (see :mod:`core.calendar`), as ESPN's own ``dates=``
query counts it.
"""

from __future__ import annotations

from typing import Any

from core.models import GameEvent, GameStatus, Sport, Team
from feeds.adapters.common import get, safe_id, text, to_int, to_time
from feeds.schedules.schedule import Games, Schedule, info, listed, result, team

FORMAT = "espn-scoreboard"

#: ESPN's sport numbers, in league uids (``s:20~l:28`` is football, the NFL).
_SPORTS = {
    "20": Sport.AMERICAN_FOOTBALL,
    "40": Sport.BASKETBALL,
    "70": Sport.ICE_HOCKEY,
    "600": Sport.SOCCER,
}
_STATUSES = {
    "STATUS_SCHEDULED": GameStatus.SCHEDULED,
    "STATUS_POSTPONED": GameStatus.POSTPONED,
    "STATUS_CANCELED": GameStatus.CANCELLED,
    "STATUS_CANCELLED": GameStatus.CANCELLED,
    "STATUS_FINAL": GameStatus.FINAL,
    "STATUS_FINAL_OT": GameStatus.FINAL,
}
_STATES = {"pre": GameStatus.SCHEDULED, "in": GameStatus.LIVE, "post": GameStatus.FINAL}


def matches(payload: Any) -> bool:
    return isinstance(get(payload, "events"), list) and isinstance(get(payload, "leagues"), list)


def parse(payload: Any, source: str | None = None) -> Schedule:
    league = payload["leagues"][0] if payload["leagues"] else {}
    uid = text(get(league, "uid"), 64)
    sport_number = uid.split("~")[0].removeprefix("s:")
    sport = _SPORTS.get(sport_number)
    problems = [] if sport else [f"ESPN sport {uid or '?'} not known: its games are left out"]
    name = text(get(league, "abbreviation"), 32) or text(get(league, "name"), 32) or "ESPN"
    season = get(league, "season", "year")
    games = Games()
    if sport is not None:
        for event in payload["events"]:
            games.add(_game, event, sport, name, season)
    return games.schedule(FORMAT, problems)


def _game(event: dict[str, Any], sport: Sport, league: str, season: object) -> GameEvent:
    competition = event["competitions"][0]
    sides = {competitor["homeAway"]: competitor for competitor in competition["competitors"]}
    kind = get(event, "status", "type")
    status = _STATUSES.get(str(get(kind, "name"))) or _STATES.get(
        str(get(kind, "state")), GameStatus.SCHEDULED
    )
    year = get(event, "season", "year") or season
    return listed(
        safe_id(event["id"]),
        info(
            sport,
            league,
            _team(sides["home"]),
            _team(sides["away"]),
            start_time=to_time(event.get("date")),
            venue=text(get(competition, "venue", "fullName"), 128).strip() or None,
            season=str(year) if year else None,
            status=status,
            result=result(
                sides["home"].get("score"),
                sides["away"].get("score"),
                _line(sides["home"]),
                _line(sides["away"]),
            )
            if status in (GameStatus.LIVE, GameStatus.FINAL)
            else None,
        ),
    )


def _team(competitor: dict[str, Any]) -> Team:
    side = competitor["team"]
    return team(side["id"], side.get("abbreviation"), side.get("displayName"), side.get("location"))


def _line(competitor: dict[str, Any]) -> list[object]:
    """ESPN's line score: ``linescores[].value`` (a float), by period."""
    lines = competitor.get("linescores") or []
    ordered = sorted(lines, key=lambda line: to_int(line.get("period")) or 0)
    return [to_int(int(v)) if isinstance(v := line.get("value"), float) else v for line in ordered]
