"""NHL api-web ``gamecenter/<id>/play-by-play``.

``plays[]`` ordered by ``sortOrder``; ``periodDescriptor.periodType`` is REG, OT or SO. Goals
carry the running score in ``details``. A shootout goal does not count as a goal: the reducer
gives the shootout winner one goal at the end of the game.
"""

from __future__ import annotations

from typing import Any

from core.errors import FeedFormatError
from core.models import EventType, GameEvent, GameInfo, Player, Scoring, Sport, Team
from feeds.adapters.common import (
    Unreadable,
    get,
    mmss,
    once_each,
    safe_id,
    scheduled,
    stated,
    text,
    to_int,
    to_time,
)
from feeds.adapters.feed import Feed

FORMAT = "nhl-apiweb"

_TYPES = {
    "period-start": EventType.PERIOD_START,
    "period-end": EventType.PERIOD_END,
    "game-end": EventType.GAME_END,
    "penalty": EventType.PENALTY,
    "shot-on-goal": EventType.MISS,
    "missed-shot": EventType.MISS,
}
_FINAL_STATES = {"OFF", "FINAL"}


def matches(payload: Any) -> bool:
    return (
        isinstance(payload, dict)
        and isinstance(payload.get("plays"), list)
        and isinstance(payload.get("homeTeam"), dict)
        and isinstance(payload.get("awayTeam"), dict)
    )


def parse(payload: Any, source: str | None = None) -> Feed:
    if not matches(payload):
        raise FeedFormatError("not an NHL play-by-play payload: no plays, homeTeam, awayTeam")
    game_id = safe_id(payload.get("id", ""))
    home, away = _team(payload["homeTeam"]), _team(payload["awayTeam"])
    names = _roster(payload.get("rosterSpots"))
    plays = []
    unreadable = Unreadable()
    for play in payload["plays"]:
        if _readable(play):
            plays.append(play)
        else:
            unreadable.add("goal" if get(play, "typeDescKey") == "goal" else None)
    plays = once_each(plays, lambda p: p["eventId"])
    plays.sort(key=lambda p: p["sortOrder"])
    info = GameInfo(
        sport=Sport.ICE_HOCKEY,
        league="NHL",
        home=home,
        away=away,
        start_time=to_time(payload.get("startTimeUTC")),
        venue=text(get(payload, "venue", "default"), 128) or None,
    )
    final = None
    if payload.get("gameState") in _FINAL_STATES:
        final = (to_int(payload["homeTeam"].get("score")), to_int(payload["awayTeam"].get("score")))
    events = [scheduled(game_id, info)]
    for play in plays:
        event = unreadable.build(_event, game_id, len(events), play, names, final)
        if event is not None:
            events.append(event)
    return Feed(
        FORMAT,
        game_id,
        events,
        **unreadable.counted(),
        final=stated(final),
    )


def _team(team: dict[str, Any]) -> Team:
    code = text(team.get("abbrev"), 16) or safe_id(team.get("id"))
    place, common = get(team, "placeName", "default"), get(team, "commonName", "default")
    name = " ".join(p for p in (place, common) if isinstance(p, str)) or code
    return Team(team_id=safe_id(team.get("id", code)), code=code, name=name)


def _roster(spots: object) -> dict[int, str]:
    names: dict[int, str] = {}
    for spot in spots if isinstance(spots, list) else []:
        player_id = spot.get("playerId") if isinstance(spot, dict) else None
        if isinstance(player_id, int):
            first, last = get(spot, "firstName", "default"), get(spot, "lastName", "default")
            names[player_id] = " ".join(p for p in (first, last) if isinstance(p, str))
    return names


def _readable(play: object) -> bool:
    return (
        isinstance(play, dict)
        and isinstance(play.get("sortOrder"), int)
        and isinstance(play.get("typeDescKey"), str)
        and isinstance(get(play, "periodDescriptor", "number"), int)
        and play.get("eventId") is not None
    )


def _event(
    game_id: str,
    sequence: int,
    play: dict[str, Any],
    names: dict[int, str],
    final: tuple[int | None, int | None] | None,
) -> GameEvent:
    kind = play["typeDescKey"]
    details: dict[str, Any] = play["details"] if isinstance(play.get("details"), dict) else {}
    shootout = get(play, "periodDescriptor", "periodType") == "SO"
    event_type = EventType.SCORE if kind == "goal" else _TYPES.get(kind, EventType.OTHER)
    team_id = details.get("eventOwnerTeamId")
    player_key = "scoringPlayerId" if kind == "goal" else "committedByPlayerId"
    player_id = details.get(player_key) or details.get("shootingPlayerId")
    player = None
    if isinstance(player_id, int):
        player = Player(
            player_id=str(player_id),
            name=names.get(player_id, ""),
            team_id=str(team_id) if team_id is not None else None,
        )
    scoring = Scoring(kind="goal", shootout=shootout) if kind == "goal" else None
    home_score, away_score = to_int(details.get("homeScore")), to_int(details.get("awayScore"))
    if event_type is EventType.GAME_END and final is not None:
        home_score, away_score = final
    if shootout:
        home_score = away_score = None  # shootout tallies are not the score
    description = kind.replace("-", " ")
    if player is not None and player.name:
        description += f": {player.name}"
    return GameEvent(
        event_id=f"{game_id}:{play['eventId']}",
        game_id=game_id,
        sequence=sequence,
        event_type=event_type,
        period=play["periodDescriptor"]["number"],
        clock_seconds=mmss(play.get("timeRemaining")),
        team_id=safe_id(team_id) if team_id is not None else None,
        player=player,
        scoring=scoring,
        home_score=home_score,
        away_score=away_score,
        description=description[:512],
    )
