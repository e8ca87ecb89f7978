"""The registration API a fan's app or browser calls (through the edge, never cached there):

- ``POST /v1/devices`` ``{"device": {...}}`` → 201 ``{"device_id", "secret", "games", "teams"}``:
  an APNs token, an FCM token or a Web Push subscription (:mod:`notifier.devices`).
- ``GET`` / ``PUT /v1/devices/{device_id}/follows`` ``{"games": [...], "teams": ["nba/BKN"]}``:
  what it follows, replaced whole; unknown games and teams are refused by name.
- ``DELETE /v1/devices/{device_id}`` → 204.

Every call but the first carries ``Authorization: Bearer <secret>``: the credential the
registration answered with, kept only as a digest. Errors are the JSON envelope of every API.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from prometheus_client import CollectorRegistry, Counter
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from redis.asyncio import Redis
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from core import cors, ids
from core.connection import redis_client, translated
from core.keys import RedisKeys, league_key
from notifier.devices import Registration, WebDevice
from notifier.follows import Follows, Stored
from notifier.settings import DevicesSettings
from runtime.http_errors import HANDLERS, ApiError
from runtime.http_server import HttpServer
from runtime.metrics import exporting

_ID = re.compile(ids.ID)
_DEVICE_ID = re.compile(r"[0-9a-f]{32}")
_NO_STORE = {"Cache-Control": "no-store", "Access-Control-Allow-Origin": "*"}


class _Follows(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    games: list[str] = Field(default_factory=list, max_length=10_000)
    #: ``league/team``.
    teams: list[str] = Field(default_factory=list, max_length=10_000)


@dataclass(frozen=True)
class DevicesState:
    settings: DevicesSettings
    redis: Redis
    keys: RedisKeys
    follows: Follows
    calls: Counter


def create_app(settings: DevicesSettings) -> Starlette:
    registry = CollectorRegistry()
    calls = Counter(
        "scorecast_devices_requests",
        "Registration API calls, by outcome (ok, or the refusal's code).",
        ["outcome"],
        registry=registry,
    )

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, Any]]:
        async with contextlib.AsyncExitStack() as resources:
            redis = redis_client(settings)
            resources.push_async_callback(redis.aclose)
            keys = RedisKeys(settings.redis_prefix)
            follows = Follows(redis, keys, settings.device_shards, settings.follower_shards)

            async def unready() -> str | None:
                await redis.ping()
                return None

            await resources.enter_async_context(exporting(registry, settings, unready))
            yield {"devices": DevicesState(settings, redis, keys, follows, calls)}

    return Starlette(
        routes=[
            Route("/v1/devices/key", _counted(vapid_key), methods=["GET"]),
            Route("/v1/devices", _counted(register), methods=["POST"]),
            Route("/v1/devices/{device_id}/follows", _counted(follows), methods=["GET", "PUT"]),
            Route("/v1/devices/{device_id}", _counted(drop), methods=["DELETE"]),
        ],
        middleware=[
            # Pages on any site may register (no cookies: the credential travels in a header).
            Middleware(
                CORSMiddleware,
                allow_origins=[cors.ALLOW_ORIGIN],
                allow_methods=list(cors.DEVICE_METHODS),
                allow_headers=list(cors.DEVICE_HEADERS),
                max_age=cors.MAX_AGE_SECONDS,
            )
        ],
        exception_handlers=HANDLERS,
        lifespan=lifespan,
    )


def _counted(handler: Any) -> Any:
    async def counted(request: Request) -> Response:
        state: DevicesState = request.state.devices
        try:
            response: Response = await handler(request, state)
        except ApiError as refused:
            state.calls.labels(refused.code).inc()
            refused.headers = {**(refused.headers or {}), **_NO_STORE}
            raise
        state.calls.labels("ok").inc()
        return response

    return counted


async def _body(request: Request, limit: int) -> Any:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise ApiError(413, "too_large", f"at most {limit} bytes")
    size = 0
    chunks: list[bytes] = []
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ApiError(413, "too_large", f"at most {limit} bytes")
        chunks.append(chunk)
    try:
        return json.loads(b"".join(chunks))
    except (ValueError, RecursionError):
        raise ApiError(400, "not_json", "the body is not JSON") from None


def _refused(error: ValidationError) -> ApiError:
    first = error.errors(include_url=False, include_input=False)[0]
    where = ".".join(str(part) for part in first["loc"])
    return ApiError(422, "invalid", f"{where}: {first['msg']}" if where else first["msg"])


def _answer(stored: Stored, status: int = 200, extra: dict[str, str] | None = None) -> Response:
    body = {**(extra or {}), "games": list(stored.games), "teams": list(stored.teams)}
    return JSONResponse(body, status_code=status, headers=_NO_STORE)


async def vapid_key(request: Request, state: DevicesState) -> Response:
    """The key a browser subscribes to push with (``applicationServerKey``)."""
    key = state.settings.vapid_public_key
    if not key:
        raise ApiError(404, "no_web_push", "Web Push is not set up here")
    return JSONResponse({"public_key": key}, headers=_NO_STORE)


async def register(request: Request, state: DevicesState) -> Response:
    try:
        registration = Registration.model_validate(
            await _body(request, state.settings.max_body_bytes)
        )
    except ValidationError as refused:
        raise _refused(refused) from None
    device = registration.device
    if isinstance(device, WebDevice):
        host = (urlsplit(device.subscription.endpoint).hostname or "").lower()
        if not any(
            host == known or host.endswith(f".{known}") for known in state.settings.push_hosts
        ):
            raise ApiError(
                422, "invalid", f"device.subscription.endpoint: {host} is no known push service"
            )
    made = await state.follows.register(device)
    stored = Stored(made.device_id, registration.device, (), ())
    extra = {"device_id": made.device_id, "secret": made.secret}
    return _answer(stored, 201, extra)


async def _authorized(request: Request, state: DevicesState) -> Stored:
    device_id = request.path_params["device_id"]
    if not _DEVICE_ID.fullmatch(device_id):
        raise ApiError(404, "unknown_device", "no such device")
    scheme, _, secret = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not secret:
        raise ApiError(401, "unauthorized", "Authorization: Bearer <secret> is required",
                       {"WWW-Authenticate": "Bearer"})  # fmt: skip
    allowed = await state.follows.authorized(device_id, secret)
    if allowed is None:
        raise ApiError(404, "unknown_device", "no such device")
    if not allowed:
        raise ApiError(
            401, "unauthorized", "not this device's secret", {"WWW-Authenticate": "Bearer"}
        )
    stored = await state.follows.load(device_id)
    if stored is None:
        raise ApiError(404, "unknown_device", "no such device")
    return stored


async def follows(request: Request, state: DevicesState) -> Response:
    stored = await _authorized(request, state)
    if request.method == "GET":
        return _answer(stored)
    try:
        wanted = _Follows.model_validate(await _body(request, state.settings.max_body_bytes))
    except ValidationError as refused:
        raise _refused(refused) from None
    games = list(dict.fromkeys(wanted.games))
    teams = list(dict.fromkeys(wanted.teams))
    if len(games) + len(teams) > state.settings.max_follows:
        raise ApiError(422, "too_many", f"at most {state.settings.max_follows} games and teams")
    await _check_known(state, games, teams)
    await state.follows.follow(stored.device_id, games, teams)
    return _answer(Stored(stored.device_id, stored.device, tuple(games), tuple(teams)))


async def drop(request: Request, state: DevicesState) -> Response:
    stored = await _authorized(request, state)
    await state.follows.drop(stored.device_id)
    return Response(status_code=204, headers=_NO_STORE)


async def _check_known(state: DevicesState, games: list[str], teams: list[str]) -> None:
    for game_id in games:
        if not _ID.fullmatch(game_id):
            raise ApiError(422, "invalid", f"not a game id: {game_id[:80]!r}")
        if not await _exists(state.redis, state.keys.latest(game_id)):
            raise ApiError(404, "unknown_game", f"no game {game_id}")
    for team in teams:
        league, _, team_id = team.partition("/")
        if league != league_key(league) or not _ID.fullmatch(team_id):
            raise ApiError(422, "invalid", f"not a team (league/team): {team[:80]!r}")
        if not await _has(state.redis, state.keys.teams(league), team_id):
            raise ApiError(404, "unknown_team", f"no team {team_id} in {league}")


@translated
async def _exists(redis: Redis, key: str) -> bool:
    return bool(await redis.exists(key))


@translated
async def _has(redis: Redis, key: str, field: str) -> bool:
    return bool(await redis.hexists(key, field))


class DevicesService(HttpServer):
    """The registration API as a service (see :mod:`runtime.lifecycle`)."""

    def __init__(self, settings: DevicesSettings) -> None:
        super().__init__(
            create_app(settings),
            settings.host,
            settings.port,
            settings.drain_seconds,
            limits=settings,
        )
