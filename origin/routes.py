"""Endpoints. They only read Redis: no folding, no writes, so any number of origins can run."""

from __future__ import annotations

import json
import re
import zlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from core import calendar, ids
from core.keys import (
    game_surrogate_keys,
    leaders_surrogate_keys,
    part_day,
    part_league,
    standings_surrogate_keys,
    team_surrogate_key,
    teams_surrogate_key,
)
from core.store import GameView
from origin import caching, documents, nba_live, openapi, params, resume, site
from origin.openapi import (
    AFTER,
    ANY_OBJECT,
    ASSET,
    DAY,
    GAME,
    GAME_ID,
    IF_NONE_MATCH,
    LAST_EVENT_ID,
    LEAGUE,
    PAGE,
    RELEASE,
    SCRIPT,
    SEASON,
    STREAM,
    TEAM_ID,
    VERSION,
    answer,
    cached,
    errors,
    get,
    page,
)
from origin.state import OriginState
from runtime.http_errors import ApiError

_VERSION = re.compile(ids.VERSION)
#: Board parts whose keys one response names at most (each key up to ~60 bytes).
MOST_PART_KEYS = 100

JSON = "application/json"
_NO_STORE = {"Cache-Control": "no-store"}


async def game(request: Request) -> Response:
    state: OriginState = request.state.origin
    game_id = params.game_id(request)
    after = request.query_params.get("after")
    if after is not None:
        return await resume.long_poll(request, game_id, after)
    snapshot = await state.store.latest(game_id)
    if snapshot is None:
        raise _unknown_game(state, game_id)
    headers = caching.live_headers(state.settings, game_surrogate_keys(game_id), snapshot.version)
    return caching.answer(request, snapshot.body, headers)


async def game_version(request: Request) -> Response:
    state: OriginState = request.state.origin
    game_id = params.game_id(request)
    raw = request.path_params["version"]
    if not _VERSION.fullmatch(raw):
        raise ApiError(400, "bad_version", "version must be a positive whole number")
    number = int(raw)
    body = await state.store.version(game_id, number)
    if body is None:
        latest = await state.store.latest(game_id)
        if latest is None:
            raise _unknown_game(state, game_id)
        if number < latest.version and await state.store.retired(game_id):
            # Gone for good: cacheable as long as an immutable version would be (no ETag: it
            # is not the version's).
            headers = caching.immutable_headers(game_surrogate_keys(game_id), number)
            del headers["ETag"]
            headers["Link"] = f'</v1/games/{game_id}>; rel="latest-version"'
            raise ApiError(
                410,
                "version_retired",
                f"game {game_id} is final and keeps only its latest version, {latest.version}",
                headers,
            )
        raise ApiError(
            404,
            "version_not_found",
            f"game {game_id} has versions 1 to {latest.version}",
            caching.missing_headers(state.settings, game_surrogate_keys(game_id)),
        )
    return caching.answer(
        request, body, caching.immutable_headers(game_surrogate_keys(game_id), number)
    )


async def scoreboard(request: Request) -> Response:
    """Today's games in every league (see :func:`core.calendar.today_parts`), composed of
    their parts. Kept at the edge no later than the next hour: a new day is no purge."""
    state: OriginState = request.state.origin
    now = datetime.now(UTC)
    parts = calendar.today_parts(await state.store.board_parts(), now)
    return await _board(
        request, state, parts, composed=True, until=calendar.seconds_to_next_hour(now)
    )


async def day_board(request: Request) -> Response:
    """A day's games across leagues: the parts of that day."""
    state: OriginState = request.state.origin
    day = params.day(request)
    parts = [part for part in await state.store.board_parts() if part_day(part) == day]
    return await _board(request, state, parts, composed=True)


async def league_board(request: Request) -> Response:
    """One part of the board: a league's games on a day."""
    state: OriginState = request.state.origin
    day, league = params.day(request), params.league(request)
    return await _board(request, state, [f"{league}:{day}"])


async def _board(
    request: Request,
    state: OriginState,
    parts: list[str],
    composed: bool = False,
    until: int | None = None,
) -> Response:
    board = await state.store.board(parts)
    snapshot = documents.scoreboard(board)
    return caching.answer(
        request, snapshot.body, caching.board_headers(state.settings, board, composed, until)
    )


