"""Every service's private listener: its Prometheus figures on ``/metrics`` and its readiness on
``/ready``, on an address of its own (``SCORECAST_<COMPONENT>_METRICS_HOST`` and ``_PORT``).

Nothing here is ever on a public app: the edges forward no path to this listener, so no CDN
configuration has to remember to hide it. Each component keeps its figures in its own
:class:`prometheus_client.CollectorRegistry` (two services in one process, as in the tests,
never mix theirs); figures a component already counts for its logs are read when scraped
(:class:`Figures`), never copied twice.

Use inside a service's ``start``::

    port = await resources.enter_async_context(exporting(registry, settings, ready))
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator, Mapping

import uvicorn
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from core.errors import ServiceError
from core.settings import ServiceSettings
from runtime.http_server import SignalFreeServer

logger = logging.getLogger("scorecast.metrics")

#: Why the service is not ready, or ``None`` when it is.
Readiness = Callable[[], Awaitable[str | None]]

#: How long the listener's own shutdown may take (a scrape in flight) before it is cancelled.
_STOP_SECONDS = 2.0


async def always_ready() -> str | None:
    return None


class Figures(Collector):
    """Figures read from the component when Prometheus scrapes, not kept twice: ``read``
    returns the metric families (``prometheus_client.core.*MetricFamily``) as they are now."""

    def __init__(self, read: Callable[[], Iterable[Metric]]) -> None:
        self._read = read

    def collect(self) -> Iterator[Metric]:
        yield from self._read()


def counted(
    prefix: str,
    counts: Callable[[], Mapping[str, float]],
    gauges: Callable[[], Mapping[str, float]] = dict,
    helps: Mapping[str, str] | None = None,
) -> Figures:
    """A component's own counts (``prefix_NAME_total``) and levels (``prefix_NAME``), read
    when scraped; ``helps`` describes them by name."""
    helps = helps or {}

    def read() -> Iterator[Metric]:
        for name, value in counts().items():
            yield CounterMetricFamily(f"{prefix}_{name}", helps.get(name, name), value)
        for name, value in gauges().items():
            yield GaugeMetricFamily(f"{prefix}_{name}", helps.get(name, name), value)

    return Figures(read)


def _app(registry: CollectorRegistry, ready: Readiness) -> Starlette:
    async def metrics(request: Request) -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    async def readiness(request: Request) -> Response:
        try:
            reason = await ready()
        except Exception as exc:  # a probe that fails says why, never a 500 page
            reason = f"{type(exc).__name__}: {exc}"
        if reason is None:
            return JSONResponse({"ready": True})
        return JSONResponse({"ready": False, "reason": reason}, status_code=503)

    routes = [
        Route("/metrics", metrics, methods=["GET"]),
        Route("/ready", readiness, methods=["GET"]),
    ]
    return Starlette(routes=routes)


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(64)
    except OSError as exc:
        sock.close()
        raise ServiceError(f"metrics listener {host}:{port}: {exc.strerror or exc}") from exc
    sock.setblocking(False)
    return sock


@contextlib.asynccontextmanager
async def exporting(
    registry: CollectorRegistry, settings: ServiceSettings, ready: Readiness = always_ready
) -> AsyncIterator[int | None]:
    """Serve ``registry`` and ``ready`` on the service's metrics address while the block runs;
    yields the port (``None`` when ``metrics_port`` is 0: no listener). A taken port fails the
    start with :class:`ServiceError`."""
    if not settings.metrics_port:
        yield None
        return
    sock = _bind(settings.metrics_host, settings.metrics_port)
    config = uvicorn.Config(
        _app(registry, ready),
        access_log=False,
        server_header=False,
        lifespan="off",
        # The service's own logging stays as it is (uvicorn would configure the process's).
        log_config=None,
        log_level=None,
        timeout_keep_alive=5,
    )
    server = SignalFreeServer(config)
    serving = asyncio.create_task(server.serve(sockets=[sock]), name="metrics listener")
    try:
        yield int(sock.getsockname()[1])
    finally:
        server.should_exit = True
        try:
            await asyncio.wait_for(serving, _STOP_SECONDS)
        except TimeoutError:
            logger.warning("metrics listener did not stop in %.0f s", _STOP_SECONDS)
        finally:
            sock.close()
