"""Small canonical events for tests that don't need a whole recorded game."""

from __future__ import annotations

import random

from core.keys import (
    BOARDS_KEY,
    board_part,
    change_surrogate_keys,
    team_surrogate_key,
    teams_surrogate_key,
)
from core.models import (
    EventType,
    Game,
    GameEvent,
    GameInfo,
    GameStatus,
    Scoring,
    Sport,
    Team,
    TeamScore,
)

HOME = Team(team_id="h", code="HOM", name="Home")
AWAY = Team(team_id="a", code="AWY", name="Away")


def scheduled(game_id: str = "g1") -> GameEvent:
    return GameEvent(
        event_id=f"{game_id}:scheduled",
        game_id=game_id,
        sequence=0,
        event_type=EventType.GAME_SCHEDULED,
        game=GameInfo(sport=Sport.BASKETBALL, league="TEST", home=HOME, away=AWAY),
    )


def event(
    sequence: int,
    event_type: EventType = EventType.OTHER,
    game_id: str = "g1",
    team_id: str | None = None,
    kind: str | None = None,
    period: int = 1,
) -> GameEvent:
    return GameEvent(
        event_id=f"{game_id}:{sequence}",
        game_id=game_id,
        sequence=sequence,
        event_type=event_type,
        team_id=team_id,
        scoring=Scoring(kind=kind) if kind else None,
        period=period,
        clock_seconds=600.0 - sequence,
        description=f"event {sequence}",
    )


def basket(sequence: int, team_id: str, kind: str = "2pt", game_id: str = "g1") -> GameEvent:
    return event(sequence, EventType.SCORE, game_id, team_id, kind)


def short_game(game_id: str = "g1") -> list[GameEvent]:
    """Home 5, away 3, final."""
    return [
        scheduled(game_id),
        event(1, EventType.PERIOD_START, game_id),
        basket(2, "h", "3pt", game_id),
        basket(3, "a", "2pt", game_id),
        basket(4, "h", "2pt", game_id),
        basket(5, "a", "freethrow", game_id),
        event(6, EventType.MISS, game_id, "h"),
        event(7, EventType.GAME_END, game_id),
    ]


def noisy_delivery(events: list[GameEvent], rng: random.Random, window: int) -> list[GameEvent]:
    """Shuffled within windows of ``window`` events, with 10% of them sent twice."""
    out: list[GameEvent] = []
    for start in range(0, len(events), window):
        chunk = events[start : start + window]
        out += rng.sample(chunk, len(chunk))
    for event in rng.sample(events, len(events) // 10):
        at = min(len(out), out.index(event) + rng.randrange(window))
        out.insert(at, event)
    return out


def changed_keys(game_id: str) -> list[str]:
    """The surrogate keys new versions of a :func:`numbered_game` purge (the first adds its
    board part, and with it the key of the views composed of parts): the game, its board,
    its teams' seasons (and, first, the league's list of teams)."""
    teams = [
        team_surrogate_key("TEST", "h"),
        team_surrogate_key("TEST", "a"),
        teams_surrogate_key("TEST"),
    ]
    return [*change_surrogate_keys(game_id, board_part("TEST", None)), *teams, BOARDS_KEY]


def numbered_game(game_id: str, version: int) -> Game:
    """A live basketball game at ``version``, home scoring ``version`` points: for tests that
    write versions straight to the store."""
    return Game(
        game_id=game_id,
        sport=Sport.BASKETBALL,
        league="TEST",
        status=GameStatus.LIVE,
        home=TeamScore(team_id="h", code="HOM", name="Home", score=version),
        away=TeamScore(team_id="a", code="AWY", name="Away"),
        version=version,
    )
