"""The fan site: pages rendered from the records the API serves (:mod:`origin.pages`), cached
at the edge under the same surrogate keys as the documents they show, so the changes that purge
a document purge its page, and nothing else does."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from starlette.requests import Request
from starlette.responses import Response

from core import calendar
from core.keys import (
    game_surrogate_keys,
    leaders_surrogate_keys,
    part_day,
    standings_surrogate_keys,
    team_surrogate_key,
)
from core.versions import etag
from origin import caching, documents, pages, params
from origin.state import OriginState
from runtime.http_errors import ApiError

HTML = "text/html; charset=utf-8"


def _page(
    request: Request,
    state: OriginState,
    title_and_body: tuple[str, str],
    kind: str,
    data: dict[str, str],
    headers: dict[str, str],
) -> Response:
    title, body = title_and_body
    assets = state.site
    html = pages.layout(title, body, assets.prefix, kind, data)
    # The page also depends on this release's assets: its ETag names both.
    headers["ETag"] = f'"{assets.release}-{headers["ETag"].strip(chr(34))}"'
    return caching.answer(request, html, headers, HTML)


async def today(request: Request) -> Response:
    """Today's board: each league's today, kept at the edge no later than the next hour."""
    state: OriginState = request.state.origin
    now = datetime.now(UTC)
    board = await state.store.board(calendar.today_parts(await state.store.board_parts(), now))
    rows = [json.loads(row) for row in board.rows.values()]
    headers = caching.board_headers(
        state.settings, board, composed=True, until=calendar.seconds_to_next_hour(now)
    )
    # The day it names (its navigation's): the earliest league's today among those shown.
    days = sorted(part_day(part) for part in board.parts if part_day(part) != calendar.UNDATED)
    day = days[0] if days else now.date().isoformat()
    return _page(request, state, pages.board(day, rows, today=True), "board", {}, headers)


async def day(request: Request) -> Response:
    state: OriginState = request.state.origin
    on = params.day(request)
    parts = [part for part in await state.store.board_parts() if part_day(part) == on]
    board = await state.store.board(parts)
    rows = [json.loads(row) for row in board.rows.values()]
    headers = caching.board_headers(state.settings, board, composed=True)
    data = {"board": f"/v1/scoreboard/{on}"}
    return _page(request, state, pages.board(on, rows, today=False), "board", data, headers)


async def game(request: Request) -> Response:
    state: OriginState = request.state.origin
    game_id = params.game_id(request)
    keys = game_surrogate_keys(game_id)
    view = await state.store.game_view(game_id)
    if view is None:
        headers = caching.missing_headers(state.settings, keys)
        body = pages.layout(
            "Unknown game",
            f"<h1>No game {pages.h(game_id)}</h1><p>It is not listed yet.</p>",
            state.site.prefix,
            "missing",
            {},
        )
        return Response(body, status_code=404, media_type=HTML, headers=headers)
    headers = caching.live_headers(state.settings, keys, view.version)
    rendered = pages.game_page(view.game, view.box, view.plays)
    return _page(request, state, rendered, "game", {"game": game_id}, headers)


async def standings(request: Request) -> Response:
    state: OriginState = request.state.origin
    league = params.league(request)
    season, keys = await params.season_of(request, state, league)
    table = await state.store.standings(league, params.named(season))
    found = await state.store.leaders(league, state.settings.leaders_top, params.named(season))
    rendered = pages.standings_page(
        league,
        json.loads(documents.standings_table(league, table, season).body),
        json.loads(documents.leaders(league, found, season).body),
    )
    headers = caching.live_headers(
        state.settings,
        keys(standings_surrogate_keys) + keys(leaders_surrogate_keys),
        table.version,
    )
    return _page(request, state, rendered, "standings", {}, headers)


async def team(request: Request) -> Response:
    state: OriginState = request.state.origin
    league, team_id, season = (
        params.league(request),
        params.team_id(request),
        params.season(request),
    )
    games = await state.store.team_games(league, params.named(season), team_id)
    rows = [json.loads(row) for row in games.rows.values()]
    rows.sort(key=lambda row: (row.get("start_time") or "", row["game_id"]))
    headers = caching.live_headers(
        state.settings, [team_surrogate_key(league, team_id)], games.version
    )
    rendered = pages.team_page(league, season, team_id, rows)
    return _page(request, state, rendered, "team", {"board": "/v1/scoreboard"}, headers)


async def asset(request: Request) -> Response:
    """This release's stylesheet or script, for good; another release's is not here."""
    state: OriginState = request.state.origin
    assets = state.site
    name = request.path_params["name"]
    found = {"site.css": (assets.css, "text/css"), "site.js": (assets.js, "text/javascript")}
    if request.path_params["release"] != assets.release or name not in found:
        raise ApiError(404, "unknown_asset", "not an asset of this release")
    body, media_type = found[name]
    headers = caching.immutable_headers(["site"], 1)
    headers["ETag"] = etag(int(assets.release, 16))
    return Response(body, media_type=media_type, headers=headers)


async def service_worker(request: Request) -> Response:
    """The site's service worker, at the root (its scope is every page). Browsers look for a
    new one at least daily; the edge keeps it an hour, purged with the site."""
    state: OriginState = request.state.origin
    headers = {
        "Cache-Control": "public, max-age=300",
        "Surrogate-Control": "max-age=3600",
        **caching.tag_headers(["site"]),
        "ETag": etag(int(state.site.release, 16)),
    }
    return Response(state.site.worker, media_type="text/javascript", headers=headers)
