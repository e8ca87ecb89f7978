"""NBA liveData play-by-play (``game.actions[]``, one object per action).

The feed names no home team: it is the side whose ``scoreHome`` moves when that team scores.
Actions are ordered by ``orderNumber``; ``clock`` is time remaining as an ISO-8601 duration.
"""

from __future__ import annotations

import re
from typing import Any

from core.errors import FeedFormatError
from core.models import EventType, GameEvent, GameInfo, Player, Scoring, Sport, Team
from feeds.adapters.common import (
    Unreadable,
    free_throw_points,
    get,
    nba_league,
    once_each,
    scheduled,
    to_int,
    to_time,
)
from feeds.adapters.feed import Feed

FORMAT = "nba-livedata"

_CLOCK = re.compile(r"^PT(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?$")
_SHOTS = {"2pt", "3pt", "freethrow"}
_TYPES = {
    "rebound": EventType.REBOUND,
    "turnover": EventType.TURNOVER,
    "foul": EventType.FOUL,
    "substitution": EventType.SUBSTITUTION,
    "timeout": EventType.TIMEOUT,
}


def matches(payload: Any) -> bool:
    game = payload.get("game") if isinstance(payload, dict) else None
    return isinstance(game, dict) and isinstance(game.get("actions"), list)


def parse_clock(value: object) -> float | None:
    """``PT11M54.00S`` → 714.0 seconds remaining."""
    if not isinstance(value, str):
        return None
    found = _CLOCK.match(value)
    if found is None:
        return None
    minutes, seconds = found.groups()
    return int(minutes or 0) * 60 + float(seconds or 0)


def parse(payload: Any, source: str | None = None) -> Feed:
    if not matches(payload):
        raise FeedFormatError("not an NBA liveData payload: no game.actions list")
    game_id = str(payload["game"].get("gameId", ""))
    if not game_id:
        raise FeedFormatError("NBA liveData payload has no game.gameId")
    actions: list[dict[str, Any]] = []
    unreadable = Unreadable()
    for action in payload["game"]["actions"]:
        if _readable(action):
            actions.append(action)
        else:
            unreadable.add(_scoring_kind(action))
    actions = once_each(actions, lambda a: a["actionNumber"])
    actions.sort(key=lambda a: a["orderNumber"])
    home, away = _teams(actions)
    info = GameInfo(
        sport=Sport.BASKETBALL,
        league=nba_league(game_id),
        home=home,
        away=away,
        start_time=to_time(actions[0].get("timeActual")) if actions else None,
    )
    events = [scheduled(game_id, info)]
    for action in actions:
        event = unreadable.build(
            _event, game_id, len(events), action, scoring_kind=_scoring_kind(action)
        )
        if event is not None:
            events.append(event)
    return Feed(
        FORMAT,
        game_id,
        events,
        **unreadable.counted(),
    )


def _readable(action: object) -> bool:
    return (
        isinstance(action, dict)
        and isinstance(action.get("actionNumber"), int)
        and isinstance(action.get("orderNumber"), int)
        and isinstance(action.get("actionType"), str)
        and isinstance(action.get("period"), int)
    )


def _teams(actions: list[dict[str, Any]]) -> tuple[Team, Team]:
    """Find home and away: the team whose scoring moves ``scoreHome`` is at home."""
    seen: dict[int, str] = {}
    home_id: int | None = None
    previous_home = "0"
    for action in actions:
        team_id, code = action.get("teamId"), action.get("teamTricode")
        if isinstance(team_id, int) and isinstance(code, str):
            seen.setdefault(team_id, code)
        score_home = action.get("scoreHome")
        moved = isinstance(score_home, str) and score_home != previous_home
        if home_id is None and moved and isinstance(team_id, int):
            home_id = team_id
        if isinstance(score_home, str):
            previous_home = score_home
    if len(seen) != 2 or home_id is None:
        raise FeedFormatError(f"cannot tell home from away: teams seen {sorted(seen.values())}")
    (away_id,) = (t for t in seen if t != home_id)
    return _team(home_id, seen[home_id]), _team(away_id, seen[away_id])


def _team(team_id: int, code: str) -> Team:
    return Team(team_id=str(team_id), code=code, name=code)


def _event(game_id: str, sequence: int, action: dict[str, Any]) -> GameEvent:
    kind = action["actionType"]
    sub = str(action.get("subType") or "")
    scoring = None
    if kind in _SHOTS:
        made = action.get("shotResult") == "Made"
        event_type = EventType.SCORE if made else EventType.MISS
        points = free_throw_points(sub, str(action.get("description") or ""))
        scoring = Scoring(kind=kind, points=points if kind == "freethrow" else None)
    elif kind == "period":
        event_type = EventType.PERIOD_START if sub == "start" else EventType.PERIOD_END
    elif kind == "game" and sub == "end":
        event_type = EventType.GAME_END
    else:
        event_type = _TYPES.get(kind, EventType.OTHER)
    team_id = action.get("teamId")
    person_id = action.get("personId")
    player = None
    if isinstance(person_id, int) and person_id > 0:
        player = Player(
            player_id=str(person_id),
            name=str(action.get("playerNameI") or action.get("playerName") or ""),
            team_id=str(team_id) if isinstance(team_id, int) else None,
        )
    return GameEvent(
        event_id=f"{game_id}:{action['actionNumber']}",
        game_id=game_id,
        sequence=sequence,
        event_type=event_type,
        period=action["period"],
        clock_seconds=parse_clock(action.get("clock")),
        team_id=str(team_id) if isinstance(team_id, int) else None,
        player=player,
        scoring=scoring,
        home_score=to_int(action.get("scoreHome")),
        away_score=to_int(action.get("scoreAway")),
        description=str(action.get("description") or "")[:512],
        occurred_at=to_time(action.get("timeActual")),
    )


def _scoring_kind(action: object) -> str | None:
    kind = get(action, "actionType")
    if kind in _SHOTS and get(action, "shotResult") == "Made":
        return str(kind)
    return None
