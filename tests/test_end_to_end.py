"""A real game through the whole stack: broker → publisher → Redis → origin → Varnish → fans.

Every part is a real process started by :class:`LocalStack`, as ``scorecast up`` starts them.
"""

from __future__ import annotations

import asyncio
import random
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from scorecast.adapters import load
from scorecast.local.stack import LocalStack
from scorecast.models import Game, GameStatus
from scorecast.replay import replay
from scorecast.settings import ReplaySettings

GAME = "0022000001"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    with LocalStack(tmp_path_factory.mktemp("stack")) as local:
        yield local


@dataclass
class Fan:
    """Polls the edge with If-None-Match, as a client developer would."""

    seen: list[int] = field(default_factory=list)
    requests: int = 0
    not_modified: int = 0
    went_back: int = 0
    #: Seconds from the event entering the pipeline to this fan seeing its version.
    freshness: list[float] = field(default_factory=list)
    last: Game | None = None

    async def poll(self, http: httpx.AsyncClient, stop: asyncio.Event) -> None:
        etag = None
        while not stop.is_set():
            headers: dict[str, str] = {"If-None-Match": etag} if etag else {}
            response = await http.get(f"/v1/games/{GAME}", headers=headers)
            self.requests += 1
            if response.status_code == 304:
                self.not_modified += 1
            elif response.status_code == 200:
                game = Game.model_validate_json(response.content)
                if self.seen and game.version < self.seen[-1]:
                    self.went_back += 1
                elif not self.seen or game.version > self.seen[-1]:
                    self.seen.append(game.version)
                    if game.ingested_at is not None:
                        lag = datetime.now(UTC) - game.ingested_at
                        self.freshness.append(lag.total_seconds())
                etag = response.headers["ETag"]
                self.last = game
            await asyncio.sleep(random.uniform(0.01, 0.03))


async def _origin_requests(stack: LocalStack) -> int:
    async with httpx.AsyncClient() as http:
        text = (await http.get(f"{stack.origin_url}/metrics")).text
    found = re.findall(
        r'scorecast_origin_requests_total\{route="/v1/games/\{game_id\}",status="\d+"\} (\S+)',
        text,
    )
    return sum(int(float(count)) for count in found)


async def test_a_replayed_game_reaches_polling_fans_through_the_edge(
    stack: LocalStack, nba_file: Path
) -> None:
    feed = load(nba_file)
    fans = [Fan() for _ in range(20)]
    stop = asyncio.Event()
    settings = ReplaySettings(kafka_bootstrap=stack.bootstrap)
    before = await _origin_requests(stack)
    limits = httpx.Limits(max_connections=len(fans))
    async with httpx.AsyncClient(base_url=stack.edge_url, limits=limits, timeout=10) as http:
        polling = [asyncio.create_task(fan.poll(http, stop)) for fan in fans]
        try:
            # About 20 s of play: the game's real gaps, 500× faster, none above 0.1 s.
            await asyncio.to_thread(replay, feed, settings, 500, 0.1)
            deadline = time.monotonic() + 30
            while not all(f.last and f.last.status is GameStatus.FINAL for f in fans):
                assert time.monotonic() < deadline, "fans never saw the final"
                await asyncio.sleep(0.1)
        finally:
            stop.set()
            await asyncio.gather(*polling)
    origin = await _origin_requests(stack) - before
    versions = max(fan.seen[-1] for fan in fans)
    edge = sum(fan.requests for fan in fans)
    freshness = sorted(lag for fan in fans for lag in fan.freshness)
    print(
        f"\nversions {versions}, edge requests {edge}, origin requests {origin}, "
        f"edge/origin {edge / max(origin, 1):.1f}, "
        f"freshness p50 {freshness[len(freshness) // 2] * 1000:.0f} ms "
        f"p99 {freshness[int(len(freshness) * 0.99)] * 1000:.0f} ms"
    )
    for fan in fans:
        assert fan.last is not None
        assert (fan.last.home.code, fan.last.home.score) == ("BKN", 125)
        assert (fan.last.away.code, fan.last.away.score) == ("GSW", 99)
        assert fan.last.status is GameStatus.FINAL
        assert fan.went_back == 0
        assert fan.seen == sorted(fan.seen)
        assert fan.not_modified > 0
    assert stack.dead() == []
    # Origin load follows the versions, not the fans: each version costs the origin about one
    # request (the background refresh after its purge), whatever the number of fans.
    assert origin <= versions * 1.5 + 5
    assert edge >= 5 * origin
    # A generous bound: shared CI machines are noisy; the bench reports the real figures.
    assert freshness[-1] < 5.0
