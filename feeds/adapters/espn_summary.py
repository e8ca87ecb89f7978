"""ESPN ``summary?event=<id>`` for American football.

Plays live in ``drives.previous[].plays[]`` (and ``drives.current`` while a drive runs), ordered
by ``sequenceNumber``, each with the running ``homeScore``/``awayScore``. A play's points come
from the play itself: its type (``Rushing Touchdown``, ``Field Goal Good``, ``Safety``…) and,
for a touchdown, the try its text reports (``(… KICK)``, ``extra point is GOOD``, a two-point
conversion that did not fail). Who scored comes from ``scoringPlays[].team``, else from whose
running score moved. The running score is kept on every event, so ``scorecast validate``
compares the two and a play that disagrees with it shows as a mismatch and a problem.
"""

from __future__ import annotations

import re
from typing import Any

from core.errors import FeedFormatError
from core.models import EventType, GameEvent, GameInfo, Scoring, Sport, Team
from feeds.adapters.common import (
    Unreadable,
    get,
    mmss,
    safe_id,
    scheduled,
    stated,
    text,
    to_int,
    to_time,
)
from feeds.adapters.feed import Feed

FORMAT = "espn-summary"

#: A kicked try that was good: college ``(Name KICK)``, pro ``Name extra point is GOOD``.
_KICK_GOOD = re.compile(r"\bKICK\)|extra point is good", re.IGNORECASE)
_TWO_TRIED = re.compile(r"two[- ]point", re.IGNORECASE)
_TWO_FAILED = re.compile(
    r"two[- ]point[^.]*?\b(fail|failed|no good|unsuccessful)\b|attempt fails", re.IGNORECASE
)
#: Scores by the team without the ball: the offense's opponent is credited.
_DEFENSIVE = ("interception", "fumble", "blocked", "punt", "defensive", "safety")


def matches(payload: Any) -> bool:
    return isinstance(
        get(payload, "header", "competitions", 0, "competitors"), list
    ) and isinstance(get(payload, "drives"), dict)


def parse(payload: Any, source: str | None = None) -> Feed:
    if not matches(payload):
        raise FeedFormatError("not an ESPN summary payload: no header competitors and drives")
    competition = payload["header"]["competitions"][0]
    game_id = safe_id(payload["header"].get("id") or competition.get("id", ""))
    sides = {c.get("homeAway"): c for c in competition["competitors"] if isinstance(c, dict)}
    if "home" not in sides or "away" not in sides:
        raise FeedFormatError("ESPN summary without a home and an away competitor")
    home, away = _team(sides["home"]), _team(sides["away"])
    info = GameInfo(
        sport=Sport.AMERICAN_FOOTBALL,
        league=text(get(payload, "header", "league", "abbreviation"), 32) or "NCAAF",
        home=home,
        away=away,
        start_time=to_time(competition.get("date")),
        venue=text(get(payload, "gameInfo", "venue", "fullName"), 128) or None,
    )
    final = None
    if get(competition, "status", "type", "completed") is True:
        final = (to_int(sides["home"].get("score")), to_int(sides["away"].get("score")))
    plays, unreadable = _plays(payload["drives"])
    credited = {
        str(item.get("id")): safe_id(get(item, "team", "id"))
        for item in payload.get("scoringPlays") or []
        if isinstance(item, dict) and get(item, "team", "id") is not None
    }
    events = [scheduled(game_id, info)]
    problems: list[str] = []
    home_score, away_score = 0, 0
    for play in plays:
        now_home, now_away = to_int(play.get("homeScore")), to_int(play.get("awayScore"))
        moved = (0, 0)
        if now_home is not None and now_away is not None:
            moved = (now_home - home_score, now_away - away_score)
            home_score, away_score = now_home, now_away
        event = unreadable.build(
            _event, game_id, len(events), play, home, away, moved, credited, problems, final
        )
        if event is not None:
            events.append(event)
    return Feed(
        format=FORMAT,
        game_id=game_id,
        events=events,
        **unreadable.counted(),
        problems=problems,
        final=stated(final),
    )


def _team(competitor: dict[str, Any]) -> Team:
    team: dict[str, Any] = competitor["team"] if isinstance(competitor.get("team"), dict) else {}
    code = text(team.get("abbreviation"), 16) or safe_id(team.get("id", "team"))
    return Team(
        team_id=safe_id(team.get("id", code)),
        code=code,
        name=text(team.get("displayName"), 128) or code,
    )


def _plays(drives: dict[str, Any]) -> tuple[list[dict[str, Any]], Unreadable]:
    found: list[dict[str, Any]] = []
    unreadable = Unreadable()
    groups = list(drives.get("previous") or [])
    if isinstance(drives.get("current"), dict):
        groups.append(drives["current"])
    seen: set[str] = set()
    for drive in groups:
        for play in get(drive, "plays") or []:
            number = to_int(get(play, "sequenceNumber"))
            kind = get(play, "type", "text")
            if number is None or not isinstance(kind, str):
                scoring = isinstance(kind, str) and _flagged_points(kind, text(get(play, "text")))
                unreadable.add(kind if scoring else None)
                continue
            key = str(play.get("id", number))
            if key not in seen:  # the current drive repeats plays of the previous list
                seen.add(key)
                found.append(play)
    found.sort(key=lambda p: int(p["sequenceNumber"]))
    return found, unreadable


