"""A real game through the whole stack: broker → publisher → Redis → origin → Varnish → fans.

Every part is a real process started by :class:`LocalStack`, as ``scorecast up`` starts them.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
import pytest
from redis.asyncio import Redis

from bench.e2e import run_e2e
from core.reducer import versions
from core.store import SnapshotWriter
from local.stack import LocalStack
from tests.factories import short_game

#: Starts real services or processes of its own (see ``SERVICE_FIXTURES`` in conftest).
pytestmark = pytest.mark.stack


async def test_a_replayed_game_reaches_polling_fans_through_the_edge(
    stack: LocalStack, nba_file: Path
) -> None:
    # About 20 s of play: the game's real gaps, 500× faster, none above 0.1 s.
    result = await run_e2e(stack, nba_file, fans=20, speed=500, max_gap=0.1)
    print(f"\n{result}")
    assert result.final == "BKN 125 - 99 GSW FINAL"
    assert result.regressions == 0
    assert result.errors == 0
    assert result.versions > 50
    assert stack.dead() == []
    # Conditional polling through the edge: most answers are 304s carrying the ETag.
    assert result.not_modified_share > 0.05
    # Origin load follows the versions, not the fans: each version costs the origin about one
    # request (the background refresh after its purge), whatever the number of fans.
    assert result.origin_requests <= result.versions * 1.5 + 5
    assert result.edge_requests >= 5 * result.origin_requests
    # A generous bound: shared CI machines are noisy; `scorecast bench e2e` reports the figures.
    assert result.fresh_p99_ms < 5000


async def test_a_follower_registered_at_the_edge_is_told_of_a_score(stack: LocalStack) -> None:
    """The whole notification path on the stack: a device registered and following through
    the edge, a score written, the notifier (a process) telling the APNs stand-in (another)."""
    standins = stack.standins or stack.start_notifier()
    token = "cd" * 32
    written = versions(None, short_game("notify1")).versions
    redis = Redis.from_url(stack.redis_url)
    async with redis, httpx.AsyncClient(base_url=stack.edge_url, timeout=10) as edge:
        store = SnapshotWriter(redis, stack.keys, changes_maxlen=10_000)
        await store.write(written[0])
        made = (
            await edge.post("/v1/devices", json={"device": {"platform": "apns", "token": token}})
        ).json()
        auth = {"Authorization": f"Bearer {made['secret']}"}
        url = f"/v1/devices/{made['device_id']}/follows"
        assert (await edge.put(url, json={"games": ["notify1"]}, headers=auth)).status_code == 200
        await store.write(written[1])  # the first basket: a lead
        deadline = time.monotonic() + 30
        while True:
            stats = (await edge.get(standins.stats_url)).json()
            if stats["apns"]["devices"] >= 1:
                break
            assert time.monotonic() < deadline, stats
            await asyncio.sleep(0.2)
    assert stats["apns"]["messages"] == 1
    assert stats["refused"]["apns"] == 0


async def test_a_fan_registers_a_device_and_follows_a_game_through_the_edge(
    stack: LocalStack,
) -> None:
    """The registration API behind the edge: passed, never cached, its own CORS preflight,
    rate-limited per client (60 calls a minute; the module's last test, as it uses them up)."""
    redis = Redis.from_url(stack.redis_url)
    async with redis:
        store = SnapshotWriter(redis, stack.keys, changes_maxlen=10_000)
        await store.write(versions(None, short_game("dev1")).versions[0])
    device = {"platform": "apns", "token": "ab" * 32}
    async with httpx.AsyncClient(base_url=stack.edge_url, timeout=10) as edge:
        preflight = await edge.options(
            "/v1/devices/x/follows",
            headers={
                "Origin": "https://fans.example",
                "Access-Control-Request-Method": "PUT",
                "Access-Control-Request-Headers": "authorization, content-type",
            },
        )
        assert preflight.status_code == 200, preflight.text
        assert "PUT" in preflight.headers["access-control-allow-methods"]
        assert "authorization" in preflight.headers["access-control-allow-headers"].lower()
        made = await edge.post("/v1/devices", json={"device": device})
        assert made.status_code == 201, made.text
        assert made.headers["cache-control"] == "no-store"
        auth = {"Authorization": f"Bearer {made.json()['secret']}"}
        url = f"/v1/devices/{made.json()['device_id']}/follows"
        followed = await edge.put(url, json={"games": ["dev1"]}, headers=auth)
        assert followed.json() == {"games": ["dev1"], "teams": []}
        for _ in range(2):  # asked twice: each answered by the API itself, never a cached copy
            read = await edge.get(url, headers=auth)
            assert read.json()["games"] == ["dev1"]
            assert read.headers.get("x-cache") != "HIT"
        assert (await edge.get(url)).status_code == 401  # no credential: the edge kept none
        statuses = [
            (await edge.post("/v1/devices", json={"device": device})).status_code for _ in range(70)
        ]
    assert 429 in statuses
    assert statuses.count(201) <= 60
