"""Fold canonical events into game state. Pure: no I/O, no clock, no globals."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import cast

from core import boxscore
from core.errors import EventError, UnknownGameError, VersionOrderError
from core.models import (
    TBD_TEAM,
    ChangeKind,
    Correction,
    EventType,
    Game,
    GameEvent,
    GameInfo,
    GameStatus,
    LastEvent,
    Revision,
    Shootout,
    Sport,
    Team,
    TeamScore,
    built,
    replaced,
)

#: Points per scoring kind, by sport. An event's own ``scoring.points`` wins over these.
POINTS: dict[Sport, dict[str, int]] = {
    Sport.BASKETBALL: {"2pt": 2, "3pt": 3, "freethrow": 1},
    Sport.ICE_HOCKEY: {"goal": 1},
    Sport.SOCCER: {"goal": 1, "own_goal": 1, "penalty_goal": 1},
    Sport.AMERICAN_FOOTBALL: {
        "touchdown": 6,
        "pat": 1,
        "two_point": 2,
        "field_goal": 3,
        "safety": 2,
    },
}


def new_game(event: GameEvent) -> Game:
    """The state a GAME_SCHEDULED event creates."""
    info = event.game
    if event.event_type is not EventType.GAME_SCHEDULED or info is None:
        raise UnknownGameError(f"game {event.game_id!r} has no GAME_SCHEDULED event before it")
    game = Game(
        game_id=event.game_id,
        sport=info.sport,
        league=info.league,
        home=_team_score(info.home),
        away=_team_score(info.away),
        start_time=info.start_time,
        venue=info.venue,
        season=info.season,
        day=info.day,
        listed=info.listed,
        sequence=event.sequence,
        ingested_at=event.ingested_at,
    )
    return game.model_copy(update=_stated(game, info))


def _team_score(team: Team, score: int = 0) -> TeamScore:
    return TeamScore(
        team_id=team.team_id, code=team.code, name=team.name, city=team.city, score=score
    )


def _played(game: Game) -> bool:
    """A live document's play has been folded (a schedule's statements are not plays)."""
    return game.last_event is not None


def _stated(game: Game, info: GameInfo) -> dict[str, object]:
    """What a schedule's stated status (and score) makes of a game no play has reached: the
    provider's word is all there is. Once plays arrive, they are the truth of the game."""
    if not info.listed or info.status is None or _played(game):
        return {}
    result = info.result
    if info.status in (GameStatus.LIVE, GameStatus.FINAL) and result is None:
        return {}  # "final" with no score: nothing a fan or a table could count
    update: dict[str, object] = {"status": info.status}
    if result is not None and info.status in (GameStatus.LIVE, GameStatus.FINAL):
        update["home"] = game.home.model_copy(
            update={"score": result.home, "periods": list(result.home_periods)}
        )
        update["away"] = game.away.model_copy(
            update={"score": result.away, "periods": list(result.away_periods)}
        )
        if result.home_periods:
            update["period"] = max(len(result.home_periods), len(result.away_periods))
    return update


def _fixture(game: Game, event: GameEvent, update: dict[str, object]) -> Game:
    """A later GAME_SCHEDULED record: a schedule's restatement (a moved start, a new venue, a
    postponement, a final it states) or a live document's own view of the fixture.

    A schedule's record (``listed``) states league, season, day, start, venue and the teams'
    names and sides. A live document's record fills only what no schedule stated, but its
    team ids win: its plays name the teams by them. Neither changes the score of a game
    plays have reached. A removed record takes nothing back (a schedule drops past games)."""
    info = event.game
    if info is None or event.revision is Revision.REMOVED:
        return game.model_copy(update=update)
    state = game
    if (
        info.listed
        and {info.home.team_id, info.away.team_id}
        == {
            game.away.team_id,
            game.home.team_id,
        }
        and info.home.team_id != game.home.team_id
    ):
        # The schedule says the sides the other way round: it is the provider's word.
        state = state.model_copy(
            update={
                "home": game.away,
                "away": game.home,
                "shootout": Shootout(home=game.shootout.away, away=game.shootout.home)
                if game.shootout is not None
                else None,
            }
        )
    states = info.listed or not game.listed
    sides: dict[str, object] = {}
    for side in ("home", "away"):
        mine: TeamScore = getattr(state, side)
        theirs: Team = getattr(info, side)
        # A schedule keeps the ids a game has (the live document's, if it came first) but
        # fills a team not known yet (a knockout game listed before its teams are), names and
        # all, whoever names it.
        placeholder = mine.team_id.startswith(TBD_TEAM)
        team_id = mine.team_id if info.listed and not placeholder else theirs.team_id
        named = {"code": theirs.code, "name": theirs.name, "city": theirs.city}
        # The score and line score are the game's: a restated fixture never touches them.
        sides[side] = mine.model_copy(
            update={"team_id": team_id, **(named if states or placeholder else {})}
        )
    if states:
        fields: dict[str, object] = {
            "league": info.league,
            "season": info.season or game.season,
            "day": info.day if info.listed else (game.day or info.day),
            "start_time": info.start_time or game.start_time,
            "venue": info.venue or game.venue,
            "listed": game.listed or info.listed,
        }
    else:
        fields = {
            "season": game.season or info.season,
            "start_time": game.start_time or info.start_time,
            "venue": game.venue or info.venue,
        }
    state = state.model_copy(update={**update, **fields, **sides})
    return state.model_copy(update=_stated(state, info))


