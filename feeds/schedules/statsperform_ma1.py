"""Stats Perform (Opta) MA1, fixtures and results: ``matchInfo`` and ``liveData.matchDetails``.

``date`` + ``time`` are UTC (``2021-09-11Z``, ``18:30:00Z``), ``localDate`` the venue's day.
An MA3 document has the same ``matchInfo`` and a ``liveData.event`` list: that is a play-by-play
document (see ``feeds.adapters.statsperform_ma3``), not this.
"""

from __future__ import annotations

from typing import Any

from core.models import GameEvent, GameStatus, Sport
from feeds.adapters.common import get, safe_id, text, to_int, to_time
from feeds.schedules.schedule import Games, Schedule, day, info, initials, listed, result, team

FORMAT = "statsperform-ma1"

_STATUSES = {
    "Fixture": GameStatus.SCHEDULED,
    "Playing": GameStatus.LIVE,
    "Played": GameStatus.FINAL,
    "Postponed": GameStatus.POSTPONED,
    "Cancelled": GameStatus.CANCELLED,
}


def matches(payload: Any) -> bool:
    found = payload if isinstance(payload, list) else [payload]
    return bool(found) and all(
        isinstance(get(one, "matchInfo", "contestant"), list)
        and not isinstance(get(one, "liveData", "event"), list)
        for one in found
    )


def parse(payload: Any, source: str | None = None) -> Schedule:
    games = Games()
    # One fixture per document, or a list of them (the fixtures feed of a competition).
    for match in payload if isinstance(payload, list) else [payload]:
        games.add(_game, match)
    return games.schedule(FORMAT)


def _game(match: dict[str, Any]) -> GameEvent:
    details = match["matchInfo"]
    sides = {one.get("position"): one for one in details["contestant"]}
    status = _STATUSES.get(
        str(get(match, "liveData", "matchDetails", "matchStatus")), GameStatus.SCHEDULED
    )
    scores = get(match, "liveData", "matchDetails", "scores", "total") or {}
    date, clock = str(details.get("date", "")).rstrip("Z"), details.get("time")
    return listed(
        safe_id(details["id"]),
        info(
            Sport.SOCCER,
            text(get(details, "competition", "name"), 32).strip() or "soccer",
            _team(sides["home"]),
            _team(sides["away"]),
            start_time=to_time(f"{date}T{clock}") if clock else None,
            venue=text(get(details, "venue", "longName"), 128).strip() or None,
            season=text(get(details, "tournamentCalendar", "name"), 16) or None,
            day=day(details.get("localDate"), "%Y-%m-%d"),
            status=status,
            result=result(scores.get("home"), scores.get("away"), *_halves(match))
            if status in (GameStatus.LIVE, GameStatus.FINAL)
            else None,
        ),
    )


def _team(contestant: dict[str, Any]) -> Any:
    name = text(contestant.get("name"), 128).strip()
    return team(contestant["id"], contestant.get("code") or initials(name), name)


def _halves(match: dict[str, Any]) -> tuple[list[object], list[object]]:
    """Goals per half, from the half-time and full-time scores (none where extra time or a
    shootout was played: those halves are not stated apart)."""
    scores = get(match, "liveData", "matchDetails", "scores") or {}
    half, full = scores.get("ht") or {}, scores.get("ft") or {}
    if set(scores) - {"ht", "ft", "total"}:
        return [], []
    sides: list[list[object]] = []
    for side in ("home", "away"):
        first, whole = to_int(half.get(side)), to_int(full.get(side))
        sides.append([first, whole - first] if first is not None and whole is not None else [])
    return sides[0], sides[1]
