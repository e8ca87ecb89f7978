"""stats.nba.com ``playbyplayv2``: ``resultSets[0]`` is a table (``headers`` + ``rowSet``).

``SCORE`` reads ``"VISITOR - HOME"`` and is filled only on rows where it changes. Made and
missed free throws show only in the description text. ``EVENTNUM`` is not monotonic, so it
cannot order rows; rows are ordered by period and game clock, keeping the file's order among
equals. That order is the truth where they tie: a technical free throw shot before its period's
start row (same period, same clock) stays before it, as the feed's running score says.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from core.errors import FeedFormatError
from core.models import EventType, GameEvent, GameInfo, Player, Scoring, Sport, Team
from feeds.adapters.common import (
    Unreadable,
    free_throw_points,
    get,
    mmss,
    nba_league,
    once_each,
    safe_id,
    scheduled,
    to_int,
)
from feeds.adapters.feed import Feed

FORMAT = "nba-stats-playbyplayv2"

_PERIOD_START, _PERIOD_END = 12, 13
_TYPES = {
    4: EventType.REBOUND,
    5: EventType.TURNOVER,
    6: EventType.FOUL,
    8: EventType.SUBSTITUTION,
    9: EventType.TIMEOUT,
    _PERIOD_START: EventType.PERIOD_START,
    _PERIOD_END: EventType.PERIOD_END,
}
_REGULATION_PERIODS = 4


def matches(payload: Any) -> bool:
    headers = get(payload, "resultSets", 0, "headers")
    return isinstance(headers, list) and "EVENTMSGTYPE" in headers and "SCORE" in headers


def parse(payload: Any, source: str | None = None) -> Feed:
    if not matches(payload):
        raise FeedFormatError("not a playbyplayv2 payload: no resultSets[0] play-by-play table")
    headers = payload["resultSets"][0]["headers"]
    rows: list[dict[str, Any]] = []
    unreadable = Unreadable()
    for raw in get(payload, "resultSets", 0, "rowSet") or []:
        row = dict(zip(headers, raw, strict=True)) if _is_row(raw, headers) else None
        if row is None or not _readable(row):
            unreadable.add(_scoring_kind(row))
            continue
        rows.append(row)
    if not rows:
        raise FeedFormatError("playbyplayv2 payload has no readable rows")
    game_id = safe_id(rows[0]["GAME_ID"])
    home, away = _teams(rows)
    rows = once_each(rows, lambda row: row["EVENTNUM"])
    rows.sort(key=_game_order)
    events = [
        scheduled(
            game_id,
            GameInfo(sport=Sport.BASKETBALL, league=nba_league(game_id), home=home, away=away),
        )
    ]
    score: tuple[int, int] | None = None
    for row in rows:
        event = unreadable.build(
            _event, game_id, len(events), row, home, away, scoring_kind=_scoring_kind(row)
        )
        if event is None:
            continue
        events.append(event)
        if event.home_score is not None and event.away_score is not None:
            score = (event.home_score, event.away_score)
    # The end is the final period's end marker wherever it sorts: rows recorded at 0:00 may
    # come after it in the provider's order.
    final_period = rows[-1]["PERIOD"]
    ended = any(
        row["EVENTMSGTYPE"] == _PERIOD_END and row["PERIOD"] == final_period for row in rows
    )
    if ended and final_period >= _REGULATION_PERIODS and score is not None and score[0] != score[1]:
        events.append(
            GameEvent(
                event_id=f"{game_id}:end",
                game_id=game_id,
                sequence=len(events),
                event_type=EventType.GAME_END,
                period=final_period,
                clock_seconds=0.0,
                description="Game End",
            )
        )
    return Feed(
        FORMAT,
        game_id,
        events,
        **unreadable.counted(),
    )


def _is_row(raw: object, headers: list[str]) -> bool:
    return isinstance(raw, list) and len(raw) == len(headers)


def _readable(row: dict[str, Any]) -> bool:
    return (
        isinstance(row.get("EVENTNUM"), int)
        and isinstance(row.get("EVENTMSGTYPE"), int)
        and isinstance(row.get("PERIOD"), int)
        and row.get("GAME_ID") is not None
    )


def _game_order(row: dict[str, Any]) -> tuple[int, float]:
    remaining = mmss(row.get("PCTIMESTRING"))
    return row["PERIOD"], -(remaining if remaining is not None else 0.0)


def _teams(rows: list[dict[str, Any]]) -> tuple[Team, Team]:
    """The home team is the one whose players' plays are written in HOMEDESCRIPTION."""
    sides: Counter[tuple[int, str]] = Counter()
    teams: dict[int, Team] = {}
    for row in rows:
        team_id = row.get("PLAYER1_TEAM_ID")
        if not isinstance(team_id, int):
            continue
        if team_id not in teams and row.get("PLAYER1_TEAM_ABBREVIATION"):
            name = " ".join(
                str(p)
                for p in (row.get("PLAYER1_TEAM_CITY"), row.get("PLAYER1_TEAM_NICKNAME"))
                if p
            )
            code = str(row["PLAYER1_TEAM_ABBREVIATION"])
            teams[team_id] = Team(team_id=str(team_id), code=code, name=name or code)
        if row.get("HOMEDESCRIPTION") and not row.get("VISITORDESCRIPTION"):
            sides[(team_id, "home")] += 1
        elif row.get("VISITORDESCRIPTION") and not row.get("HOMEDESCRIPTION"):
            sides[(team_id, "away")] += 1
    if len(teams) != 2:
        raise FeedFormatError(f"expected two teams, found {sorted(t.code for t in teams.values())}")
    home_id = max(teams, key=lambda t: sides[(t, "home")] - sides[(t, "away")])
    (away_id,) = (t for t in teams if t != home_id)
    return teams[home_id], teams[away_id]


