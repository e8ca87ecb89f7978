"""What a request names in its path, read and checked once for the API and the site alike: a
bad value is a 400 saying which and why, never a lookup."""

from __future__ import annotations

import re
from collections.abc import Callable

from starlette.requests import Request

from core import ids
from core.keys import UNSPECIFIED
from origin.state import OriginState
from runtime.http_errors import ApiError

_ID = re.compile(ids.ID)
_LEAGUE = re.compile(ids.LEAGUE)
_DAY = re.compile(ids.DAY)
_SEASON = re.compile(ids.SEASON)

SurrogateKeys = Callable[..., list[str]]


def _read(request: Request, name: str, shape: re.Pattern[str], rule: str) -> str:
    """The path parameter ``name``, or a 400 ``bad_<name>`` saying what it must be."""
    found: str = request.path_params[name]
    if not shape.fullmatch(found):
        raise ApiError(400, f"bad_{name}", f"{name.replace('_', ' ')} must be {rule}")
    return found


_AN_ID = "1-64 letters, digits, '.', '_' or '-'"


def game_id(request: Request) -> str:
    return _read(request, "game_id", _ID, _AN_ID)


def team_id(request: Request) -> str:
    return _read(request, "team_id", _ID, _AN_ID)


def day(request: Request) -> str:
    return _read(request, "day", _DAY, "a date (YYYY-MM-DD) or 'undated'")


def season(request: Request) -> str:
    return _read(request, "season", _SEASON, "1-16 lowercase letters, digits or '-'")


def league(request: Request) -> str:
    return _read(request, "league", _LEAGUE, "1-32 lowercase letters, digits or '-'")


async def season_of(
    request: Request, state: OriginState, league: str
) -> tuple[str, Callable[[SurrogateKeys], list[str]]]:
    """The season asked for (a path's, or the league's current one), and how to name the
    keys of a view of it: a season's view is purged by that season's finals, the current
    season's by every final of the league (a new season becomes the current one)."""
    if "season" in request.path_params:
        asked = season(request)
        return asked, lambda keys: keys(league, named(asked))
    seasons = await state.store.seasons(league)
    current = seasons[-1] if seasons else UNSPECIFIED
    return current, lambda keys: keys(league)


def named(season: str) -> str | None:
    """The store's season of a season key (``unspecified``: the games of no named season)."""
    return None if season == UNSPECIFIED else season
