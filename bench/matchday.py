"""``scripts/bench matchday``: many games live at once through the whole stack.

The recorded games are replayed under distinct ids (``md007-0022000001``…), each starting a
little after the one before, all through one local stack with several publishers in one
consumer group over a multi-partition topic, sharded change streams, one purger, Varnish and
the stream tier. A polling crowd is spread over the games (each fan follows one game and
refreshes when it scores); a probe per game finds when the edge starts serving each version.

Printed: events/s and versions/s through the publishers, ingest → edge-fresh per game and
overall, origin fetches per change, Redis memory per game, publisher memory over the run, CPU
per service, regressions, errors, and events lost (each game's last version compared with a
clean fold of its feed, and sequences a publisher gave up waiting for).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx
from confluent_kafka import Producer
from redis.asyncio import Redis

from bench.crowd import CrowdPlan, await_all, close_crowds, start_crowds
from bench.table import busiest, kinds, ms, print_table
from core import changes
from core.models import Game
from core.reducer import fold
from core.store import SnapshotReader
from feeds.adapters import Feed
from feeds.replay import ReplaySettings
from harness.fans import counted, earliest, merged_counts, origin_requests, percentile, since
from harness.sse import address
from harness.timeline import TimelineProducer, matchday_feeds, schedule_of
from local.stack import LocalStack
from runtime.kafka import Delivery, producer_config

GAME_ROUTE = "/v1/games/{game_id}"


@dataclass(frozen=True)
class MatchdayOptions:
    #: Replay pace (1: real time) and the longest wait between two events of one game.
    speed: float = 60.0
    max_gap: float = 2.0
    #: Seconds over which the games start, one after another.
    stagger: float = 60.0
    #: Polling fans, spread evenly over the games.
    fans: int = 2000
    interval: float = 5.0
    spread: float = 0.5
    #: Probe polls a second over all games together (each game's probe polls every
    #: ``games / probe_rate`` seconds): edge-fresh figures include up to that wait.
    probe_rate: float = 2000.0
    publishers: int = 2
    shards: int = 4
    workers: int = 2
    #: Bound on one run.
    seconds: float = 3600.0


@dataclass(frozen=True)
class GameFigures:
    game_id: str
    events: int
    versions: int
    fresh_p50_ms: float
    fresh_p99_ms: float
    #: The last version differs from a clean fold of the game's feed.
    diverged: bool


@dataclass(frozen=True)
class MatchdayResult:
    games: int
    publishers: int
    shards: int
    fans: int
    probe_interval_s: float
    events: int
    versions: int
    replay_seconds: float
    events_per_second: float
    versions_per_second: float
    fresh_p50_ms: float
    fresh_p99_ms: float
    #: Where edge-fresh time goes: ingest → announced (broker, publishers, Redis), then
    #: announced → first probe answer carrying the version (purger, edge, origin refetch).
    announce_p50_ms: float
    announce_p99_ms: float
    #: Ingest → announced p99 of the versions whose event entered in each 30 s of the replay:
    #: when the pipeline fell behind, and whether it caught up.
    announce_p99_by_30s_ms: list[float]
    #: Ingest → edge-fresh p50 and p99 of the versions whose event entered in each 30 s: the
    #: floor once the pipeline keeps up (the probe's own wait is half its interval on average).
    fresh_p50_by_30s_ms: list[float]
    fresh_p99_by_30s_ms: list[float]
    purge_to_fresh_p50_ms: float
    purge_to_fresh_p99_ms: float
    #: The per-game p99s: their median and the worst game's.
    game_fresh_p99_median_ms: float
    game_fresh_p99_worst_ms: float
    origin_fetches: int
    origin_fetches_per_change: float
    #: Games the purger's second look found held fresh at an older version (a refresh under
    #: way across the purge) and purged again: each such version waited for that look.
    repurged: int
    poll_requests: int
    offload: float
    poll_p99_ms: float
    redis_memory_mb: float
    redis_kb_per_game: float
    publisher_rss_mb: dict[str, float]
    publisher_rss_peak_mb: float
    service_cpu_seconds: dict[str, float]
    #: All the services' CPU seconds over the versions written, per 1,000.
    cpu_seconds_per_1000_versions: float
    #: The same per 1,000 events: a pipeline that falls behind folds more events into one
    #: version, which makes it look cheaper per version.
    cpu_seconds_per_1000_events: float
    #: Cores the services kept busy in each 30 s of the replay (two on this machine is all):
    #: all of them, and the broker's share (it grows with what it holds).
    cores_by_30s: list[float]
    broker_cores_by_30s: list[float]
    #: CPU the fans and probes used, in cores busy on average over the replay.
    client_cores: float
    regressions: int
    errors: int
    error_kinds: dict[str, int]
    #: Games whose last version differs from the fold of their feed, and sequences the
    #: publishers gave up waiting for.
    games_diverged: int
    sequences_skipped: int
    events_lost: int
    seconds: float
    per_game: list[GameFigures] = field(repr=False)
    #: (seconds into the replay, publishers' RSS MB, Redis used MB), sampled every second.
    memory_timeline: list[tuple[float, float, float]] = field(repr=False)
    fresh_ms: list[float] = field(repr=False)


async def run_matchday(
    stack: LocalStack, feeds: list[Feed], options: MatchdayOptions
) -> MatchdayResult:
    started = time.monotonic()
    settings = ReplaySettings(kafka_bootstrap=stack.bootstrap)
    producer = Producer(producer_config(settings))
    paths = [f"/v1/games/{feed.game_id}" for feed in feeds]
    redis = Redis.from_url(stack.redis_url)
    reader = SnapshotReader(redis, stack.keys)
    try:
        redis_before = await _used_memory(redis)
        await _schedule(reader, feeds, producer, settings.events_topic)
        before = await _latest_versions(reader, feeds)
        fetches_before = await origin_requests(stack.metrics_url(), GAME_ROUTE)
        repurged_before = await counted(stack.metrics_url("purger"), _REPURGED)
        cpu_before = {name: p.cpu_seconds() for name, p in stack.processes.items()}
        host, port = address(stack.edge_url)
        # Not more often than every 10 ms a game: a probe finds what the edge serves, not load.
        probe_interval = max(0.01, len(feeds) / options.probe_rate)
        plan = CrowdPlan(
            host=host,
            port=port,
            stream_port=port,
            game_paths=tuple(paths),
            stream_path="",
            pollers=options.fans,
            sse=0,
            interval=options.interval,
            spread=options.spread,
            probe_interval=probe_interval,
            seconds=options.seconds,
            seed=0,
        )
        crowds = start_crowds(plan, options.workers)
        try:
            await asyncio.to_thread(await_all, crowds, "ready", 180)
            ready_at = time.time()

            def scored(index: int) -> None:
                for conductor, _ in crowds:
                    conductor.send(("spike", paths[index]))

            events = schedule_of(feeds, options.speed, options.max_gap, options.stagger)
            producing = TimelineProducer(producer, settings.events_topic, events, scored)
            replaying = asyncio.create_task(asyncio.to_thread(producing.run))
            cpu_timeline: list[tuple[float, dict[str, float]]] = []
            timeline = await _sample_usage(stack, redis, replaying, cpu_timeline)
            await replaying
            last = await _until_published(reader, feeds)
            await _until_served(stack, feeds, last)
            await asyncio.sleep(options.interval * 1.5)  # every fan polls once more
            for conductor, _ in crowds:
                conductor.send(("stop", []))
            reports = list(await asyncio.to_thread(await_all, crowds, "report", 300, ("stop", [])))
        finally:
            close_crowds(crowds)
        cpu = {
            name: round(p.cpu_seconds() - cpu_before.get(name, 0.0), 2)
            for name, p in stack.processes.items()
        }
        publisher_rss = {
            name: round(p.rss_bytes() / 2**20, 1)
            for name, p in stack.processes.items()
            if name.startswith("publisher")
        }
        fetches = await origin_requests(stack.metrics_url(), GAME_ROUTE) - fetches_before
        repurged = await counted(stack.metrics_url("purger"), _REPURGED) - repurged_before
        redis_after = await _used_memory(redis)
        per_game: list[GameFigures] = []
        fresh_all: list[float] = []
        announced_all = await _announce_times(redis, stack)
        pipeline: list[float] = []
        #: (seconds into the replay the version's event entered, ingest → announced ms).
        pipeline_at: list[tuple[float, float]] = []
        fresh_at: list[tuple[float, float]] = []
        purge: list[float] = []
        for index, feed in enumerate(feeds):
            bodies = await reader.versions(feed.game_id, before[index] + 1, last[index])
            ingested = {
                version: stamp
                for version, body in bodies
                if (stamp := _ingested(body)) is not None and stamp >= ready_at
            }
            seen = earliest([report.first_seen.get(paths[index], {}) for report in reports])
            fresh = since(ingested, seen)
            fresh_all += fresh
            fresh_at += [
                (stamp - ready_at, (seen[v] - stamp) * 1000)
                for v, stamp in ingested.items()
                if v in seen
            ]
            announced = announced_all.get(feed.game_id, {})
            pipeline += since(ingested, announced)
            pipeline_at += [
                (stamp - ready_at, (announced[v] - stamp) * 1000)
                for v, stamp in ingested.items()
                if v in announced
            ]
            purge += since({v: announced[v] for v in ingested if v in announced}, seen)
            latest = await reader.latest(feed.game_id)
            per_game.append(
                GameFigures(
                    game_id=feed.game_id,
                    events=len(feed.events),
                    # Written and announced (a version's number is its newest event's
                    # sequence + 1, so numbers skip where events shared a version).
                    versions=sum(1 for v in announced if v > before[index]),
                    fresh_p50_ms=percentile(fresh, 0.50),
                    fresh_p99_ms=percentile(fresh, 0.99),
                    diverged=latest is None or _diverged(latest.body, feed),
                )
            )
    finally:
        await redis.aclose()
    skipped = _skipped_sequences(stack)
    versions = sum(g.versions for g in per_game)
    requests = sum(r.requests for r in reports)
    game_p99 = [g.fresh_p99_ms for g in per_game if g.fresh_p99_ms == g.fresh_p99_ms]
    diverged = sum(g.diverged for g in per_game)
    return MatchdayResult(
        games=len(feeds),
        publishers=options.publishers,
        shards=options.shards,
        fans=options.fans,
        probe_interval_s=probe_interval,
        events=len(events),
        versions=versions,
        replay_seconds=producing.seconds,
        events_per_second=len(events) / producing.seconds,
        versions_per_second=versions / producing.seconds,
        fresh_p50_ms=percentile(fresh_all, 0.50),
        fresh_p99_ms=percentile(fresh_all, 0.99),
        announce_p50_ms=percentile(pipeline, 0.50),
        announce_p99_ms=percentile(pipeline, 0.99),
        announce_p99_by_30s_ms=_by_window(pipeline_at, 30.0),
        fresh_p50_by_30s_ms=_by_window(fresh_at, 30.0, 0.50),
        fresh_p99_by_30s_ms=_by_window(fresh_at, 30.0),
        purge_to_fresh_p50_ms=percentile(purge, 0.50),
        purge_to_fresh_p99_ms=percentile(purge, 0.99),
        game_fresh_p99_median_ms=percentile(game_p99, 0.50),
        game_fresh_p99_worst_ms=max(game_p99, default=float("nan")),
        origin_fetches=fetches,
        origin_fetches_per_change=fetches / max(versions, 1),
        repurged=int(repurged),
        poll_requests=requests,
        offload=1 - fetches / max(requests + sum(r.probe_requests for r in reports), 1),
        poll_p99_ms=percentile([ms for r in reports for ms in r.response_ms], 0.99),
        redis_memory_mb=redis_after / 2**20,
        redis_kb_per_game=(redis_after - redis_before) / 1024 / len(feeds),
        publisher_rss_mb=publisher_rss,
        publisher_rss_peak_mb=max((rss for _, rss, _ in timeline), default=0.0),
        service_cpu_seconds=cpu,
        cpu_seconds_per_1000_versions=round(1000 * sum(cpu.values()) / max(versions, 1), 2),
        cpu_seconds_per_1000_events=round(1000 * sum(cpu.values()) / max(len(events), 1), 2),
        cores_by_30s=_cores_by_window(cpu_timeline, 30.0),
        broker_cores_by_30s=_cores_by_window(cpu_timeline, 30.0, "broker"),
        regressions=sum(r.regressions for r in reports),
        errors=sum(r.errors for r in reports),
        error_kinds=merged_counts([r.error_kinds for r in reports]),
        games_diverged=diverged,
        sequences_skipped=skipped,
        events_lost=skipped + diverged,
        client_cores=sum(r.cpu_seconds for r in reports) / producing.seconds,
        seconds=time.monotonic() - started,
        per_game=per_game,
        memory_timeline=timeline,
        fresh_ms=fresh_all,
    )


async def _schedule(
    reader: SnapshotReader, feeds: list[Feed], producer: Producer, topic: str
) -> None:
    """Every game's first event (its schedule), then until every game is stored: fans arrive at
    scheduled games, as on a real match day."""
    delivery = Delivery(producer)
    for feed in feeds:
        delivery.send_event(topic, feed.events[0])
    delivery.check(60, "the schedules")
    deadline = time.monotonic() + 120
    for feed in feeds:
        while await reader.latest(feed.game_id) is None:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{feed.game_id} was not scheduled within 120 s")
            await asyncio.sleep(0.05)


async def _latest_versions(reader: SnapshotReader, feeds: list[Feed]) -> list[int]:
    found = []
    for feed in feeds:
        latest = await reader.latest(feed.game_id)
        found.append(latest.version if latest else 0)
    return found


async def _until_published(reader: SnapshotReader, feeds: list[Feed]) -> list[int]:
    """Each game's last version, once every game has its final event applied (or 120 s)."""
    deadline = time.monotonic() + 120
    while True:
        done = []
        for feed in feeds:
            latest = await reader.latest(feed.game_id)
            sequence = json.loads(latest.body)["sequence"] if latest else -1
            done.append(sequence >= feed.events[-1].sequence)
        if all(done) or time.monotonic() > deadline:
            if not all(done):
                print(f"warning: {done.count(False)} games unfinished", file=sys.stderr)
            return await _latest_versions(reader, feeds)
        await asyncio.sleep(0.5)


