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
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from core.changes import ChangeFeed
from core.connection import redis_client
from core.keys import RedisKeys
from core.store import SnapshotReader
from origin import openapi
from origin.assets import SiteAssets
from origin.cors import PublicCorsMiddleware
from origin.metrics import MetricsMiddleware, OriginMetrics
from origin.routes import ENDPOINTS
from origin.settings import OriginSettings
from origin.state import OriginState
from runtime.http_errors import HANDLERS
from runtime.http_server import HttpServer
from runtime.metrics import exporting
from streams.hub import Hub, HubTier
from streams.records import PushRecords
from streams.tiers import open_tier

STATIC = Path(__file__).parent / "static"
PAGE = STATIC / "live.html"
#: The JavaScript client (clients/js), served for the page.
CLIENT_SCRIPT = STATIC / "scorecast-client.js"


def create_app(settings: OriginSettings, closing: asyncio.Event | None = None) -> Starlette:
    """The origin's app; once ``closing`` is set, the streams it holds itself end (the server
    can then drain: see :class:`OriginService`)."""
    metrics = OriginMetrics()
    spec = JSONResponse(openapi.document(ENDPOINTS))

    async def api_document(request: Request) -> Response:
        return spec

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, Any]]:
        async with contextlib.AsyncExitStack() as resources:
            redis = redis_client(settings)
            resources.push_async_callback(redis.aclose)
            keys = RedisKeys(settings.redis_prefix, settings.change_shards)
            store = SnapshotReader(redis, keys)
            feeds = ChangeFeed.every(redis, keys)
            hub = Hub(store, feeds, settings.subscriber_buffer, settings.max_held)
            resources.callback(hub.close)
            own = HubTier(hub, settings)
            tier = open_tier(settings, PushRecords(redis, keys), own) or own
            resources.push_async_callback(tier.aclose)
            follower = asyncio.create_task(hub.run(closing), name="change-stream hub")
            resources.push_async_callback(_cancelled, follower)
            page, script = PAGE.read_bytes(), CLIENT_SCRIPT.read_bytes()
            state = OriginState(settings, store, tier, own, page, script, SiteAssets.load())
            # Its figures on the private listener only: no edge has a path to them.
            await resources.enter_async_context(
                exporting(metrics.registry, settings, state.unready)
            )
            yield {"origin": state}

    routes = [Route(e.path, e.handler, methods=["GET"]) for e in ENDPOINTS]
    app = Starlette(
        routes=[
            *routes,
            Route("/openapi.json", api_document, methods=["GET"]),
        ],
        middleware=[
            Middleware(MetricsMiddleware, metrics=metrics),
            # Preflights are answered here too, for a CDN that cannot answer them itself
            # (Cloudflare without Workers); Varnish and Fastly answer them at the edge.
            Middleware(PublicCorsMiddleware),
        ],
        exception_handlers=HANDLERS,
        lifespan=lifespan,
    )
    # A redirect to the slash-less path would be built from the caller's Host header, and
    # cached under it at the edge: a trailing slash is simply not a resource of the API.
    app.router.redirect_slashes = False
    return app


async def _cancelled(task: asyncio.Task[None]) -> None:
    task.cancel("origin shutting down")
    with contextlib.suppress(asyncio.CancelledError):
        await task


class OriginService(HttpServer):
    """The origin as a service: on stop, the streams it holds end first, then it drains."""

    def __init__(self, settings: OriginSettings) -> None:
        closing = asyncio.Event()
        self.app = create_app(settings, closing)
        super().__init__(
            self.app,
            settings.host,
            settings.port,
            settings.drain_seconds,
            closing.set,
            limits=settings,
        )
