"""StatsBomb open-data events: a JSON array ordered by ``index``.

No running score and no home/away flag: the first ``Starting XI`` event is the home team. A goal
is a shot whose outcome is ``Goal``; ``Own Goal For`` credits its team. Period 5 is a penalty
shootout, kept apart from the score. Cards sit in ``foul_committed.card`` and
``bad_behaviour.card``. The match id is not in the events: it is taken from the file name
(``15986.json``) when there is one. Passes, carries and the like are counted as ignored.
"""

from __future__ import annotations

import re
from typing import Any

from core.errors import FeedFormatError
from core.models import Card, EventType, GameEvent, GameInfo, Player, Scoring, Sport, Team
from feeds.adapters.common import Unreadable, get, once_each, safe_id, scheduled, text
from feeds.adapters.feed import Feed

FORMAT = "statsbomb"

_SECOND_HALF, _SHOOTOUT_PERIOD = 2, 5
_CARDS = {"Yellow Card": Card.YELLOW, "Second Yellow": Card.SECOND_YELLOW, "Red Card": Card.RED}
_SIMPLE = {
    "Half Start": EventType.PERIOD_START,
    "Half End": EventType.PERIOD_END,
    "Substitution": EventType.SUBSTITUTION,
}


def matches(payload: Any) -> bool:
    return (
        isinstance(payload, list)
        and bool(payload)
        and isinstance(payload[0], dict)
        and "index" in payload[0]
        and isinstance(get(payload[0], "type", "name"), str)
    )


def parse(payload: Any, source: str | None = None) -> Feed:
    if not matches(payload):
        raise FeedFormatError("not a StatsBomb events array")
    records = []
    unreadable = Unreadable()
    for record in payload:
        if _readable(record):
            records.append(record)
        else:
            unreadable.add(_scoring_kind(record))
    records = once_each(records, lambda r: r.get("id", r["index"]))
    records.sort(key=lambda r: r["index"])
    lineups = [r for r in records if r["type"]["name"] == "Starting XI"]
    teams = [_team(r["team"]) for r in lineups[:2]]
    if len(teams) != 2 or teams[0].team_id == teams[1].team_id:
        raise FeedFormatError("StatsBomb events without two Starting XI teams")
    home, away = teams
    game_id = _game_id(source, records)
    events = [
        scheduled(game_id, GameInfo(sport=Sport.SOCCER, league="soccer", home=home, away=away))
    ]
    ignored = 0
    # The match ends with the last half to end, if the second half (or later) ended at all.
    last_half_end = max(
        (i for i, r in enumerate(records) if r["type"]["name"] == "Half End"), default=None
    )
    if last_half_end is not None and records[last_half_end]["period"] < _SECOND_HALF:
        last_half_end = None
    for position, record in enumerate(records):
        event = unreadable.build(_event, game_id, len(events), record)
        if event is None:
            ignored += 1
            continue
        events.append(event)
        if position == last_half_end:
            events.append(
                event.model_copy(
                    update={
                        "event_id": f"{game_id}:end",
                        "sequence": len(events),
                        "event_type": EventType.GAME_END,
                        "team_id": None,
                        "description": "Full time",
                    }
                )
            )
    return Feed(
        FORMAT,
        game_id,
        events,
        **unreadable.counted(),
        ignored=ignored,
    )


def _readable(record: object) -> bool:
    return (
        isinstance(record, dict)
        and isinstance(record.get("index"), int)
        and isinstance(get(record, "type", "name"), str)
        and isinstance(record.get("period"), int)
    )


def _team(team: Any) -> Team:
    name = text(get(team, "name"), 128) or "team"
    code = re.sub(r"[^A-Za-z]", "", name)[:3].upper() or "TM"
    return Team(team_id=safe_id(get(team, "id") or name), code=code, name=name)


def _game_id(source: str | None, records: list[dict[str, Any]]) -> str:
    digits = re.findall(r"\d+", source or "")
    if digits:
        return str(digits[-1])
    return safe_id(f"sb-{records[0].get('id', 'match')}")


def _event(game_id: str, sequence: int, record: dict[str, Any]) -> GameEvent | None:
    name = record["type"]["name"]
    shootout = record["period"] == _SHOOTOUT_PERIOD
    scoring = None
    card = None
    if name == "Shot":
        penalty = get(record, "shot", "type", "name") == "Penalty"
        scoring = Scoring(
            kind="penalty_goal" if penalty and not shootout else "goal", shootout=shootout
        )
        goal = get(record, "shot", "outcome", "name") == "Goal"
        event_type = EventType.SCORE if goal else EventType.MISS
    elif name == "Own Goal For":
        event_type, scoring = EventType.SCORE, Scoring(kind="own_goal")
    elif name in ("Foul Committed", "Bad Behaviour"):
        key = "foul_committed" if name == "Foul Committed" else "bad_behaviour"
        card = _CARDS.get(str(get(record, key, "card", "name")))
        if card is None and name == "Bad Behaviour":
            return None
        event_type = EventType.CARD if card else EventType.FOUL
    elif name in _SIMPLE:
        event_type = _SIMPLE[name]
    else:
        return None
    team_id = get(record, "team", "id")
    player_id = get(record, "player", "id")
    player = None
    if player_id is not None:
        player = Player(
            player_id=safe_id(player_id),
            name=text(get(record, "player", "name"), 128),
            team_id=safe_id(team_id) if team_id is not None else None,
        )
    minute, second = record.get("minute"), record.get("second")
    clock = minute * 60 + second if isinstance(minute, int) and isinstance(second, int) else None
    description = name if player is None else f"{name}: {player.name}"
    if card is not None:
        description += f" ({card.value.replace('_', ' ')} card)"
    return GameEvent(
        event_id=f"{game_id}:{safe_id(record.get('id', record['index']))}",
        game_id=game_id,
        sequence=sequence,
        event_type=event_type,
        period=record["period"],
        clock_seconds=clock,
        team_id=safe_id(team_id) if team_id is not None else None,
        player=player,
        scoring=scoring,
        card=card,
        description=description[:512],
    )


def _scoring_kind(record: object) -> str | None:
    name = get(record, "type", "name")
    if name == "Shot" and get(record, "shot", "outcome", "name") == "Goal":
        return "goal"
    return "own goal" if name == "Own Goal For" else None