async def _until_served(stack: LocalStack, feeds: list[Feed], last: list[int]) -> None:
    """Until the edge serves every game's last version (60 s at most); names those it did not."""
    deadline = time.monotonic() + 60
    behind: list[str] = []
    async with httpx.AsyncClient(base_url=stack.edge_url, timeout=5) as http:
        for feed, version in zip(feeds, last, strict=True):
            served = None
            while time.monotonic() < deadline:
                answer = await http.get(f"/v1/games/{feed.game_id}")
                served = answer.json().get("version") if answer.status_code == 200 else None
                if served is not None and served >= version:
                    break
                await asyncio.sleep(0.05)
            else:
                held = "?" if served is None else served
                behind.append(f"{feed.game_id} (v{held} of v{version})")
    if behind:
        shown = ", ".join(behind[:5]) + (" …" if len(behind) > 5 else "")
        print(f"warning: the edge did not serve every last version: {shown}", file=sys.stderr)


async def _sample_usage(
    stack: LocalStack,
    redis: Redis,
    replaying: asyncio.Task[None],
    cpu: list[tuple[float, dict[str, float]]],
) -> list[tuple[float, float, float]]:
    """Every second of the replay: the publishers' RSS and Redis's memory (returned), and each
    service's CPU seconds so far (added to ``cpu``)."""
    started = time.monotonic()
    samples = []
    while not replaying.done():
        rss = sum(
            p.rss_bytes() for name, p in stack.processes.items() if name.startswith("publisher")
        )
        at = time.monotonic() - started
        cpu.append((at, {name: p.cpu_seconds() for name, p in stack.processes.items()}))
        samples.append((at, rss / 2**20, await _used_memory(redis) / 2**20))
        await asyncio.wait({replaying}, timeout=1.0)
    return samples


