"""``scorecast bench spike``: a replayed game, a synchronized crowd, and what reached the origin.

For each fan count of the sweep, a fresh local stack: the game is scheduled, crowds of polling
and SSE fans connect through the edge (one crowd process per core, see :mod:`bench.crowd`),
then the game is replayed and at every score change every polling fan refreshes at once. The
figures: edge offload, origin requests per change, ingest → edge-fresh latency (the first fan
answer carrying a version; a probe fan polls every few milliseconds so that this does not wait
for the crowd's next refresh), ingest → SSE delivery, versions seen going back, errors, and the
CPU each side used. Last, the origin's snapshot GET against nginx serving the same bytes.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import httpx
from confluent_kafka import Producer

from bench.crowd import CrowdPlan, CrowdReport, await_all, close_crowds, start_crowds
from bench.nginx import Throughput, compare
from bench.table import busiest, kinds, ms, print_table
from feeds.adapters import Feed, load
from feeds.replay import ProgressBar, ReplaySettings, replay
from harness.fans import (
    announce_times,
    earliest,
    ingest_times,
    merged_counts,
    origin_requests,
    percentile,
    published_versions,
    schedule,
    since,
    until_served,
)
from harness.sse import address
from local.stack import LocalStack
from runtime.kafka import producer_config

GAME_ROUTE = "/v1/games/{game_id}"
STREAM_ROUTE = "/v1/games/{game_id}/stream"


@dataclass(frozen=True)
class SpikeOptions:
    speed: float = 20.0
    max_gap: float = 2.0
    #: Replay only the first N events (0: the whole game).
    events: int = 250
    sse: int = 1000
    interval: float = 5.0
    spread: float = 0.1
    probe_interval: float = 0.005
    #: What holds the streams: ``nchan`` or ``pushpin`` (see :class:`local.stack.LocalStack`).
    holder: str = "nchan"
    holder_workers: int = 2
    workers: int = field(default_factory=lambda: os.cpu_count() or 2)
    #: Bound on one run, replay included.
    seconds: float = 900.0


@dataclass(frozen=True)
class SpikeResult:
    holder: str
    fans: int
    sse_fans: int
    versions: int
    score_changes: int
    poll_requests: int
    not_modified_share: float
    origin_requests: int
    #: Share of polling requests answered by the edge alone.
    offload: float
    #: Origin snapshot requests per published version (each version is one purge).
    origin_requests_per_change: float
    origin_requests_per_score_change: float
    #: Producer timestamp → first fan answer at the edge carrying the version.
    fresh_p50_ms: float
    fresh_p95_ms: float
    fresh_p99_ms: float
    #: Versions no polling fan ever saw (superseded within the gap between two polls).
    versions_unseen: int
    poll_p50_ms: float
    poll_p99_ms: float
    sse_connected: int
    sse_complete: int
    sse_origin_connects: int
    #: Publisher's announce (and push) → delivery to each SSE fan, every fan and version.
    sse_p50_ms: float
    sse_p99_ms: float
    #: Producer timestamp → delivery to each SSE fan.
    sse_ingest_p99_ms: float
    #: Where edge-fresh time goes: producer → announced (broker, publisher, Redis), then
    #: announced → first fan answer (purger, edge, origin refetch).
    announce_p50_ms: float
    announce_p99_ms: float
    purge_to_fresh_p50_ms: float
    purge_to_fresh_p99_ms: float
    regressions: int
    errors: int
    error_kinds: dict[str, int]
    #: CPU used by the fans, in cores busy on average over the run.
    client_cores: float
    #: CPU seconds of each local service during the run.
    service_cpu_seconds: dict[str, float]
    #: Resident memory of the stream holder (Nchan's or Pushpin's processes) before the fans
    #: connected and while every SSE fan was held, and what that makes per stream.
    holder_rss_idle_mb: float
    holder_rss_mb: float
    holder_kb_per_stream: float
    seconds: float
    #: Kept for the plots; left out of the printed table.
    fresh_ms: list[float] = field(repr=False)
    sse_ms: list[float] = field(repr=False)


def score_changes(feed: Feed) -> set[int]:
    """Indexes of the events after which fans, watching the game, would refresh."""
    return {i for i, event in enumerate(feed.events) if event.scoring is not None}


async def run_spike(stack: LocalStack, feed: Feed, fans: int, options: SpikeOptions) -> SpikeResult:
    started = time.monotonic()
    settings = ReplaySettings(kafka_bootstrap=stack.bootstrap)
    host, port = address(stack.edge_url)
    game_path = f"/v1/games/{feed.game_id}"
    producer = Producer(producer_config(settings))
    await schedule(stack.edge_url, stack.bootstrap, feed, producer)
    game_before = await origin_requests(stack.metrics_url(), GAME_ROUTE)
    stream_before = await origin_requests(stack.metrics_url(), STREAM_ROUTE)
    cpu_before = {name: p.cpu_seconds() for name, p in stack.processes.items()}
    holder = stack.processes["holder"]
    idle_rss = holder.rss_bytes()
    crowds = start_crowds(
        CrowdPlan(
            host=host,
            port=port,
            # Fans connect at the edge, which redirects them to the stream tier.
            stream_port=port,
            game_paths=(game_path,),
            stream_path=f"{game_path}/stream",
            pollers=fans,
            sse=options.sse,
            interval=options.interval,
            spread=options.spread,
            probe_interval=options.probe_interval,
            seconds=options.seconds,
            seed=0,
        ),
        options.workers,
    )
    try:
        await asyncio.to_thread(await_all, crowds, "ready", 180)
        ready_at = time.time()
        events = feed.events[1 : options.events or None]
        rest = Feed(feed.format, feed.game_id, events)
        changes = score_changes(rest)
        bar = ProgressBar(f"replay, {fans} fans")

        def spike(done: int, total: int) -> None:
            bar(done, total)
            if done - 1 in changes:
                for conductor, _ in crowds:
                    conductor.send(("spike", game_path))

        await asyncio.to_thread(
            replay, rest, settings, options.speed, options.max_gap, spike, producer
        )
        await asyncio.sleep(1)  # the publisher writes the last events
        last = max(await published_versions(stack.redis_url, feed.game_id))
        try:
            await until_served(stack.edge_url + game_path, lambda game: game["version"] >= last)
        except TimeoutError as exc:
            # An overloaded edge is a result too: report what the fans saw.
            print(f"warning: {exc}; measuring what the fans saw", file=sys.stderr, flush=True)
        held_rss = holder.rss_bytes()  # every SSE fan is still connected
        await asyncio.sleep(options.interval * 1.5)  # every fan polls once more
        published = await published_versions(stack.redis_url, feed.game_id)
        for conductor, _ in crowds:
            conductor.send(("stop", published))
        stop = ("stop", published)
        reports = list(await asyncio.to_thread(await_all, crowds, "report", 120, stop))
    finally:
        close_crowds(crowds)
    seconds = time.monotonic() - started
    cpu = {
        name: round(p.cpu_seconds() - cpu_before.get(name, 0.0), 2)
        for name, p in stack.processes.items()
    }
    origin = await origin_requests(stack.metrics_url(), GAME_ROUTE) - game_before
    connects = await origin_requests(stack.metrics_url(), STREAM_ROUTE) - stream_before
    # Versions published before the crowd was ready are not the crowd's to see fresh.
    ingested = {
        version: at
        for version, at in (await ingest_times(stack.origin_url, feed.game_id, published)).items()
        if at >= ready_at
    }
    announced = await announce_times(stack.redis_url, stack.keys, feed.game_id)
    timing = _Timing(ingested, {v: at for v, at in announced.items() if v in ingested})
    services = _Services(cpu, idle_rss, held_rss)
    return _figures(
        fans,
        options,
        [report.first_seen.get(game_path, {}) for report in reports],
        reports,
        published,
        timing,
        origin,
        connects,
        len(changes),
        services,
        seconds,
    )


@dataclass(frozen=True)
class _Services:
    """What the local services used during a run."""

    cpu: dict[str, float]
    holder_idle_rss: int
    holder_held_rss: int


def _figures(
    fans: int,
    options: SpikeOptions,
    seen: list[dict[int, float]],
    reports: list[CrowdReport],
    published: list[int],
    timing: _Timing,
    origin: int,
    connects: int,
    changes: int,
    services: _Services,
    seconds: float,
) -> SpikeResult:
    requests = sum(r.requests for r in reports)
    first_seen = earliest(seen)
    ingested, announced = timing.ingested, timing.announced
    fresh = since(ingested, first_seen)
    arrivals = [
        (version, at)
        for report in reports
        for version, times in report.sse_arrivals.items()
        for at in times
    ]
    sse = [(at - announced[v]) * 1000 for v, at in arrivals if v in announced]
    sse_ingest = [(at - ingested[v]) * 1000 for v, at in arrivals if v in ingested]
    pipeline = since(ingested, announced)
    purge = since(announced, first_seen)
    polls = [ms for report in reports for ms in report.response_ms]
    unseen = sum(1 for v in ingested if v not in first_seen)
    return SpikeResult(
        holder=options.holder,
        fans=fans,
        sse_fans=options.sse,
        versions=len(published),
        score_changes=changes,
        poll_requests=requests,
        not_modified_share=sum(r.not_modified for r in reports) / max(requests, 1),
        origin_requests=origin,
        offload=1 - origin / max(requests, 1),
        origin_requests_per_change=origin / max(len(published), 1),
        origin_requests_per_score_change=origin / max(changes, 1),
        fresh_p50_ms=percentile(fresh, 0.50),
        fresh_p95_ms=percentile(fresh, 0.95),
        fresh_p99_ms=percentile(fresh, 0.99),
        versions_unseen=unseen,
        poll_p50_ms=percentile(polls, 0.50),
        poll_p99_ms=percentile(polls, 0.99),
        sse_connected=sum(r.sse_connected for r in reports),
        sse_complete=sum(r.sse_complete for r in reports),
        sse_origin_connects=connects,
        sse_p50_ms=percentile(sse, 0.50),
        sse_p99_ms=percentile(sse, 0.99),
        sse_ingest_p99_ms=percentile(sse_ingest, 0.99),
        announce_p50_ms=percentile(pipeline, 0.50),
        announce_p99_ms=percentile(pipeline, 0.99),
        purge_to_fresh_p50_ms=percentile(purge, 0.50),
        purge_to_fresh_p99_ms=percentile(purge, 0.99),
        regressions=sum(r.regressions for r in reports) + sum(r.sse_out_of_order for r in reports),
        errors=sum(r.errors for r in reports),
        error_kinds=merged_counts([r.error_kinds for r in reports]),
        client_cores=sum(r.cpu_seconds for r in reports) / seconds,
        service_cpu_seconds=services.cpu,
        holder_rss_idle_mb=services.holder_idle_rss / 2**20,
        holder_rss_mb=services.holder_held_rss / 2**20,
        holder_kb_per_stream=(services.holder_held_rss - services.holder_idle_rss)
        / 1024
        / max(sum(r.sse_connected for r in reports), 1),
        seconds=seconds,
        fresh_ms=fresh,
        sse_ms=sse,
    )


@dataclass(frozen=True)
class _Timing:
    #: Version → when its newest event was produced (epoch seconds).
    ingested: dict[int, float]
    #: Version → when the publisher announced and pushed it.
    announced: dict[int, float]


def main(
    game_file: Path,
    fans: list[int],
    holders: list[str],
    options: SpikeOptions,
    json_path: Path | None,
    plots: Path | None,
    nginx_seconds: float,
) -> int:
    feed = load(game_file)
    results: list[SpikeResult] = []
    throughput: list[Throughput] = []
    for holder, count in [(h, n) for h in holders for n in fans]:
        chosen = replace(options, holder=holder)
        with tempfile.TemporaryDirectory(prefix="scorecast-bench-") as run_dir:
            print(f"starting the local stack for {count} polling fans ({holder})…", flush=True)
            stack = LocalStack.for_load(
                Path(run_dir), holder=chosen.holder, holder_workers=chosen.holder_workers
            )
            with stack:
                results.append(asyncio.run(run_spike(stack, feed, count, chosen)))
                if nginx_seconds > 0 and (holder, count) == (holders[-1], fans[-1]):
                    print("origin and edge against nginx, same bytes…", flush=True)
                    throughput = _against_nginx(stack, feed.game_id, Path(run_dir), nginx_seconds)
    _print(results, throughput)
    if json_path is not None:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps(summary(results, throughput), indent=2))
    if plots is not None:
        from bench.plots import plot_spike

        for path in plot_spike(results, plots):
            print(f"wrote {path}")
    return 0


def _against_nginx(
    stack: LocalStack, game_id: str, run_dir: Path, seconds: float
) -> list[Throughput]:
    path = f"/v1/games/{game_id}"
    body = httpx.get(stack.origin_url + path, timeout=5).content
    targets = {"origin": stack.origin_url + path, "edge": stack.edge_url + path}
    return compare(body, targets, run_dir, seconds)


def summary(results: list[SpikeResult], throughput: list[Throughput]) -> dict[str, Any]:
    """The JSON result: the largest run's figures at the top, every run and nginx below."""
    runs = [
        {k: v for k, v in asdict(r).items() if k not in ("fresh_ms", "sse_ms")} for r in results
    ]
    top = dict(runs[-1]) if runs else {}
    rates = {t.target: t.requests_per_second for t in throughput}
    if "nginx" in rates:
        for name in ("origin", "edge"):
            if name in rates:
                top[f"{name}_vs_nginx"] = rates[name] / rates["nginx"]
    return {**top, "runs": runs, "throughput": [asdict(t) for t in throughput]}


