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


def game_id(request: Request) -> str:
    found: str = request.path_params["game_id"]
    if not _ID.fullmatch(found):
        raise ApiError(400, "bad_game_id", "game id must be 1-64 letters, digits, '.', '_' or '-'")
    return found


def day(request: Request) -> str:
    found: str = request.path_params["day"]
    if not _DAY.fullmatch(found):
        raise ApiError(400, "bad_day", "day must be a date (YYYY-MM-DD) or 'undated'")
    return found


def season(request: Request) -> str:
    found: str = request.path_params["season"]
    if not _SEASON.fullmatch(found):
        raise ApiError(400, "bad_season", "season must be 1-16 lowercase letters, digits or '-'")
    return found


def team_id(request: Request) -> str:
    found: str = request.path_params["team_id"]
    if not _ID.fullmatch(found):
        raise ApiError(400, "bad_team_id", "team id must be 1-64 letters, digits, '.', '_' or '-'")
    return found


def league(request: Request) -> str:
    found: str = request.path_params["league"]
    if not _LEAGUE.fullmatch(found):
        raise ApiError(400, "bad_league", "league must be 1-32 lowercase letters, digits or '-'")
    return found


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
