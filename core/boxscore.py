"""Box score: player and team counting stats folded from the same events as the score. Pure."""

from __future__ import annotations

from core.models import BoxLine, BoxScore, EventType, Game, GameEvent, Sport, built

_SHOTS = {"2pt": ("fgm", "fga"), "3pt": ("fgm", "fga"), "freethrow": ("ftm", "fta")}
_COUNTED = {
    EventType.REBOUND: "reb",
    EventType.TURNOVER: "tov",
    EventType.FOUL: "pf",
    EventType.PENALTY: "penalties",
}


def stat_changes(game: Game, event: GameEvent, points: int) -> dict[str, int]:
    """What ``event`` adds to the line of whoever made it."""
    changes: dict[str, int] = {}
    scoring = event.scoring
    made = event.event_type is EventType.SCORE
    if scoring is not None and game.sport is Sport.BASKETBALL and scoring.kind in _SHOTS:
        made_key, attempt_key = _SHOTS[scoring.kind]
        changes[attempt_key] = 1
        if scoring.kind == "3pt":
            changes["fg3a"] = 1
        if made:
            changes[made_key] = 1
            if scoring.kind == "3pt":
                changes["fg3m"] = 1
    elif scoring is not None and made and not scoring.shootout:
        changes[scoring.kind] = 1
    if made and points:
        changes["pts"] = points
    if event.event_type in _COUNTED:
        changes[_COUNTED[event.event_type]] = 1
    if event.card is not None:
        changes[event.card.value] = 1
    return changes


def update(
    game: Game, event: GameEvent, points: int, credited_team: str | None, sign: int = 1
) -> BoxScore:
    """The box score after ``event``; ``credited_team`` is whose score ``points`` went to.
    ``sign`` -1 takes back what the event had added (a provider's correction)."""
    changes = {key: sign * value for key, value in stat_changes(game, event, points).items()}
    if not changes:
        return game.box
    teams = dict(game.box.teams)
    players = dict(game.box.players)
    team_id = credited_team or event.team_id
    if team_id in (game.home.team_id, game.away.team_id):
        assert team_id is not None
        code = game.home.code if team_id == game.home.team_id else game.away.code
        teams[team_id] = _add(teams.get(team_id), changes, game.sport, code, team_id)
    player = event.player
    if player is not None:
        own = dict(changes)
        if event.scoring is not None and event.scoring.kind == "own_goal":
            own = {"own_goal": sign}  # the goal itself counts for the other side
        players[player.player_id] = _add(
            players.get(player.player_id), own, game.sport, player.name, player.team_id
        )
    # Built from lines this module made: nothing to validate again (every event makes one).
    return built(BoxScore, teams=teams, players=players)


def _add(
    line: BoxLine | None,
    changes: dict[str, int],
    sport: Sport,
    name: str,
    team_id: str | None = None,
) -> BoxLine:
    stats = dict(line.stats) if line else {}
    for key, value in changes.items():
        stats[key] = stats.get(key, 0) + value
    return built(
        BoxLine,
        name=line.name if line and line.name else name,
        team_id=line.team_id if line and line.team_id else team_id,
        stats=stats,
        derived=derive(stats) if sport is Sport.BASKETBALL else {},
    )


def derive(stats: dict[str, int]) -> dict[str, float]:
    """True shooting % and effective field goal %, where there were attempts."""
    derived: dict[str, float] = {}
    fga, fta = stats.get("fga", 0), stats.get("fta", 0)
    if fga or fta:
        derived["ts_pct"] = round(stats.get("pts", 0) / (2 * (fga + 0.44 * fta)), 4)
    if fga:
        derived["efg_pct"] = round((stats.get("fgm", 0) + 0.5 * stats.get("fg3m", 0)) / fga, 4)
    return derived
