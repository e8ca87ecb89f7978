"""``scorecast bench e2e``: one real game through the local stack, with polling fans.

Prints what the end-to-end issue asks to see: origin requests against versions and edge
requests, and how long a new version takes to reach a fan (ingest → first fan response).
"""

from __future__ import annotations

import asyncio
import json
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import httpx

from feeds.adapters import load
from feeds.replay import ReplaySettings, replay
from harness.fans import PollingFan, origin_requests, percentile, published_versions, until_final
from local.stack import LocalStack


@dataclass(frozen=True)
class E2EResult:
    fans: int
    versions: int
    edge_requests: int
    origin_requests: int
    edge_per_origin: float
    origin_requests_per_version: float
    not_modified_share: float
    fresh_p50_ms: float
    fresh_p95_ms: float
    fresh_p99_ms: float
    regressions: int
    errors: int
    final: str
    seconds: float


async def run_e2e(
    stack: LocalStack, game_file: Path, fans: int, speed: float, max_gap: float
) -> E2EResult:
    feed = load(game_file)
    crowd = [PollingFan(f"/v1/games/{feed.game_id}") for _ in range(fans)]
    stop = asyncio.Event()
    before = await origin_requests(stack.metrics_url())
    started = time.monotonic()
    limits = httpx.Limits(max_connections=fans)
    async with httpx.AsyncClient(base_url=stack.edge_url, limits=limits, timeout=10) as http:
        polling = [asyncio.create_task(fan.poll(http, stop)) for fan in crowd]
        try:
            settings = ReplaySettings(kafka_bootstrap=stack.bootstrap)
            await asyncio.to_thread(replay, feed, settings, speed, max_gap)
            await until_final(crowd)
        finally:
            stop.set()
            await asyncio.gather(*polling)
    origin = await origin_requests(stack.metrics_url()) - before
    edge = sum(fan.requests for fan in crowd)
    versions = len(await published_versions(stack.redis_url, feed.game_id))
    fresh = [lag * 1000 for fan in crowd for lag in fan.freshness]
    last = crowd[0].last
    final = "none"
    if last is not None:
        home, away = last.home, last.away
        final = f"{home.code} {home.score} - {away.score} {away.code} {last.status}"
    return E2EResult(
        fans=fans,
        versions=versions,
        edge_requests=edge,
        origin_requests=origin,
        edge_per_origin=edge / max(origin, 1),
        origin_requests_per_version=origin / max(versions, 1),
        not_modified_share=sum(f.not_modified for f in crowd) / max(edge, 1),
        fresh_p50_ms=percentile(fresh, 0.50),
        fresh_p95_ms=percentile(fresh, 0.95),
        fresh_p99_ms=percentile(fresh, 0.99),
        regressions=sum(f.went_back for f in crowd),
        errors=sum(f.errors for f in crowd),
        final=final,
        seconds=time.monotonic() - started,
    )


def main(game_file: Path, fans: int, speed: float, max_gap: float, json_path: Path | None) -> int:
    with tempfile.TemporaryDirectory(prefix="scorecast-bench-") as run_dir:
        print("starting the local stack…", flush=True)
        with LocalStack.for_load(Path(run_dir)) as stack:
            print(f"replaying {game_file.name} at {speed:g}× with {fans} polling fans…", flush=True)
            result = asyncio.run(run_e2e(stack, game_file, fans, speed, max_gap))
    rows = [
        ("fans", f"{result.fans}"),
        ("versions published", f"{result.versions}"),
        ("edge requests", f"{result.edge_requests}"),
        ("origin requests", f"{result.origin_requests}"),
        ("edge / origin", f"{result.edge_per_origin:.1f}"),
        ("origin requests per version", f"{result.origin_requests_per_version:.2f}"),
        ("304 share at the edge", f"{result.not_modified_share:.1%}"),
        ("ingest → fan p50 / p95 / p99", (
            f"{result.fresh_p50_ms:.0f} / {result.fresh_p95_ms:.0f} / {result.fresh_p99_ms:.0f} ms"
        )),
        ("versions seen going back", f"{result.regressions}"),
        ("errors", f"{result.errors}"),
        ("final", result.final),
        ("wall time", f"{result.seconds:.1f} s"),
    ]  # fmt: skip
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value}")
    if json_path is not None:
        json_path.write_text(json.dumps(asdict(result), indent=2))
    return 0
