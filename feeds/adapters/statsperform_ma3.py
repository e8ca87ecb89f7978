"""Stats Perform (Opta) MA3 match events.

``matchInfo.contestant[]`` names home and away; ``liveData.event[]`` holds the events, whose
``eventId`` is counted per team (``id`` is unique). typeId 16 is a goal (qualifier 28: an own
goal, credited to the other side), 17 a card (qualifiers 31 yellow, 32 second yellow, 33 red),
18/19 a substitution, 32 a period start, 30 a period end (qualifier 209: the end of the game).
There is no running score per event; the final in ``matchDetails.scores`` is checked at the end.
"""

from __future__ import annotations

from typing import Any

from core.errors import FeedFormatError
from core.models import Card, EventType, GameEvent, GameInfo, Player, Scoring, Sport, Team
from feeds.adapters.common import (
    Unreadable,
    get,
    once_each,
    safe_id,
    scheduled,
    stated,
    text,
    to_int,
    to_time,
)
from feeds.adapters.feed import Feed

FORMAT = "statsperform-ma3"

_GOAL, _CARD, _OFF, _ON, _END, _START = 16, 17, 18, 19, 30, 32
_OWN_GOAL, _GAME_END = 28, 209
_CARDS = {31: Card.YELLOW, 32: Card.SECOND_YELLOW, 33: Card.RED}
_PRE_MATCH, _POST_MATCH, _SHOOTOUT = 16, 14, 5


def matches(payload: Any) -> bool:
    return isinstance(get(payload, "matchInfo", "contestant"), list) and isinstance(
        get(payload, "liveData", "event"), list
    )


def parse(payload: Any, source: str | None = None) -> Feed:
    if not matches(payload):
        raise FeedFormatError("not an MA3 payload: no matchInfo.contestant and liveData.event")
    info = payload["matchInfo"]
    sides = {c.get("position"): c for c in info["contestant"] if isinstance(c, dict)}
    if "home" not in sides or "away" not in sides:
        raise FeedFormatError("MA3 payload without a home and an away contestant")
    home, away = _team(sides["home"]), _team(sides["away"])
    game_id = safe_id(info.get("id", "match"))
    game = GameInfo(
        sport=Sport.SOCCER,
        league=text(get(info, "competition", "name"), 32) or "soccer",
        home=home,
        away=away,
        start_time=to_time(f"{str(info.get('date', '')).rstrip('Z')}T{info.get('time', '')}")
        if info.get("time")
        else None,
        venue=text(get(info, "venue", "shortName") or get(info, "venue", "longName"), 128) or None,
    )
    final = None
    total = get(payload, "liveData", "matchDetails", "scores", "total")
    if get(payload, "liveData", "matchDetails", "matchStatus") == "Played" and total:
        final = (to_int(total.get("home")), to_int(total.get("away")))
    records = []
    unreadable = Unreadable()
    for position, record in enumerate(payload["liveData"]["event"]):
        if _readable(record):
            records.append((position, record))
        else:
            unreadable.add("goal" if get(record, "typeId") == _GOAL else None)
    records = once_each(records, lambda positioned: positioned[1]["id"])
    records.sort(key=_match_order)
    events = [scheduled(game_id, game)]
    ignored = 0
    for _, record in records:
        event = unreadable.build(_event, game_id, len(events), record, home, away, final)
        if event is None:
            ignored += 1
        else:
            events.append(event)
    return Feed(
        FORMAT,
        game_id,
        events,
        **unreadable.counted(),
        ignored=ignored,
        final=stated(final),
    )


def _team(contestant: dict[str, Any]) -> Team:
    name = text(contestant.get("name"), 128) or "team"
    code = text(contestant.get("code"), 16) or name[:3].upper()
    return Team(team_id=safe_id(contestant.get("id", code)), code=code, name=name)


def _readable(record: object) -> bool:
    return (
        isinstance(record, dict)
        and isinstance(record.get("typeId"), int)
        and isinstance(record.get("periodId"), int)
        and record.get("id") is not None
    )


def _match_order(item: tuple[int, dict[str, Any]]) -> tuple[int, int, int, int]:
    position, record = item
    period = record["periodId"]
    rank = -1 if period == _PRE_MATCH else 99 if period == _POST_MATCH else period
    minute, second = to_int(record.get("timeMin")) or 0, to_int(record.get("timeSec")) or 0
    return rank, minute, second, position


def _qualifiers(record: dict[str, Any]) -> set[int]:
    found = set()
    for qualifier in record.get("qualifier") or []:
        number = get(qualifier, "qualifierId")
        if isinstance(number, int):
            found.add(number)
    return found


def _event(
    game_id: str,
    sequence: int,
    record: dict[str, Any],
    home: Team,
    away: Team,
    final: tuple[int | None, int | None] | None,
) -> GameEvent | None:
    kind, period = record["typeId"], record["periodId"]
    qualifiers = _qualifiers(record)
    team_id = safe_id(record["contestantId"]) if record.get("contestantId") else None
    scoring, card = None, None
    home_score = away_score = None
    if kind == _GOAL:
        own = _OWN_GOAL in qualifiers
        scoring = Scoring(kind="own_goal" if own else "goal", shootout=period == _SHOOTOUT)
        event_type = EventType.SCORE
        credited = team_id
        if own:
            credited = away.team_id if team_id == home.team_id else home.team_id
    elif kind == _CARD:
        card = next((_CARDS[q] for q in sorted(qualifiers) if q in _CARDS), Card.YELLOW)
        event_type = EventType.CARD
    elif kind in (_OFF, _ON):
        event_type = EventType.SUBSTITUTION
    elif kind == _START and period != _PRE_MATCH:
        event_type = EventType.PERIOD_START
    elif kind == _END and _GAME_END in qualifiers:
        event_type = EventType.GAME_END
        if final is not None:
            home_score, away_score = final
    elif kind == _END and period != _POST_MATCH:
        event_type = EventType.PERIOD_END
    else:
        return None
    player = None
    if record.get("playerId"):
        player = Player(
            player_id=safe_id(record["playerId"]),
            name=text(record.get("playerName"), 128),
            team_id=team_id,
        )
    minute, second = to_int(record.get("timeMin")), to_int(record.get("timeSec"))
    description = event_type.value.replace("_", " ").lower()
    if player is not None:
        description += f": {player.name}"
    return GameEvent(
        event_id=f"{game_id}:{safe_id(record['id'])}",
        game_id=game_id,
        sequence=sequence,
        event_type=event_type,
        period=period if period <= _SHOOTOUT else None,
        clock_seconds=minute * 60 + second if minute is not None and second is not None else None,
        team_id=credited if kind == _GOAL else team_id,
        player=player,
        scoring=scoring,
        card=card,
        home_score=home_score,
        away_score=away_score,
        description=description[:512],
        occurred_at=to_time(record.get("timeStamp")),
    )
