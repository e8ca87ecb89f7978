"""The origin application: ``create_app(settings)``, and the origin as a service."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from core.changes import ChangeFeed
from core.connection import redis_client
from core.keys import RedisKeys
from core.settings import OriginSettings
from core.store import SnapshotReader
from origin import openapi
from origin.hub import Hub
from origin.metrics import MetricsMiddleware, OriginMetrics
from origin.routes import ENDPOINTS
from origin.state import OriginState
from runtime.http_errors import HANDLERS
from runtime.http_server import HttpServer

STATIC = Path(__file__).parent / "static"
PAGE = STATIC / "live.html"
#: The JavaScript client (clients/js), served for the page.
CLIENT_SCRIPT = STATIC / "scorecast-client.js"


def create_app(settings: OriginSettings) -> Starlette:
    metrics = OriginMetrics()
    spec = JSONResponse(openapi.document(ENDPOINTS))

    async def api_document(request: Request) -> Response:
        return spec

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, Any]]:
        redis = redis_client(settings)
        keys = RedisKeys(settings.redis_prefix, settings.change_shards)
        store = SnapshotReader(redis, keys)
        hub = Hub(store, ChangeFeed.every(redis, keys), settings.subscriber_buffer)
        # The service ends the hub's streams before the server drains (see OriginService).
        app.state.hub = hub
        follower = asyncio.create_task(hub.run(), name="change-stream hub")
        try:
            state = OriginState(settings, store, hub, PAGE.read_bytes(), CLIENT_SCRIPT.read_bytes())
            yield {"origin": state}
        finally:
            hub.close()
            follower.cancel("origin shutting down")
            with contextlib.suppress(asyncio.CancelledError):
                await follower
            await redis.aclose()

    routes = [Route(e.path, e.handler, methods=["GET"]) for e in ENDPOINTS]
    app = Starlette(
        routes=[
            *routes,
            Route("/metrics", metrics.endpoint, methods=["GET"]),
            Route("/openapi.json", api_document, methods=["GET"]),
        ],
        middleware=[
            Middleware(MetricsMiddleware, metrics=metrics),
            # Preflights are answered here too, for a CDN that cannot answer them itself
            # (Cloudflare without Workers); Varnish and Fastly answer them at the edge.
            Middleware(
                CORSMiddleware,
                allow_origins=["*"],
                allow_methods=["GET", "HEAD", "OPTIONS"],
                allow_headers=["If-None-Match", "Last-Event-ID", "Cache-Control"],
                expose_headers=["ETag"],
                max_age=86400,
            ),
        ],
        exception_handlers=HANDLERS,
        lifespan=lifespan,
    )
    # A redirect to the slash-less path would be built from the caller's Host header, and
    # cached under it at the edge: a trailing slash is simply not a resource of the API.
    app.router.redirect_slashes = False
    return app


class OriginService(HttpServer):
    """The origin as a service: on stop, the streams it holds end first, then it drains."""

    def __init__(self, settings: OriginSettings) -> None:
        self.app = create_app(settings)
        super().__init__(
            self.app, settings.host, settings.port, settings.drain_seconds, self._end_streams
        )

    def _end_streams(self) -> None:
        hub: Hub | None = getattr(self.app.state, "hub", None)
        if hub is not None:
            hub.close()