def _print(results: list[SpikeResult], throughput: list[Throughput]) -> None:
    rows: list[tuple[str, Callable[[SpikeResult], str]]] = [
        ("stream holder", lambda r: r.holder),
        ("polling fans", lambda r: f"{r.fans}"),
        ("SSE fans (connected)", lambda r: f"{r.sse_fans} ({r.sse_connected})"),
        ("versions / score changes", lambda r: f"{r.versions} / {r.score_changes}"),
        ("fan polls at the edge", lambda r: f"{r.poll_requests}"),
        ("304 share", lambda r: f"{r.not_modified_share:.1%}"),
        ("origin snapshot requests", lambda r: f"{r.origin_requests}"),
        ("edge offload", lambda r: f"{r.offload:.3%}"),
        ("origin req per change", lambda r: f"{r.origin_requests_per_change:.2f}"),
        ("origin req per score change", lambda r: f"{r.origin_requests_per_score_change:.2f}"),
        ("ingest → edge-fresh p50/95/99", lambda r: ms(r.fresh_p50_ms, r.fresh_p95_ms, r.fresh_p99_ms)),  # noqa: E501
        ("versions no fan saw", lambda r: f"{r.versions_unseen}"),
        ("poll answer p50/p99", lambda r: ms(r.poll_p50_ms, r.poll_p99_ms)),
        ("  ingest → announced p50/p99", lambda r: ms(r.announce_p50_ms, r.announce_p99_ms)),
        ("  announced → fresh p50/p99", lambda r: ms(r.purge_to_fresh_p50_ms, r.purge_to_fresh_p99_ms)),  # noqa: E501
        ("push → SSE fan p50/p99", lambda r: ms(r.sse_p50_ms, r.sse_p99_ms)),
        ("ingest → SSE fan p99", lambda r: ms(r.sse_ingest_p99_ms)),
        ("SSE fans with every version", lambda r: f"{r.sse_complete}/{r.sse_fans}"),
        ("SSE connects at origin", lambda r: f"{r.sse_origin_connects}"),
        ("versions seen going back", lambda r: f"{r.regressions}"),
        ("errors", lambda r: f"{r.errors}"),
        ("errors by kind", lambda r: kinds(r.error_kinds)),
        ("client CPU (cores)", lambda r: f"{r.client_cores:.2f}"),
        ("services CPU s", lambda r: busiest(r.service_cpu_seconds, 3, 4)),
        ("stream holder RSS idle → held", lambda r: f"{r.holder_rss_idle_mb:.0f} → {r.holder_rss_mb:.0f} MB"),  # noqa: E501
        ("  per held stream", lambda r: f"{r.holder_kb_per_stream:.1f} KB"),
        ("wall time", lambda r: f"{r.seconds:.0f} s"),
    ]  # fmt: skip
    print_table(rows, results, 22)
    if throughput:
        nginx = next((t for t in throughput if t.target == "nginx"), None)
        print()
        for t in throughput:
            ratio = (
                f"  {t.requests_per_second / nginx.requests_per_second:.1%} of nginx"
                if nginx
                else ""
            )
            bad = f"  ({t.bad_answers} bad answers)" if t.bad_answers else ""
            rate = f"{t.requests_per_second:>10,.0f} req/s"
            print(f"{t.target:<8} {rate}  p99 {t.p99_ms:.1f} ms{ratio}{bad}")