def points_for(game: Game, event: GameEvent) -> int:
    if event.event_type is not EventType.SCORE or event.scoring is None:
        return 0
    if event.scoring.shootout:
        return 0
    if event.scoring.points is not None:
        return event.scoring.points
    return POINTS[game.sport].get(event.scoring.kind, 0)


def apply(game: Game | None, event: GameEvent) -> Game:
    """Return the state after ``event``.

    An event at or below the applied sequence returns ``game`` itself, so applying an event twice
    changes nothing. Raises :class:`UnknownGameError` when there is no state and the event does
    not create the game.
    """
    if game is None:
        return new_game(event)
    if event.sequence <= game.sequence:
        return game
    update: dict[str, object] = {
        "sequence": event.sequence,
        "ingested_at": event.ingested_at or game.ingested_at,
        "correction": None,
    }
    if event.event_type is EventType.GAME_SCHEDULED:
        return _fixture(game, event, update)
    if not _played(game) and game.status in (GameStatus.LIVE, GameStatus.FINAL):
        # The first play of a game whose score a schedule stated: the plays count from 0-0.
        game = game.model_copy(
            update={
                "status": GameStatus.SCHEDULED,
                "home": game.home.model_copy(update={"score": 0, "periods": []}),
                "away": game.away.model_copy(update={"score": 0, "periods": []}),
                "period": 0,
            }
        )
    if event.revision is not None:
        return _corrected(game, event, update)
    update.update(_credit(game, event, 1))
    if game.status is GameStatus.FINAL:
        # A record the provider adds after the final whistle counts (the provider's final is
        # the truth) but never reopens the game or moves its clock.
        return replaced(game, update)
    if event.period is not None:
        update["period"] = event.period
        for side in ("home", "away"):
            # Every period played has its column, 0 where a side did not score in it.
            team = cast(TeamScore, update.get(side, getattr(game, side)))
            if len(team.periods) < event.period:
                periods = _lined(team.periods, event.period)
                update[side] = replaced(team, {"periods": periods})
    if event.clock_seconds is not None:
        update["clock_seconds"] = event.clock_seconds
    if event.event_type is EventType.GAME_END:
        update["status"] = GameStatus.FINAL
        update.update(_shootout_winner(game.model_copy(update=update)))
    else:
        update["status"] = GameStatus.LIVE
    # Fields of a validated event: nothing to validate again.
    update["last_event"] = built(
        LastEvent,
        event_id=event.event_id,
        sequence=event.sequence,
        event_type=event.event_type,
        period=event.period,
        clock_seconds=event.clock_seconds,
        team_id=event.team_id,
        description=event.description,
    )
    return replaced(game, update)


def _corrected(game: Game, event: GameEvent, update: dict[str, object]) -> Game:
    """Take back what the record counted for as it was applied (unless it was removed), then
    count it as it now reads (unless it is removed).

    Only what a record adds up (score, shootout tally, box score) is corrected: the clock,
    period and status follow the newest record, which a correction of an older one is not."""
    state = game
    if event.revision is not Revision.RESTORED:
        state = state.model_copy(update=_credit(state, event.previous or event, -1))
    if event.revision is not Revision.REMOVED:
        state = state.model_copy(update=_credit(state, event, 1))
    update["correction"] = Correction(
        event_id=event.event_id,
        revision=event.revision,
        description=event.description,
    )
    return state.model_copy(update=update)


