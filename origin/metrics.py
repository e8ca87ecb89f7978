"""Request counters per route, served on the origin's private listener (:mod:`runtime.metrics`),
never on its public app."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class OriginMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "scorecast_origin_requests",
            "Requests answered by the origin.",
            ["route", "status"],
            registry=self.registry,
        )


class MetricsMiddleware:
    """Counts each answered request under its route template, never the raw path."""

    def __init__(self, app: ASGIApp, metrics: OriginMetrics) -> None:
        self.app = app
        self.metrics = metrics
        #: Endpoint → its route's path template, learnt from the router on first use.
        self._paths: dict[object, str] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500

        async def send_counted(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_counted)
        finally:
            self.metrics.requests.labels(self._route(scope), str(status)).inc()

    def _route(self, scope: Scope) -> str:
        # The router put the matched endpoint in the scope: no second matching of the path.
        if self._paths is None:
            self._paths = {
                getattr(route, "endpoint", None): str(getattr(route, "path", "other"))
                for route in scope["app"].routes
            }
        endpoint = scope.get("endpoint")
        return self._paths.get(endpoint, "other") if endpoint is not None else "unmatched"
