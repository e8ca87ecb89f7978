"""``scorecast purger``: purge the edge for every announced change until SIGTERM."""

from __future__ import annotations

import logging

from redis.asyncio import Redis

from core.settings import PurgerSettings
from purger.backends import PurgeBackend
from purger.cloudflare import CloudflareBackend
from purger.fastly import FastlyBackend
from purger.metrics import serving
from purger.service import Purger
from purger.varnish import VarnishBackend
from runtime.lifecycle import stop_on_signals

logger = logging.getLogger("scorecast.purger")


def make_backend(settings: PurgerSettings) -> PurgeBackend:
    if settings.backend == "fastly":
        return FastlyBackend(settings, settings.http_timeout)
    if settings.backend == "cloudflare":
        return CloudflareBackend(settings)
    return VarnishBackend(settings)


async def serve(settings: PurgerSettings) -> None:
    stop = stop_on_signals()
    redis = Redis.from_url(
        settings.redis_url,
        socket_timeout=settings.redis_timeout,
        socket_connect_timeout=settings.redis_timeout,
    )
    backend = make_backend(settings)
    purger = Purger(settings, redis, backend)
    try:
        async with redis, serving(purger.metrics, settings.metrics_port):
            logger.info("purger started: backend %s", settings.backend)
            await purger.run(stop)
    finally:
        await backend.aclose()
    logger.info(
        "purger stopped: %d changes purged in %d calls, %d abandoned, failures %s",
        purger.purged,
        purger.calls,
        purger.abandoned,
        purger.metrics.failure_counts(),
    )
