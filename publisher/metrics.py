"""The publisher's figures, on its private listener (:mod:`runtime.metrics`).

What the publisher counts for its log line (:class:`publisher.service.PublisherStats`) is read
when Prometheus scrapes, never kept twice. Consumer lag is what this member knows: per partition,
the offsets it has read but not committed yet (the broker's own end offsets are not trusted:
some Kafka-compatible brokers report them wrong). How far behind the feed it runs is the
ingest → announced histogram.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime

from prometheus_client import CollectorRegistry, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.metrics_core import Metric

from runtime.metrics import Figures, counted

#: Seconds from an event entering the pipeline to its version being announced.
_LAG_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)


class PublisherMetrics:
    def __init__(
        self,
        counts: Callable[[], dict[str, int]],
        gauges: Callable[[], dict[str, int]],
        reasons: Callable[[], dict[str, int]],
        lag: Callable[[], dict[tuple[str, int], int]],
    ) -> None:
        self.registry = CollectorRegistry()
        self._reasons = reasons
        self._lag = lag
        self.ingest_to_announced = Histogram(
            "scorecast_publisher_ingest_to_announced_seconds",
            "From a version's newest event entering the pipeline to the version announced.",
            buckets=_LAG_BUCKETS,
            registry=self.registry,
        )
        self.redis_used = Gauge(
            "scorecast_redis_used_memory_bytes",
            "Bytes Redis uses (on a cluster, its fullest master), sampled by the publisher.",
            registry=self.registry,
        )
        self.redis_limit = Gauge(
            "scorecast_redis_maxmemory_bytes",
            "Redis's maxmemory (0: none) of the same node.",
            registry=self.registry,
        )
        self.registry.register(counted("scorecast_publisher", counts, gauges, _HELP))
        self.registry.register(Figures(self._read))

    def announced(self, ingested_at: datetime | None, now: datetime) -> None:
        if ingested_at is not None:
            self.ingest_to_announced.observe(max(0.0, (now - ingested_at).total_seconds()))

    def _read(self) -> Iterator[Metric]:
        dead = CounterMetricFamily(
            "scorecast_publisher_dead_letters",
            "Events sent to the dead-letter topic, by reason.",
            labels=["reason"],
        )
        for reason, count in sorted(self._reasons().items()):
            dead.add_metric([reason], count)
        yield dead
        lag = GaugeMetricFamily(
            "scorecast_publisher_consumer_lag",
            "Events this member read and has not committed yet, per partition.",
            labels=["topic", "partition"],
        )
        for (topic, partition), behind in sorted(self._lag().items()):
            lag.add_metric([topic, str(partition)], behind)
        yield lag


_HELP = {
    "consumed": "Messages read from the events topic.",
    "applied": "Events folded into a game.",
    "duplicates": "Events dropped as already applied or already held.",
    "gaps": "Sequences given up on after the reorder wait.",
    "versions": "Versions written and announced.",
    "push_failures": "Hand-overs to the stream tier that failed (each retried).",
    "push_skipped": "Versions not pushed: a newer one of the game was pushed already.",
    "games_released": "Finished games let go from this member's memory.",
    "games_retired": "Finished games whose retention ended.",
    "games_held": "Games whose state this member holds in memory.",
    "push_waiting": "Versions waiting for the stream tier.",
}
