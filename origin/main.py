"""``scorecast origin``: serve the origin with uvicorn."""

from __future__ import annotations

import uvicorn

from core.settings import OriginSettings
from origin.app import create_app


def serve(settings: OriginSettings) -> None:
    config = uvicorn.Config(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        access_log=False,
        server_header=False,
        lifespan="on",
        log_level="info",
        timeout_graceful_shutdown=5,
    )
    uvicorn.Server(config).run()
