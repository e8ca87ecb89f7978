"""What a final result adds to its league's standings and leaderboard. Pure.

The store applies these increments atomically and once per game (see
:meth:`core.store.SnapshotWriter.record_final`).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from core.errors import EventError
from core.models import Game, GameStatus, Sport

#: Periods in regulation; a game that ended after them went to overtime.
REGULATION = {Sport.ICE_HOCKEY: 3, Sport.BASKETBALL: 4, Sport.AMERICAN_FOOTBALL: 4, Sport.SOCCER: 2}


class TeamResult(BaseModel):
    model_config = ConfigDict(frozen=True)

    team_id: str
    code: str
    name: str
    wins: int = 0
    losses: int = 0
    ties: int = 0
    overtime_losses: int = 0
    points: int = 0
    points_for: int = 0
    points_against: int = 0


class PlayerResult(BaseModel):
    model_config = ConfigDict(frozen=True)

    player_id: str
    name: str
    team_id: str | None
    pts: int


def team_results(game: Game) -> list[TeamResult]:
    """One row per team, for a FINAL game."""
    if game.status is not GameStatus.FINAL:
        raise EventError(f"game {game.game_id} is not final")
    overtime = game.period > REGULATION[game.sport] or game.shootout is not None
    rows = []
    for mine, theirs in ((game.home, game.away), (game.away, game.home)):
        won, tied = mine.score > theirs.score, mine.score == theirs.score
        lost_in_overtime = not won and not tied and overtime and game.sport is Sport.ICE_HOCKEY
        rows.append(
            TeamResult(
                team_id=mine.team_id,
                code=mine.code,
                name=mine.name,
                wins=int(won),
                losses=int(not won and not tied and not lost_in_overtime),
                ties=int(tied),
                overtime_losses=int(lost_in_overtime),
                points=_points(game.sport, won, tied, lost_in_overtime),
                points_for=mine.score,
                points_against=theirs.score,
            )
        )
    return rows


def _points(sport: Sport, won: bool, tied: bool, lost_in_overtime: bool) -> int:
    if sport is Sport.SOCCER:
        return 3 if won else 1 if tied else 0
    if sport is Sport.ICE_HOCKEY:
        return 2 if won else 1 if lost_in_overtime else 0
    return 1 if won else 0  # basketball and football rank by wins


def player_results(game: Game) -> list[PlayerResult]:
    return [
        PlayerResult(
            player_id=player_id, name=line.name, team_id=line.team_id, pts=line.stats["pts"]
        )
        for player_id, line in sorted(game.box.players.items())
        if line.stats.get("pts")
    ]


#: How each sport's tables are ordered (the first rule first; the team code breaks what is
#: left, so the order is always the same). Head-to-head records, divisions and the NHL's
#: regulation wins are not kept: a tie they would break stays in code order.
_BY_PERCENTAGE = "win percentage (a tie counts half), wins, point difference, points scored"
RULES = {
    Sport.BASKETBALL: _BY_PERCENTAGE,
    Sport.AMERICAN_FOOTBALL: _BY_PERCENTAGE,
    Sport.ICE_HOCKEY: (
        "points (2 a win, 1 an overtime or shootout loss), points percentage, wins, goal difference"
    ),
    Sport.SOCCER: "points (3 a win, 1 a draw), goal difference, goals scored",
}
_BY_POINTS = "points, point difference, points scored"


def rule(sport: Sport | None) -> str:
    return RULES.get(sport, _BY_POINTS) if sport is not None else _BY_POINTS


def rank(rows: list[dict[str, object]], sport: Sport | None = None) -> list[dict[str, object]]:
    """Order a standings table by its sport's rule (:data:`RULES`); each row gains its place
    and its win percentage (``pct``, three decimals)."""

    def number(row: dict[str, object], name: str) -> int:
        return int(str(row.get(name, 0)))

    def pct(row: dict[str, object]) -> float:
        games = number(row, "games")
        return (number(row, "wins") + number(row, "ties") / 2) / games if games else 0.0

    def key(row: dict[str, object]) -> tuple[float | int | str, ...]:
        points, wins = number(row, "points"), number(row, "wins")
        scored = number(row, "points_for")
        difference = scored - number(row, "points_against")
        games = number(row, "games")
        if sport in (Sport.BASKETBALL, Sport.AMERICAN_FOOTBALL):
            return (-pct(row), -wins, -difference, -scored, str(row["code"]))
        if sport is Sport.ICE_HOCKEY:
            share = points / (2 * games) if games else 0.0
            return (-points, -share, -wins, -difference, str(row["code"]))
        return (-points, -difference, -scored, str(row["code"]))

    ordered = sorted(rows, key=key)
    return [
        {"rank": place, **row, "pct": round(pct(row), 3)} for place, row in enumerate(ordered, 1)
    ]
