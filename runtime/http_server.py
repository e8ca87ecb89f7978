"""An ASGI app served by uvicorn as a Scorecast service (see :mod:`runtime.lifecycle`)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import resource
import time
from collections.abc import Callable, Iterator

import uvicorn
from starlette.types import ASGIApp
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from core.settings import HttpSettings
from runtime.lifecycle import Service

logger = logging.getLogger("scorecast.http")

#: After uvicorn's drain, the time its lifespan shutdown may take before the service is
#: cancelled: the lifecycle's clock only catches a server that hangs.
_SHUTDOWN_SECONDS = 2.0


#: File handles kept free for everything but client connections (Redis, logs, the listener).
_RESERVED_FILES = 256


def _within_file_limit(wanted: int | None) -> int | None:
    """``wanted``, lowered to what this process may open (its soft limit raised to the hard one
    first); ``None``: no limit wanted."""
    if wanted is None:
        return None
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
    allowed = max(1, soft - _RESERVED_FILES)
    if wanted > allowed:
        logger.warning(
            "%d connections wanted; this process may open %d files: %d", wanted, soft, allowed
        )
    return min(wanted, allowed)


class Repeats(logging.Filter):
    """At most one line every ``every`` seconds for a message that a flood repeats thousands of
    times a second (uvicorn's "Exceeded concurrency limit." for each request turned away); the
    next line says how many were held back. A resource exhausted is logged, not the log."""

    def __init__(
        self,
        messages: frozenset[str],
        every: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__()
        self.messages = messages
        self.every = every
        self.clock = clock
        self._next: dict[str, float] = {}
        self._held: dict[str, int] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        if text not in self.messages:
            return True
        now = self.clock()
        if now < self._next.get(text, float("-inf")):
            self._held[text] = self._held.get(text, 0) + 1
            return False
        self._next[text] = now + self.every
        held = self._held.pop(text, 0)
        if held:
            record.msg, record.args = f"{text} ({held} more held back)", ()
        return True


#: uvicorn's line for each request turned away past ``limit_concurrency``.
_TURNED_AWAY = Repeats(frozenset({"Exceeded concurrency limit."}))


class _Guarded(HttpToolsProtocol):
    """uvicorn's HTTP protocol, with what it lacks to survive clients that hold connections
    and send nothing: a deadline for each request's headers, and room made at the cap by
    closing the connection idle the longest (nginx reuses keep-alive connections the same way),
    so a crowd of silent sockets cannot starve a health check or the edge's own requests."""

    #: Set per server by :func:`_guarded`.
    cap: int | None
    header_seconds: float
    #: This server's connections between requests (or before their first), oldest first.
    idle: dict[_Guarded, None]

    _deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if self.cap is not None and len(self.connections) >= self.cap and self.idle:
            # uvicorn counts this connection: one leaving makes room for its request.
            next(iter(self.idle))._close()
        self._waiting()

    def connection_lost(self, exc: Exception | None) -> None:
        self._busy()
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._arm()

    def on_headers_complete(self) -> None:
        self._busy()
        super().on_headers_complete()

    def on_response_complete(self) -> None:
        # Looked at first: uvicorn starts the next pipelined request (taking it off the
        # queue), and a connection with a request running is never idle.
        pipelined = bool(self.pipeline)
        super().on_response_complete()
        if not pipelined and not self.transport.is_closing():
            self._waiting()

    def _waiting(self) -> None:
        self.idle[self] = None
        self._arm()

    def _busy(self) -> None:
        self.idle.pop(self, None)
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _arm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
        self._deadline = self.loop.call_later(self.header_seconds, self._close)

    def _close(self) -> None:
        self._busy()
        # Not counted from now on: its loss is seen only on the loop's next turn, and a request
        # read meanwhile would find the server still full.
        self.connections.discard(self)
        if not self.transport.is_closing():
            self.transport.close()


def _guarded(cap: int | None, header_seconds: float) -> type[_Guarded]:
    """A protocol class for one server: its cap, its deadline and its own idle connections."""
    return type(
        "GuardedHttpProtocol",
        (_Guarded,),
        {"cap": cap, "header_seconds": header_seconds, "idle": {}},
    )


class SignalFreeServer(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        # The service's lifecycle owns the signals: it must act before uvicorn drains (end the
        # streams it holds), which uvicorn's own handler would not let it do.
        yield


class HttpServer(Service):
    """``async with HttpServer(app, …) as server: await server.run(stop)``.

    Once ``stop`` is set, ``on_stop`` runs (end long-lived responses), then uvicorn stops
    accepting, waits up to ``drain_seconds`` for open requests and shuts the app's lifespan down.
    """

    def __init__(
        self,
        app: ASGIApp,
        host: str,
        port: int,
        drain_seconds: float,
        on_stop: Callable[[], None] = lambda: None,
        limits: HttpSettings | None = None,
    ) -> None:
        limits = limits or HttpSettings()
        cap = _within_file_limit(limits.max_connections)
        config = uvicorn.Config(
            app,
            host=host,
            port=port,
            access_log=False,
            server_header=False,
            lifespan="on",
            log_level="info",
            timeout_graceful_shutdown=max(1, round(drain_seconds)),
            http=_guarded(cap, limits.header_seconds),
            # At the cap with no connection idle, a new request is answered 503 at once: the
            # process never runs out of file handles (it would then stop answering, health
            # checks included).
            limit_concurrency=cap,
            # An idle keep-alive connection is closed after this long.
            timeout_keep_alive=max(1, round(limits.idle_seconds)),
        )
        self.drain_seconds = max(1, round(drain_seconds)) + _SHUTDOWN_SECONDS
        uvicorn_log = logging.getLogger("uvicorn.error")
        if _TURNED_AWAY not in uvicorn_log.filters:
            uvicorn_log.addFilter(_TURNED_AWAY)
        self._server = SignalFreeServer(config)
        self._on_stop = on_stop

    async def start(self, resources: contextlib.AsyncExitStack) -> None:
        resources.callback(setattr, self._server, "should_exit", True)

    async def run(self, stop: asyncio.Event) -> None:
        serving = asyncio.create_task(self._server.serve(), name="uvicorn")
        stopping = asyncio.create_task(stop.wait(), name="stop signal")
        try:
            done, _ = await asyncio.wait({serving, stopping}, return_when=asyncio.FIRST_COMPLETED)
            if stopping in done:
                self._on_stop()
                self._server.should_exit = True
            await serving
        finally:
            # Cancelled (it did not drain in time): no task outlives the service.
            for task in (stopping, serving):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