async def standings(request: Request) -> Response:
    """A league's standings of a season (``/seasons/{season}/standings``), or of its current
    season: the newest it has finals in (games of no named season where it has none)."""
    state: OriginState = request.state.origin
    league = params.league(request)
    season, keys = await params.season_of(request, state, league)
    table = await state.store.standings(league, params.named(season))
    snapshot = documents.standings_table(league, table, season)
    headers = caching.live_headers(state.settings, keys(standings_surrogate_keys), snapshot.version)
    headers["ETag"] = caching.season_etag(season, snapshot.version)
    return caching.answer(request, snapshot.body, headers)


async def leaders(request: Request) -> Response:
    state: OriginState = request.state.origin
    league = params.league(request)
    season, keys = await params.season_of(request, state, league)
    found = await state.store.leaders(league, state.settings.leaders_top, params.named(season))
    snapshot = documents.leaders(league, found, season)
    headers = caching.live_headers(state.settings, keys(leaders_surrogate_keys), snapshot.version)
    headers["ETag"] = caching.season_etag(season, snapshot.version)
    return caching.answer(request, snapshot.body, headers)


async def league_teams(request: Request) -> Response:
    """A league's teams, as their newest games name them."""
    state: OriginState = request.state.origin
    league = params.league(request)
    body = documents.teams(league, await state.store.teams(league))
    headers = caching.live_headers(state.settings, [teams_surrogate_key(league)], 0)
    headers["ETag"] = f'"t{zlib.crc32(body):08x}"'  # no version of its own: its bytes'
    return caching.answer(request, body, headers)


async def team_season(request: Request) -> Response:
    """A team's games of a season: its results and fixtures, purged by each of their changes."""
    state: OriginState = request.state.origin
    league, team_id = params.league(request), params.team_id(request)
    season = params.season(request)
    games = await state.store.team_games(league, params.named(season), team_id)
    snapshot = documents.team_season(league, season, team_id, games)
    keys = [team_surrogate_key(league, team_id)]
    return caching.answer(
        request, snapshot.body, caching.live_headers(state.settings, keys, snapshot.version)
    )


async def box_score(request: Request) -> Response:
    state: OriginState = request.state.origin
    game_id = params.game_id(request)
    box = await state.store.box_score(game_id)
    if box is None:
        raise _unknown_game(state, game_id)
    body = documents.box_score(game_id, box)
    headers = caching.live_headers(state.settings, game_surrogate_keys(game_id), box.version)
    return caching.answer(request, body, headers)


async def nba_scoreboard(request: Request) -> Response:
    state: OriginState = request.state.origin
    now = datetime.now(UTC)
    nba = [part for part in await state.store.board_parts() if part_league(part) == "nba"]
    board = await state.store.board(calendar.today_parts(nba, now))
    rows = [json.loads(row) for _, row in sorted(board.rows.items())]
    rows = [row for row in rows if nba_live.shown(row)]
    today = calendar.league_day("nba", now)
    body = documents.render(nba_live.scoreboard(rows, today))
    until = calendar.seconds_to_next_hour(now)
    return caching.answer(
        request, body, caching.board_headers(state.settings, board, composed=True, until=until)
    )


async def nba_boxscore(request: Request) -> Response:
    state, view = await _nba_game(request, plays=False)
    headers = caching.live_headers(
        state.settings, game_surrogate_keys(view.game["game_id"]), view.version
    )
    return caching.answer(request, documents.render(nba_live.boxscore(view)), headers)


async def nba_playbyplay(request: Request) -> Response:
    state, view = await _nba_game(request)
    headers = caching.live_headers(
        state.settings, game_surrogate_keys(view.game["game_id"]), view.version
    )
    return caching.answer(request, documents.render(nba_live.playbyplay(view)), headers)


async def _nba_game(request: Request, plays: bool = True) -> tuple[OriginState, GameView]:
    state: OriginState = request.state.origin
    game_id = params.game_id(request)
    view = await state.store.game_view(game_id, plays)
    if view is None:
        raise _unknown_game(state, game_id)
    if not nba_live.shown(view.game):
        raise ApiError(404, "not_nba", f"game {game_id} is not an NBA game: no liveData view")
    return state, view


async def game_stream(request: Request) -> Response:
    return await resume.game_stream(request, params.game_id(request))


async def live_page(request: Request) -> Response:
    """The live scoreboard page; the same document for every game (it reads the id from the
    path), so the edge keeps one copy."""
    state: OriginState = request.state.origin
    params.game_id(request)
    headers = {
        "Cache-Control": "public, max-age=60",
        "Surrogate-Control": "max-age=3600",
        **caching.tag_headers(["page"]),
    }
    return Response(state.page, media_type="text/html; charset=utf-8", headers=headers)


