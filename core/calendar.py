"""Which day a game belongs to: the day fans look it up under.

The rule, stated once: a game's day is the calendar date its provider lists it on (the NBA's
``gameDate``, the NHL's ``gameDate``, StatsBomb's ``match_date``, Stats Perform's ``localDate``:
each the league's or the venue's local day). Where a document states only an instant (ESPN's
``date``, a live document's first play), the day is that instant's date in the league's home
time zone (:data:`LEAGUE_ZONES`), else in UTC. So a 10 pm Eastern NBA game (02:00 UTC the next
day) is on the day Americans played it, as on the league's own scoreboard.
"""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

#: The day of a game whose documents state neither a day nor a start.
UNDATED = "undated"

#: The time zone a league's days are counted in, by league key (see ``core.keys.league_key``).
LEAGUE_ZONES: dict[str, str] = {
    "nba": "America/New_York",
    "wnba": "America/New_York",
    "g-league": "America/New_York",
    "nba-summer-league": "America/New_York",
    "nhl": "America/New_York",
    "nfl": "America/New_York",
    "ncaaf": "America/New_York",
    "la-liga": "Europe/Madrid",
    "2-bundesliga": "Europe/Berlin",
    "bundesliga": "Europe/Berlin",
    "premier-league": "Europe/London",
}


def league_day(league_key: str, start: datetime) -> date:
    """The date of ``start`` in the league's home time zone (UTC for a league not listed)."""
    zone = LEAGUE_ZONES.get(league_key)
    return (
        start.astimezone(ZoneInfo(zone)).date()
        if zone
        else start.astimezone(ZoneInfo("UTC")).date()
    )


def today_parts(parts: list[str], now: datetime) -> list[str]:
    """The board parts (``LEAGUE:DAY``) of today, each league's today in its own time zone,
    and the undated ones (a game whose day no document states: a fan cannot place it
    anywhere else, and it is most likely being played now)."""
    kept = []
    for part in parts:
        league, day = part.rsplit(":", 1)
        if day == UNDATED or day == league_day(league, now).isoformat():
            kept.append(part)
    return kept


def seconds_to_next_hour(now: datetime) -> int:
    """Until the next full hour: every league's midnight falls on one (whole-hour zones), so
    a "today" cached no longer than this is never yesterday's."""
    return max(1, 3600 - (now.minute * 60 + now.second))


def game_day(league_key: str, day: date | None, start: datetime | None) -> date | None:
    """A game's day by the rule above; None for a game with neither."""
    if day is not None:
        return day
    return league_day(league_key, start) if start is not None else None