def _flagged_points(kind: str, words: str) -> tuple[str, int] | None:
    """What the play's type and text say was scored, if anything."""
    lowered = kind.lower()
    if "touchdown" in lowered:
        extra = 0
        if _KICK_GOOD.search(words):
            extra = 1
        elif _TWO_TRIED.search(words) and not _TWO_FAILED.search(words):
            extra = 2
        return "touchdown", 6 + extra
    if "field goal good" in lowered:
        return "field_goal", 3
    if "safety" in lowered:
        return "safety", 2
    if "extra point good" in lowered:
        return "pat", 1
    if ("two point" in lowered or "two-point" in lowered or "2pt" in lowered) and not (
        _TWO_FAILED.search(words) or "no good" in lowered or "failed" in lowered
    ):
        return "two_point", 2
    return None


def _scorer(
    play: dict[str, Any],
    kind: str,
    home: Team,
    away: Team,
    moved: tuple[int, int],
    credited: dict[str, str],
) -> Team | None:
    """Who scored on ``play``: the feed's scoring list, else whose running score moved, else
    the offense (or its opponent, for a return, a block or a safety)."""
    teams = {home.team_id: home, away.team_id: away}
    named = credited.get(str(play.get("id")))
    if named in teams:
        return teams[named]
    movers = [team for team, points in zip((home, away), moved, strict=True) if points > 0]
    if len(movers) == 1:
        return movers[0]
    offense = safe_id(get(play, "start", "team", "id") or "")
    if offense not in teams:
        return None
    if any(word in kind.lower() for word in _DEFENSIVE):
        return away if offense == home.team_id else home
    return teams[offense]


def _event(
    game_id: str,
    sequence: int,
    play: dict[str, Any],
    home: Team,
    away: Team,
    moved: tuple[int, int],
    credited: dict[str, str],
    problems: list[str],
    final: tuple[int | None, int | None] | None,
) -> GameEvent:
    kind = play["type"]["text"]
    words = text(play.get("text"))
    base = {
        "game_id": game_id,
        "period": get(play, "period", "number"),
        "clock_seconds": mmss(get(play, "clock", "displayValue")),
        "home_score": to_int(play.get("homeScore")),
        "away_score": to_int(play.get("awayScore")),
        "description": f"{kind}: {words}"[:512],
        "occurred_at": to_time(play.get("wallclock")),
    }
    play_id = safe_id(play.get("id", play["sequenceNumber"]))
    event_id = f"{game_id}:{play_id}"
    flagged = _flagged_points(kind, words)
    stated_points = _stated(moved)
    if flagged is None and stated_points is not None and str(play.get("id")) in credited:
        # The provider lists the play among its scoring plays and its running score moved, but
        # the play's type and text name no score (a safety ESPN types as a tackle): its word
        # wins over what we infer from the text. Flagged so that someone looks.
        problems.append(
            f"play {play_id}: listed as scoring and the running score moved "
            f"{moved[0]}-{moved[1]}, but its type names no score ({kind}); counted as stated"
        )
        flagged = ("safety" if stated_points == 2 else "points", stated_points)
    if flagged is not None:
        label, points = flagged
        team = _scorer(play, kind, home, away, moved, credited)
        if team is None:
            problems.append(f"play {play_id}: {kind} scored {points}, but for whom is unknown")
        elif moved != ((points, 0) if team is home else (0, points)):
            problems.append(
                f"play {play_id}: {kind} is worth {points} to {team.code}; the running score "
                f"moved {moved[0]}-{moved[1]}"
            )
        return GameEvent(
            event_id=event_id,
            sequence=sequence,
            event_type=EventType.SCORE,
            team_id=team.team_id if team else None,
            scoring=Scoring(kind=label, points=points),
            **base,
        )
    if any(moved):
        problems.append(
            f"play {play_id}: the running score moved {moved[0]}-{moved[1]} on a play that "
            f"scores nothing ({kind})"
        )
    event_type = _event_type(kind)
    if event_type is EventType.GAME_END and final is not None:
        base["home_score"], base["away_score"] = final
    offense = get(play, "start", "team", "id")
    return GameEvent(
        event_id=event_id,
        sequence=sequence,
        event_type=event_type,
        team_id=safe_id(offense) if offense else None,
        **base,
    )


def _stated(moved: tuple[int, int]) -> int | None:
    """The points the running score says one side scored on a play (``None``: not one side,
    or not a score a play can make)."""
    home, away = moved
    if home < 0 or away < 0 or (home > 0) == (away > 0):
        return None
    points = home or away
    return points if points <= 8 else None


def _event_type(kind: str) -> EventType:
    lowered = kind.lower()
    if lowered == "end of game":
        return EventType.GAME_END
    if lowered.startswith("end "):
        return EventType.PERIOD_END
    if "timeout" in lowered:
        return EventType.TIMEOUT
    if "penalty" in lowered:
        return EventType.PENALTY
    return EventType.OTHER
