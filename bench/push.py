"""``scorecast bench push``: SSE fans held by the stream tier (the edge redirects them there),
during a replayed game.

Measures what the push issue asks: every client gets every version in order, the origin sees one
request per connect, and how long a version takes to reach the first and the last client.
"""

from __future__ import annotations

import asyncio
import json
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from feeds.adapters import Feed, load
from feeds.replay import ReplaySettings, replay
from harness.fans import ingest_times, origin_requests, percentile, published_versions, schedule
from harness.sse import address, open_stream
from local.stack import LocalStack

STREAM_ROUTE = "/v1/games/{game_id}/stream"


@dataclass
class _Fan:
    ids: list[int] = field(default_factory=list)
    arrivals: list[float] = field(default_factory=list)
    error: str = ""


@dataclass(frozen=True)
class PushResult:
    clients: int
    versions: int
    complete: int
    out_of_order: int
    errors: int
    origin_stream_requests: int
    ingest_to_first_p50_ms: float
    ingest_to_last_p50_ms: float
    ingest_to_last_p99_ms: float
    first_to_last_p50_ms: float
    first_to_last_p99_ms: float
    seconds: float


async def _listen(host: str, port: int, path: str, fan: _Fan, connected: asyncio.Event) -> None:
    try:
        stream = await open_stream(host, port, path)
    except (OSError, ConnectionError, TimeoutError) as exc:
        fan.error = f"connect: {exc}"
        connected.set()
        return
    try:
        if stream.status != 200:
            fan.error = f"status {stream.status}"
            return
        async for event in stream:
            if event.id is None:
                continue
            fan.ids.append(event.id)
            fan.arrivals.append(event.at)
            connected.set()
            if event.event == "final":
                return
    finally:
        connected.set()
        stream.close()


async def run_push(
    stack: LocalStack, feed: Feed, clients: int, speed: float, max_gap: float
) -> PushResult:
    started = time.monotonic()
    settings = ReplaySettings(kafka_bootstrap=stack.bootstrap)
    host, port = address(stack.edge_url)
    path = f"/v1/games/{feed.game_id}/stream"
    await schedule(stack.edge_url, stack.bootstrap, feed)
    before = await origin_requests(stack.metrics_url(), STREAM_ROUTE)
    fans = [_Fan() for _ in range(clients)]
    tasks = []
    # Ramp the connects: Pushpin's queue to its HTTP client holds 100 requests at a time.
    for start in range(0, clients, 100):
        batch = []
        for fan in fans[start : start + 100]:
            connected = asyncio.Event()
            tasks.append(asyncio.create_task(_listen(host, port, path, fan, connected)))
            batch.append(connected.wait())
        await asyncio.wait_for(asyncio.gather(*batch), 60)
    connects = await origin_requests(stack.metrics_url(), STREAM_ROUTE) - before
    await asyncio.to_thread(replay, feed, settings, speed, max_gap)
    await asyncio.wait_for(asyncio.gather(*tasks), 120)
    # How long each version took, from the event entering the pipeline to the fans.
    published = await published_versions(stack.redis_url, feed.game_id)
    ingested = await ingest_times(stack.origin_url, feed.game_id, published)
    wall_offset = time.time() - time.monotonic()
    first_seen: dict[int, float] = {}
    last_seen: dict[int, float] = {}
    for fan in fans:
        for event_id, at in zip(fan.ids, fan.arrivals, strict=True):
            first_seen[event_id] = min(first_seen.get(event_id, at), at)
            last_seen[event_id] = max(last_seen.get(event_id, at), at)
    to_first, to_last, spread = [], [], []
    for version, entered in ingested.items():
        if version in first_seen:
            to_first.append((first_seen[version] + wall_offset - entered) * 1000)
            to_last.append((last_seen[version] + wall_offset - entered) * 1000)
            spread.append((last_seen[version] - first_seen[version]) * 1000)
    # Every version from the one a fan connected at onwards, none missing, none twice.
    complete = sum(1 for f in fans if f.ids and f.ids == [v for v in published if v >= f.ids[0]])
    return PushResult(
        clients=clients,
        versions=len(published),
        complete=complete,
        out_of_order=sum(1 for f in fans if f.ids != sorted(set(f.ids))),
        errors=sum(1 for f in fans if f.error),
        origin_stream_requests=connects,
        ingest_to_first_p50_ms=percentile(to_first, 0.5),
        ingest_to_last_p50_ms=percentile(to_last, 0.5),
        ingest_to_last_p99_ms=percentile(to_last, 0.99),
        first_to_last_p50_ms=percentile(spread, 0.5),
        first_to_last_p99_ms=percentile(spread, 0.99),
        seconds=time.monotonic() - started,
    )


def main(
    game_file: Path, clients: list[int], speed: float, max_gap: float, json_path: Path | None
) -> int:
    feed = load(game_file)
    results = []
    for count in clients:
        with tempfile.TemporaryDirectory(prefix="scorecast-bench-") as run_dir:
            print(f"starting the local stack for {count} SSE clients…", flush=True)
            with LocalStack.for_load(Path(run_dir)) as stack:
                results.append(asyncio.run(run_push(stack, feed, count, speed, max_gap)))
    names = list(asdict(results[0]))
    width = max(len(name) for name in names)
    for name in names:
        values = "  ".join(f"{_fmt(getattr(r, name)):>12}" for r in results)
        print(f"{name:<{width}}  {values}")
    if json_path is not None:
        json_path.write_text(json.dumps([asdict(r) for r in results], indent=2))
    return 0


def _fmt(value: object) -> str:
    return f"{value:.1f}" if isinstance(value, float) else str(value)