async def client_script(request: Request) -> Response:
    """The JavaScript client the page imports; the same for every game."""
    state: OriginState = request.state.origin
    headers = {
        "Cache-Control": "public, max-age=300",
        "Surrogate-Control": "max-age=3600",
        **caching.tag_headers(["page"]),
    }
    return Response(state.client_script, media_type="text/javascript", headers=headers)


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"}, headers=_NO_STORE)


async def readyz(request: Request) -> Response:
    """For the load balancer in front of the origins (see :meth:`OriginState.unready`)."""
    state: OriginState = request.state.origin
    reason = await state.unready()
    if reason is not None:
        raise ApiError(503, "unavailable", reason, _NO_STORE)
    return JSONResponse({"status": "ready"}, headers=_NO_STORE)


def _unknown_game(state: OriginState, game_id: str) -> ApiError:
    headers = caching.missing_headers(state.settings, game_surrogate_keys(game_id))
    return ApiError(404, "unknown_game", f"no game {game_id}", headers)


Handler = Callable[[Request], Awaitable[Response]]


@dataclass(frozen=True)
class Endpoint(openapi.Documented):
    """One row of the route table: the app routes it, the OpenAPI document describes it."""

    handler: Handler


#: The public API. Served by the app and described by ``/openapi.json``, from this one table.
ENDPOINTS = [
    Endpoint(
        "/v1/games/{game_id}",
        get(
            "The latest snapshot of a game; with ?after=N, a long-poll for a newer one",
            [GAME_ID, IF_NONE_MATCH, AFTER],
            {**cached("the snapshot", GAME, 400, 404, 503), "204": answer("nothing newer yet")},
        ),
        game,
    ),
    Endpoint(
        "/v1/games/{game_id}/versions/{version}",
        get(
            "One immutable version",
            [GAME_ID, VERSION, IF_NONE_MATCH],
            cached("the version", GAME, 400, 404, 410, 503),
        ),
        game_version,
    ),
    Endpoint(
        "/v1/games/{game_id}/stream",
        get(
            "Server-sent events of a game",
            [GAME_ID, LAST_EVENT_ID],
            {**STREAM, **errors(400, 404, 503)},
        ),
        game_stream,
    ),
    Endpoint(
        "/v1/games/{game_id}/boxscore",
        get(
            "Player and team totals",
            [GAME_ID, IF_NONE_MATCH],
            cached("the box score", ANY_OBJECT, 400, 404, 503),
        ),
        box_score,
    ),
    Endpoint(
        "/v1/scoreboard/stream",
        get(
            "Server-sent events of the scoreboard", [LAST_EVENT_ID], {**STREAM, **errors(400, 503)}
        ),
        resume.scoreboard_stream,
    ),
    Endpoint(
        "/v1/scoreboard",
        get(
            "Today's games in every league (each league's today in its time zone; games of"
            " no stated day too)",
            [IF_NONE_MATCH],
            cached("the scoreboard", ANY_OBJECT, 503),
        ),
        scoreboard,
    ),
    Endpoint(
        "/v1/scoreboard/{day}",
        get(
            "A day's games in every league (each game's day as its provider lists it)",
            [DAY, IF_NONE_MATCH],
            cached("the day's board", ANY_OBJECT, 400, 503),
        ),
        day_board,
    ),
    Endpoint(
        "/v1/scoreboard/{day}/{league}",
        get(
            "A league's games on a day (each game's day as its provider lists it)",
            [DAY, LEAGUE, IF_NONE_MATCH],
            cached("the league's board of the day", ANY_OBJECT, 400, 503),
        ),
        league_board,
    ),
    Endpoint(
        "/v1/leagues/{league}/standings",
        get(
            "A league's standings of its current season (the newest it has finals in)",
            [LEAGUE, IF_NONE_MATCH],
            cached("the table", ANY_OBJECT, 400, 503),
        ),
        standings,
    ),
    Endpoint(
        "/v1/leagues/{league}/leaders",
        get(
            "A league's top scorers of its current season",
            [LEAGUE, IF_NONE_MATCH],
            cached("the leaderboard", ANY_OBJECT, 400, 503),
        ),
        leaders,
    ),
    Endpoint(
        "/v1/leagues/{league}/seasons/{season}/standings",
        get(
            "A league's standings of a season",
            [LEAGUE, SEASON, IF_NONE_MATCH],
            cached("the table", ANY_OBJECT, 400, 503),
        ),
        standings,
    ),
    Endpoint(
        "/v1/leagues/{league}/seasons/{season}/leaders",
        get(
            "A league's top scorers of a season",
            [LEAGUE, SEASON, IF_NONE_MATCH],
            cached("the leaderboard", ANY_OBJECT, 400, 503),
        ),
        leaders,
    ),
    Endpoint(
        "/v1/leagues/{league}/teams",
        get(
            "A league's teams: code, full name, city",
            [LEAGUE],
            cached("the teams", ANY_OBJECT, 400, 503),
        ),
        league_teams,
    ),
    Endpoint(
        "/v1/leagues/{league}/teams/{team_id}/seasons/{season}",
        get(
            "A team's games of a season: results and fixtures, by start",
            [LEAGUE, TEAM_ID, SEASON, IF_NONE_MATCH],
            cached("the team's season", ANY_OBJECT, 400, 503),
        ),
        team_season,
    ),
    Endpoint(
        "/liveData/scoreboard/todaysScoreboard_00.json",
        get(
            "Today's NBA games (today in New York) in the shape of the NBA's liveData scoreboard",
            [IF_NONE_MATCH],
            cached("the scoreboard", ANY_OBJECT, 503),
        ),
        nba_scoreboard,
    ),
    Endpoint(
        "/liveData/boxscore/boxscore_{game_id}.json",
        get(
            "An NBA game's box score in the shape of the NBA's liveData box score",
            [GAME_ID, IF_NONE_MATCH],
            cached("the box score", ANY_OBJECT, 400, 404, 503),
        ),
        nba_boxscore,
    ),
    Endpoint(
        "/liveData/playbyplay/playbyplay_{game_id}.json",
        get(
            "An NBA game's plays in the shape of the NBA's liveData play-by-play",
            [GAME_ID, IF_NONE_MATCH],
            cached("the play-by-play", ANY_OBJECT, 400, 404, 503),
        ),
        nba_playbyplay,
    ),
    Endpoint(
        "/live/{game_id}",
        get("The live scoreboard page", [GAME_ID], {**PAGE, **errors(400)}),
        live_page,
    ),
    # The fan site: pages cached under the keys of the documents they show.
    Endpoint("/", get("Today's games, every league", [IF_NONE_MATCH], page()), site.today),
    Endpoint("/day/{day}", get("A day's games", [DAY, IF_NONE_MATCH], page(400)), site.day),
    Endpoint(
        "/games/{game_id}",
        get(
            "A game: score, line score, box score, plays",
            [GAME_ID, IF_NONE_MATCH],
            page(400, 404),
        ),
        site.game,
    ),
    Endpoint(
        "/leagues/{league}/standings",
        get("A league's standings and leaders", [LEAGUE, IF_NONE_MATCH], page(400)),
        site.standings,
    ),
    Endpoint(
        "/leagues/{league}/seasons/{season}/standings",
        get(
            "A league's standings and leaders of a season",
            [LEAGUE, SEASON, IF_NONE_MATCH],
            page(400),
        ),
        site.standings,
    ),
    Endpoint(
        "/leagues/{league}/teams/{team_id}/seasons/{season}",
        get(
            "A team's season: results and fixtures",
            [LEAGUE, TEAM_ID, SEASON, IF_NONE_MATCH],
            page(400),
        ),
        site.team,
    ),
    Endpoint(
        "/site/{release}/{name}",
        get(
            "The site's stylesheet and script of a release",
            [RELEASE, ASSET],
            {**SCRIPT, **errors(404)},
        ),
        site.asset,
    ),
    Endpoint(
        "/sw.js",
        get("The site's service worker: shows the notifications a fan asked for", [], SCRIPT),
        site.service_worker,
    ),
    Endpoint(
        "/client/scorecast-client.js",
        get("The JavaScript client (an ES module)", [], SCRIPT),
        client_script,
    ),
    Endpoint("/healthz", get("Liveness", [], {"200": answer("alive", ANY_OBJECT)}), healthz),
    Endpoint(
        "/readyz",
        get(
            "Readiness: the score store answers and the change stream is followed",
            [],
            {"200": answer("ready", ANY_OBJECT), **errors(503)},
        ),
        readyz,
    ),
]
