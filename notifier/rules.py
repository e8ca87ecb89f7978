"""What is worth telling a fan who follows a game, from the versions the publisher writes. Pure.

The rule, per sport (stated once, here and in the README):
- **The start**: the first version a game is live.
- **A score**: every change of the score in ice hockey, soccer and American football (goals and
  scores are few); in basketball only a change of the lead (a side takes the lead, or ties the
  game), since a basket every 20 seconds would be noise.
- **A correction of a score already told**: a version that corrects a record (the provider took a
  goal back, or gave it to the other side) and leaves a score other than the one last told (in
  basketball, a lead other than the one last told).
- **The final.**

Versions reach the notifier in order per game (the change streams keep it), each judged against
what was last told of the game, so a fan is never told an older state after a newer one.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from core.models import Game, GameStatus, Sport


class AlertKind(StrEnum):
    START = "start"
    SCORE = "score"
    CORRECTION = "correction"
    FINAL = "final"


@dataclass(frozen=True)
class Told:
    """What a game's followers were last told: its version and score."""

    version: int
    home: int
    away: int
    status: GameStatus


@dataclass(frozen=True)
class Alert:
    game_id: str
    version: int
    kind: AlertKind
    title: str
    body: str

    @property
    def collapse_key(self) -> str:
        """One per game: a newer alert replaces an older one still shown or pending (APNs
        ``apns-collapse-id``, FCM ``collapse_key``/tag, Web Push ``Topic``)."""
        return f"game-{self.game_id}"


#: Sports that score often: only a change of the lead is told.
LEAD_ONLY = {Sport.BASKETBALL}


def decide(told: Told | None, game: Game) -> Alert | None:
    """The alert a new version is worth, or None. ``told``: what was last told of the game
    (None: nothing yet); a version at or below it is never worth anything."""
    if told is not None and game.version <= told.version:
        return None
    kind = _kind(told, game)
    if kind is None:
        return None
    return Alert(game.game_id, game.version, kind, _title(game), _body(kind, game))


def told(game: Game) -> Told:
    """What telling ``game`` leaves as told."""
    return Told(game.version, game.home.score, game.away.score, game.status)


def _kind(told: Told | None, game: Game) -> AlertKind | None:
    before = told.status if told is not None else GameStatus.SCHEDULED
    score = (game.home.score, game.away.score)
    last = (told.home, told.away) if told is not None else (0, 0)
    if game.status is GameStatus.FINAL:
        if before is not GameStatus.FINAL:
            return AlertKind.FINAL
        # After the final only a correction of the told score is news.
        corrected = game.correction is not None and score != last
        return AlertKind.CORRECTION if corrected and _worth(game.sport, last, score) else None
    if game.correction is not None and score != last and _worth(game.sport, last, score):
        return AlertKind.CORRECTION
    if score != last and _worth(game.sport, last, score):
        return AlertKind.SCORE
    if game.status is GameStatus.LIVE and before is GameStatus.SCHEDULED:
        return AlertKind.START
    return None


def _worth(sport: Sport, last: tuple[int, int], now: tuple[int, int]) -> bool:
    if sport not in LEAD_ONLY:
        return True
    return _leader(last) != _leader(now)


def _leader(score: tuple[int, int]) -> int:
    """1 home ahead, -1 away ahead, 0 level."""
    return (score[0] > score[1]) - (score[0] < score[1])


def _title(game: Game) -> str:
    return f"{game.away.code} {game.away.score} – {game.home.score} {game.home.code}"


def _body(kind: AlertKind, game: Game) -> str:
    if kind is AlertKind.START:
        return f"{game.away.name} at {game.home.name} has started."
    if kind is AlertKind.FINAL:
        return f"Final: {game.away.name} {game.away.score}, {game.home.name} {game.home.score}."
    if kind is AlertKind.CORRECTION:
        return "Score corrected by the league." + (
            f" {game.correction.description}"
            if game.correction and game.correction.description
            else ""
        )
    leader = _leader((game.home.score, game.away.score))
    if game.sport in LEAD_ONLY:
        lead = {1: f"{game.home.name} lead", -1: f"{game.away.name} lead", 0: "All square"}[leader]
        return f"{lead}, period {game.period}."
    scorer = game.last_event.description if game.last_event is not None else ""
    return scorer or "Score."
