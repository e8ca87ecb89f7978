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


def rank(rows: list[dict[str, object]]) -> list[dict[str, object]]:
    """Order a standings table: points, then point difference, then points scored, then code."""

    def key(row: dict[str, object]) -> tuple[int, int, int, str]:
        points, scored, conceded = (
            int(str(row[k])) for k in ("points", "points_for", "points_against")
        )
        return (-points, -(scored - conceded), -scored, str(row["code"]))

    ordered = sorted(rows, key=key)
    return [{"rank": place, **row} for place, row in enumerate(ordered, start=1)]