def _credit(game: Game, event: GameEvent, sign: int) -> dict[str, object]:
    """What ``event`` adds to the score, shootout tally and box score (``sign`` -1: takes back)."""
    update: dict[str, object] = {}
    points = points_for(game, event)
    side = _side(game, event.team_id)
    if points and side is not None:
        team = getattr(game, side)
        periods = _lined(team.periods, event.period or game.period or 1)
        periods[(event.period or game.period or 1) - 1] += sign * points
        update[side] = replaced(team, {"score": team.score + sign * points, "periods": periods})
    scoring = event.scoring
    if event.event_type is EventType.SCORE and scoring is not None and scoring.shootout:
        shootout = game.shootout or Shootout()
        if side is not None:
            tally = getattr(shootout, side) + sign
            update["shootout"] = shootout.model_copy(update={side: tally})
    update["box"] = boxscore.update(game, event, points, event.team_id if side else None, sign)
    return update


def change_kind(before: Game | None, after: Game) -> ChangeKind:
    """What one event changed, from the state before it to the state after it."""
    was_final = before is not None and before.status is GameStatus.FINAL
    if after.status is GameStatus.FINAL and not was_final:
        return ChangeKind.FINAL
    scores = (after.home.score, after.away.score)
    if before is None or (before.home.score, before.away.score) != scores:
        return ChangeKind.SCORE
    return ChangeKind.STATE


@dataclass(frozen=True)
class Rejected:
    """An event that could not be applied (it goes to the dead-letter topic)."""

    index: int
    error: EventError


@dataclass(frozen=True)
class Play:
    """An applied event with the score after it: a line of a game's play-by-play."""

    event: GameEvent
    home_score: int
    away_score: int


@dataclass(frozen=True)
class Folded:
    #: The new versions, oldest first, each numbered and saying what its newest event changed.
    versions: list[Game]
    rejected: list[Rejected]
    #: Every event applied, in order (corrections included), with the score after it.
    plays: list[Play] = field(default_factory=list)


def versions(published: Game | None, events: Sequence[GameEvent]) -> Folded:
    """Fold ``events`` (in order) onto the last published version and cut new versions.

    A version ends after every event that changes the score or ends the game, after every
    correction (so its version says what was corrected), and after the last event. Its number
    is its newest event's sequence plus one and its ``change`` is what that event changed, so
    the bytes of version N depend only on the events up to N, never on
    how they were batched: a rebuild from the feed writes the same bytes for every version
    (architecture invariant 1), and no version hides a score change behind a ``state`` label.
    Numbers are not contiguous where several events share a version.
    """
    cut: list[Game] = []
    rejected: list[Rejected] = []
    plays: list[Play] = []
    state = published
    #: The state after the batch's last events that cut no version, numbered only if it ends
    #: the batch (a copy of the whole game per event was a tenth of a publisher's time).
    pending: tuple[Game, ChangeKind] | None = None
    for index, event in enumerate(events):
        try:
            after = apply(state, event)
        except EventError as exc:
            rejected.append(Rejected(index, exc))
            continue
        if after is state:
            continue
        kind = change_kind(state, after)
        state = after
        plays.append(Play(event, after.home.score, after.away.score))
        _in_order(after, cut[-1] if cut else published)
        pending = (after, kind)
        if kind is not ChangeKind.STATE or after.correction is not None:
            cut.append(_numbered(*pending))
            pending = None
    if pending is not None:
        cut.append(_numbered(*pending))
    return Folded(cut, rejected, plays)


def _in_order(state: Game, before: Game | None) -> None:
    version = state.sequence + 1
    if before is not None and version <= before.version:
        raise VersionOrderError(f"game {state.game_id}: version {version} after {before.version}")


def _numbered(state: Game, kind: ChangeKind) -> Game:
    return replaced(state, {"version": state.sequence + 1, "change": kind})


def fold(events: Iterable[GameEvent], game: Game | None = None) -> Game | None:
    """Apply events in the order given (the caller orders them)."""
    for event in events:
        game = apply(game, event)
    return game


def _shootout_winner(game: Game) -> dict[str, object]:
    """Ice hockey: a shootout win counts as one goal for the winner, whatever the tally.
    Soccer keeps its penalty shootout apart from the score."""
    shootout = game.shootout
    if game.sport is not Sport.ICE_HOCKEY or shootout is None or shootout.home == shootout.away:
        return {}
    side = "home" if shootout.home > shootout.away else "away"
    team = getattr(game, side)
    periods = _lined(team.periods, game.period or 1)
    periods[-1] += 1  # the shootout period's column
    return {side: team.model_copy(update={"score": team.score + 1, "periods": periods})}


def _lined(periods: list[int], count: int) -> list[int]:
    """A copy of a line score with a column for each of ``count`` periods at least."""
    return [*periods, *[0] * (count - len(periods))]


def _side(game: Game, team_id: str | None) -> str | None:
    if team_id == game.home.team_id:
        return "home"
    if team_id == game.away.team_id:
        return "away"
    return None