def _cores_by_window(
    samples: list[tuple[float, dict[str, float]]], seconds: float, only: str | None = None
) -> list[float]:
    """Cores busy in each ``seconds`` of time, from cumulative CPU samples: every service's,
    or the one named ``only``."""

    def used(at: tuple[float, dict[str, float]]) -> float:
        return sum(v for name, v in at[1].items() if only is None or name == only)

    firsts: dict[int, tuple[float, dict[str, float]]] = {}
    for sample in samples:
        firsts.setdefault(int(sample[0] // seconds), sample)
    bounds = [firsts[w] for w in sorted(firsts)] + samples[-1:]
    cores = []
    for begin, end in itertools.pairwise(bounds):
        if end[0] > begin[0]:
            cores.append(round((used(end) - used(begin)) / (end[0] - begin[0]), 2))
    return cores


async def _announce_times(redis: Redis, stack: LocalStack) -> dict[str, dict[int, float]]:
    """Game → version → when it was announced: its change stream entry's id is Redis's clock
    at the write (epoch seconds)."""
    found: dict[str, dict[int, float]] = {}
    for stream in stack.keys.change_streams:
        read = changes.parse([(stream, await redis.xrange(stream))])
        for entry in read.announcements:
            if entry.kind == changes.VERSION:
                at = int(entry.id.split("-")[0]) / 1000
                for version in entry.versions:  # a batch's versions share one entry
                    found.setdefault(entry.game_id, {})[version] = at
    return found


_REPURGED = "scorecast_purge_repurged_total"


def _by_window(
    samples: list[tuple[float, float]], seconds: float, share: float = 0.99
) -> list[float]:
    """The percentile ``share`` of the values in each ``seconds`` of time, in order."""
    windows: dict[int, list[float]] = {}
    for at, value in samples:
        windows.setdefault(max(0, int(at // seconds)), []).append(value)
    return [round(percentile(windows[w], share), 0) for w in sorted(windows)]


async def _used_memory(redis: Redis) -> int:
    info = await redis.info("memory")
    return int(info["used_memory"])


def _ingested(body: bytes) -> float | None:
    game = Game.model_validate_json(body)
    return game.ingested_at.timestamp() if game.ingested_at is not None else None


def _diverged(body: bytes, feed: Feed) -> bool:
    """The stored last version against a clean fold of the whole feed (box score aside: the
    snapshot body leaves it out)."""
    expected = fold(feed.events)
    assert expected is not None
    kept = {"version", "ingested_at", "change", "box"}
    stored = Game.model_validate_json(body).model_dump(exclude=kept)
    return bool(stored != expected.model_dump(exclude=kept))


def _skipped_sequences(stack: LocalStack) -> int:
    """Sequences the publishers gave up waiting for, from their logs."""
    skipped = 0
    for name, process in stack.processes.items():
        if name.startswith("publisher") and process.log.exists():
            text = process.log.read_text(errors="replace")
            for found in re.findall(r"gave up waiting for sequences \[([^\]]*)\]", text):
                skipped += len([s for s in found.split(",") if s.strip()])
    return skipped


def main(
    files: list[Path],
    games: list[int],
    options: MatchdayOptions,
    json_path: Path | None,
    plots: Path | None,
) -> int:
    results: list[MatchdayResult] = []
    for count in games:
        feeds = matchday_feeds(files, count)
        with tempfile.TemporaryDirectory(prefix="scorecast-matchday-") as run_dir:
            print(f"starting the local stack for {count} games…", flush=True)
            stack = LocalStack.for_load(Path(run_dir), change_shards=options.shards)
            with stack:
                for number in range(2, options.publishers + 1):
                    stack.start_publisher(f"publisher-{number}")
                results.append(asyncio.run(run_matchday(stack, feeds, options)))
        _print(results[-1:])
    if len(results) > 1:
        print()
        _print(results)
    if json_path is not None:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps(summary(results), indent=2))
    if plots is not None:
        from bench.plots import plot_matchday

        for path in plot_matchday(results, plots):
            print(f"wrote {path}")
    bad = [r for r in results if r.regressions or r.errors or r.events_lost]
    return 1 if bad else 0


def summary(results: list[MatchdayResult]) -> dict[str, Any]:
    """The JSON result: the largest run's figures at the top, every run below."""
    runs = []
    for result in results:
        run = {k: v for k, v in asdict(result).items() if k not in ("fresh_ms", "memory_timeline")}
        runs.append(run)
    top = {k: v for k, v in runs[-1].items() if k != "per_game"} if runs else {}
    return {**top, "runs": runs}


def _cores(result: MatchdayResult) -> str:
    return " ".join(
        f"{cores:.1f} ({broker:.1f})"
        for cores, broker in zip(result.cores_by_30s, result.broker_cores_by_30s, strict=False)
    )


def _print(results: list[MatchdayResult]) -> None:
    rows: list[tuple[str, Callable[[MatchdayResult], str]]] = [
        ("games / publishers / shards", lambda r: f"{r.games} / {r.publishers} / {r.shards}"),
        ("polling fans (probe every)", lambda r: f"{r.fans} ({r.probe_interval_s * 1000:.0f} ms)"),
        ("events / versions", lambda r: f"{r.events} / {r.versions}"),
        ("replay", lambda r: f"{r.replay_seconds:.0f} s"),
        ("events/s / versions/s", lambda r: f"{r.events_per_second:.0f} / {r.versions_per_second:.0f}"),  # noqa: E501
        ("ingest → edge-fresh p50/p99", lambda r: ms(r.fresh_p50_ms, r.fresh_p99_ms)),
        (
            "  … p50 / p99 per 30 s",
            lambda r: " ".join(
                f"{p50 / 1000:.2f}/{p99 / 1000:.1f}"
                for p50, p99 in zip(r.fresh_p50_by_30s_ms, r.fresh_p99_by_30s_ms, strict=True)
            )
            + " s",
        ),
        ("  ingest → announced p50/p99", lambda r: ms(r.announce_p50_ms, r.announce_p99_ms)),
        (
            "  … p99 per 30 s of replay",
            lambda r: " ".join(f"{v / 1000:.1f}" for v in r.announce_p99_by_30s_ms) + " s",
        ),
        ("  announced → fresh p50/p99", lambda r: ms(r.purge_to_fresh_p50_ms, r.purge_to_fresh_p99_ms)),  # noqa: E501
        ("  per-game p99 median/worst", lambda r: ms(r.game_fresh_p99_median_ms, r.game_fresh_p99_worst_ms)),  # noqa: E501
        ("origin fetches (per change)", lambda r: f"{r.origin_fetches} ({r.origin_fetches_per_change:.3f})"),  # noqa: E501
        ("purged again (per version)", lambda r: f"{r.repurged} ({r.repurged / max(r.versions, 1):.2%})"),  # noqa: E501
        ("fan polls, offload", lambda r: f"{r.poll_requests}, {r.offload:.2%}"),
        ("poll answer p99", lambda r: ms(r.poll_p99_ms)),
        ("Redis used / per game", lambda r: f"{r.redis_memory_mb:.0f} MB / {r.redis_kb_per_game:.0f} KB"),  # noqa: E501
        ("publisher RSS end (peak sum)", lambda r: _rss(r)),
        ("services CPU s", lambda r: busiest(r.service_cpu_seconds, 4, 5)),
        ("  and the rest", lambda r: busiest(r.service_cpu_seconds, 99, 5, skip=4)),
        ("  per 1,000 versions (events)", lambda r: f"{r.cpu_seconds_per_1000_versions:.2f} s ({r.cpu_seconds_per_1000_events:.2f} s)"),  # noqa: E501
        ("  cores per 30 s (broker)", lambda r: _cores(r)),
        ("fans' CPU (cores)", lambda r: f"{r.client_cores:.2f}"),
        ("versions seen going back", lambda r: f"{r.regressions}"),
        ("errors", lambda r: f"{r.errors} ({kinds(r.error_kinds)})" if r.errors else "0"),
        ("events lost (diverged, skipped)", lambda r: f"{r.events_lost} ({r.games_diverged}, {r.sequences_skipped})"),  # noqa: E501
        ("wall time", lambda r: f"{r.seconds:.0f} s"),
    ]  # fmt: skip
    print_table(rows, results, 28)


def _rss(result: MatchdayResult) -> str:
    each = "+".join(f"{mb:.0f}" for mb in result.publisher_rss_mb.values())
    return f"{each} MB ({result.publisher_rss_peak_mb:.0f})"
