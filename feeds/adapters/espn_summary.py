"""ESPN ``summary?event=<id>`` for American football.

Plays live in ``drives.previous[].plays[]`` (and ``drives.current`` while a drive runs), ordered
by ``sequenceNumber``, each with the running ``homeScore``/``awayScore``. The ``scoringPlay``
flag is not always set when the score moves, and a touchdown play carries its try (kick or
two-point) in its text. The running score is the truth: whatever the flags and text say, the side
whose score moved is credited with exactly that many points, and a disagreement is reported.
"""

from __future__ import annotations

import re
from typing import Any

from core.errors import FeedFormatError
from core.models import EventType, GameEvent, GameInfo, Scoring, Sport, Team
from feeds.adapters.common import get, mmss, safe_id, scheduled, text, to_int, to_time
from feeds.adapters.feed import Feed

FORMAT = "espn-summary"

_KICK_GOOD = re.compile(r"\bKICK\)", re.IGNORECASE)
_TWO_GOOD = re.compile(r"two-point[^)]*\b(good|succeeds|successful)\b", re.IGNORECASE)
#: What a touchdown play's text says the try added.
_BY_DELTA = {1: "pat", 2: "safety", 3: "field_goal", 6: "touchdown", 7: "touchdown", 8: "touchdown"}


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
    plays, unrecognized = _plays(payload["drives"])
    events = [scheduled(game_id, info)]
    problems: list[str] = []
    home_score, away_score = 0, 0
    for play in plays:
        now_home, now_away = to_int(play.get("homeScore")), to_int(play.get("awayScore"))
        moved = (0, 0)
        if now_home is not None and now_away is not None:
            moved = (now_home - home_score, now_away - away_score)
            home_score, away_score = now_home, now_away
        events.extend(_events(game_id, len(events), play, home, away, moved, problems, final))
    return Feed(
        format=FORMAT,
        game_id=game_id,
        events=events,
        unrecognized=unrecognized,
        problems=problems,
    )


def _team(competitor: dict[str, Any]) -> Team:
    team: dict[str, Any] = competitor["team"] if isinstance(competitor.get("team"), dict) else {}
    code = text(team.get("abbreviation"), 16) or safe_id(team.get("id", "team"))
    return Team(
        team_id=safe_id(team.get("id", code)),
        code=code,
        name=text(team.get("displayName"), 128) or code,
    )


def _plays(drives: dict[str, Any]) -> tuple[list[dict[str, Any]], int]:
    found: list[dict[str, Any]] = []
    unrecognized = 0
    groups = list(drives.get("previous") or [])
    if isinstance(drives.get("current"), dict):
        groups.append(drives["current"])
    seen: set[str] = set()
    for drive in groups:
        for play in get(drive, "plays") or []:
            number = to_int(get(play, "sequenceNumber"))
            if number is None or not isinstance(get(play, "type", "text"), str):
                unrecognized += 1
                continue
            key = str(play.get("id", number))
            if key not in seen:  # the current drive repeats plays of the previous list
                seen.add(key)
                found.append(play)
    found.sort(key=lambda p: int(p["sequenceNumber"]))
    return found, unrecognized


def _flagged_points(kind: str, words: str) -> tuple[str, int] | None:
    """What the play's type and text say was scored, if anything."""
    lowered = kind.lower()
    if "touchdown" in lowered:
        extra = 1 if _KICK_GOOD.search(words) else 2 if _TWO_GOOD.search(words) else 0
        return "touchdown", 6 + extra
    if "field goal good" in lowered:
        return "field_goal", 3
    if "safety" in lowered:
        return "safety", 2
    if "extra point good" in lowered:
        return "pat", 1
    if "two point" in lowered or "two-point" in lowered:
        return "two_point", 2
    return None


def _events(
    game_id: str,
    sequence: int,
    play: dict[str, Any],
    home: Team,
    away: Team,
    moved: tuple[int, int],
    problems: list[str],
    final: tuple[int | None, int | None] | None,
) -> list[GameEvent]:
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
    flagged = _flagged_points(kind, words)
    scorers = [(team, points) for team, points in zip((home, away), moved, strict=True) if points]
    if flagged and not scorers:
        problems.append(f"play {play_id}: flagged {flagged[0]} but the running score did not move")
    out: list[GameEvent] = []
    for team, points in scorers:
        if points < 0:
            problems.append(f"play {play_id}: {team.code}'s running score went down by {-points}")
            continue
        label = flagged[0] if flagged else _BY_DELTA.get(points, "score")
        if flagged and flagged[1] != points:
            problems.append(
                f"play {play_id}: {kind} says {flagged[1]} points, the running score moved "
                f"{points} for {team.code}; the running score wins"
            )
        suffix = "" if not out else f":{team.code}"
        out.append(
            GameEvent(
                event_id=f"{game_id}:{play_id}{suffix}",
                sequence=sequence + len(out),
                event_type=EventType.SCORE,
                team_id=team.team_id,
                scoring=Scoring(kind=label, points=points),
                **base,
            )
        )
    if out:
        return out
    event_type = _event_type(kind)
    if event_type is EventType.GAME_END and final is not None:
        base["home_score"], base["away_score"] = final
    return [
        GameEvent(
            event_id=f"{game_id}:{play_id}",
            sequence=sequence,
            event_type=event_type,
            team_id=safe_id(get(play, "start", "team", "id"))
            if get(play, "start", "team", "id")
            else None,
            **base,
        )
    ]


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
