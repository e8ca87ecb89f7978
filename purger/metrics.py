"""The purger's figures: purge lag (announce → acknowledged), queue depth, calls and failures by
reason; served on the purger's private listener (:mod:`runtime.metrics`)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest


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
        self.repurged = Counter(
            "scorecast_purge_repurged",
            "Games purged again: an edge node still held an older version after the purge.",
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
