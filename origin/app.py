"""The origin application: ``create_app(settings)``."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from redis.asyncio import Redis
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from core.keys import RedisKeys
from core.settings import OriginSettings
from core.store import SnapshotStore
from origin import openapi, routes, streams
from origin.hub import Hub
from origin.metrics import MetricsMiddleware, OriginMetrics
from origin.state import OriginState
from runtime.http_errors import HANDLERS

PAGE = Path(__file__).parent / "static" / "live.html"


def create_app(settings: OriginSettings) -> Starlette:
    metrics = OriginMetrics()
    spec = JSONResponse(openapi.document())

    async def api_document(request: Request) -> Response:
        return spec

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, Any]]:
        redis = Redis.from_url(
            settings.redis_url,
            socket_timeout=settings.redis_timeout,
            socket_connect_timeout=settings.redis_timeout,
        )
        store = SnapshotStore(redis, RedisKeys(settings.redis_prefix))
        hub = Hub(store, settings.subscriber_buffer)
        follower = asyncio.create_task(hub.run(), name="change-stream hub")
        try:
            yield {"origin": OriginState(settings, store, hub, PAGE.read_bytes())}
        finally:
            follower.cancel("origin shutting down")
            with contextlib.suppress(asyncio.CancelledError):
                await follower
            await redis.aclose()

    return Starlette(
        routes=[
            Route("/v1/games/{game_id}", routes.game, methods=["GET"]),
            Route("/v1/games/{game_id}/versions/{version}", routes.game_version, methods=["GET"]),
            Route("/v1/games/{game_id}/stream", routes.game_stream, methods=["GET"]),
            Route("/v1/games/{game_id}/boxscore", routes.box_score, methods=["GET"]),
            Route("/v1/scoreboard/stream", streams.scoreboard_stream, methods=["GET"]),
            Route("/live/{game_id}", routes.live_page, methods=["GET"]),
            Route("/v1/scoreboard", routes.scoreboard, methods=["GET"]),
            Route("/v1/leagues/{league}/standings", routes.standings, methods=["GET"]),
            Route("/v1/leagues/{league}/leaders", routes.leaders, methods=["GET"]),
            Route("/healthz", routes.healthz, methods=["GET"]),
            Route("/readyz", routes.readyz, methods=["GET"]),
            Route("/metrics", metrics.endpoint, methods=["GET"]),
            Route("/openapi.json", api_document, methods=["GET"]),
        ],
        middleware=[Middleware(MetricsMiddleware, metrics=metrics)],
        exception_handlers=HANDLERS,
        lifespan=lifespan,
    )