def _event(game_id: str, sequence: int, row: dict[str, Any], home: Team, away: Team) -> GameEvent:
    kind = row["EVENTMSGTYPE"]
    description = " ".join(
        str(row[c])
        for c in ("HOMEDESCRIPTION", "NEUTRALDESCRIPTION", "VISITORDESCRIPTION")
        if row.get(c)
    )
    side_team = (
        home if row.get("HOMEDESCRIPTION") else away if row.get("VISITORDESCRIPTION") else None
    )
    team_id = row.get("PLAYER1_TEAM_ID")
    team = str(team_id) if isinstance(team_id, int) else side_team.team_id if side_team else None
    scoring = None
    event_type = _TYPES.get(kind, EventType.OTHER)
    if kind in (1, 2):
        scoring = Scoring(kind="3pt" if "3PT" in description else "2pt")
        event_type = EventType.SCORE if kind == 1 else EventType.MISS
    elif kind == 3:
        scoring = Scoring(kind="freethrow", points=free_throw_points(description))
        event_type = EventType.MISS if "MISS" in description.upper() else EventType.SCORE
    player = None
    player_id = row.get("PLAYER1_ID")
    if isinstance(player_id, int) and player_id > 0 and isinstance(team_id, int):
        player = Player(
            player_id=str(player_id), name=str(row.get("PLAYER1_NAME") or ""), team_id=str(team_id)
        )
    visitor_score, home_score = _score(row.get("SCORE"))
    return GameEvent(
        event_id=f"{game_id}:{row['EVENTNUM']}",
        game_id=game_id,
        sequence=sequence,
        event_type=event_type,
        period=row["PERIOD"],
        clock_seconds=mmss(row.get("PCTIMESTRING")),
        team_id=team,
        player=player,
        scoring=scoring,
        home_score=home_score,
        away_score=visitor_score,
        description=description[:512],
    )


def _score(value: object) -> tuple[int | None, int | None]:
    if not isinstance(value, str) or "-" not in value:
        return None, None
    visitor, _, home = value.partition("-")
    return to_int(visitor), to_int(home)


def _scoring_kind(row: dict[str, Any] | None) -> str | None:
    """A made field goal (1) or a free throw (3) that could not be read."""
    kind = get(row, "EVENTMSGTYPE")
    return {1: "field goal", 3: "free throw"}.get(kind) if isinstance(kind, int) else None
