"""The purger's figures: purge lag (announce → acknowledged), queue depth, calls and failures by
reason. Prometheus text on ``/metrics``, served by a tiny asyncio server the purger owns."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST


class PurgerMetrics:
    def __init__(self, backend: str) -> None:
        self.backend = backend
        self.registry = CollectorRegistry()
        self.calls = Counter(
            "scorecast_purge_calls", "Purge calls made.", ["backend"], registry=self.registry
        )
        self.failures = Counter(
            "scorecast_purge_failures",
            "Purge calls that failed, by reason.",
            ["backend", "reason"],
            registry=self.registry,
        )
        self.changes = Counter(
            "scorecast_purge_changes", "Changes purged and acknowledged.", registry=self.registry
        )
        self.abandoned = Counter(
            "scorecast_purge_abandoned",
            "Changes given up on after the retry budget (the edge TTL bounds their staleness).",
            registry=self.registry,
        )
        self.lag = Histogram(
            "scorecast_purge_lag_seconds",
            "From a change's announcement to its purge being acknowledged.",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
            registry=self.registry,
        )
        self.queue_depth = Gauge(
            "scorecast_purge_queue_depth",
            "Changes announced but not yet acknowledged.",
            registry=self.registry,
        )

    def failure_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for metric in self.failures.collect():
            for sample in metric.samples:
                if sample.name.endswith("_total"):
                    counts[sample.labels["reason"]] = int(sample.value)
        return counts

    def text(self) -> bytes:
        return generate_latest(self.registry)


@contextlib.asynccontextmanager
async def serving(metrics: PurgerMetrics, port: int) -> AsyncIterator[None]:
    """Serve ``/metrics`` on 127.0.0.1:``port`` while the block runs (port 0: not at all)."""
    if not port:
        yield
        return

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
            body = metrics.text()
            head = (
                f"HTTP/1.1 200 OK\r\nContent-Type: {CONTENT_TYPE_LATEST}\r\n"
                f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
            )
            writer.write(head.encode() + body)
            await writer.drain()
        except (TimeoutError, asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", port)
    try:
        yield
    finally:
        server.close()
        await server.wait_closed()
