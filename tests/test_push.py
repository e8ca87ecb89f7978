"""Push through the whole local stack, with each stream tier: the edge redirects streams to
Nchan or Pushpin, which holds them; the publisher publishes each version once; the origin only
answers the connects."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import httpx
import jwt
import pytest

from bench.push import run_push
from feeds.adapters import Feed, load
from feeds.replay import ReplaySettings, replay
from harness.sse import open_url
from local.stack import LocalStack
from tests.helpers import eventually


@pytest.fixture(scope="module", params=["nchan", "pushpin"])
def stack(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LocalStack]:
    """The load stack, with a publisher that pushes every version however far behind it runs:
    these tests are about every client getting every version in order. On a machine this
    test's 2,000 clients keep busy the pipeline can fall seconds behind, and past the default
    2 s the publisher (rightly) pushes only a game's newest version; freshness is measured by
    the benchmarks, not asserted here."""
    with LocalStack.for_load(
        tmp_path_factory.mktemp("stack"), push_max_age_seconds=120, holder=request.param
    ) as local:
        yield local


async def test_two_thousand_sse_clients_each_get_every_version_in_order(
    stack: LocalStack, nba_file: Path
) -> None:
    result = await run_push(stack, load(nba_file), clients=2000, speed=2000, max_gap=0.05)
    print(f"\n{result}")
    assert result.errors == 0
    assert result.versions > 10
    assert result.complete == 2000
    assert result.out_of_order == 0
    # One origin request per connect, none per update: the stream tier held them all.
    assert result.origin_stream_requests == 2000


def _game(events: Feed, upto: int) -> Feed:
    return Feed(events.format, events.game_id, events.events[:upto])


async def test_a_reconnecting_client_gets_exactly_what_it_missed(
    stack: LocalStack, data_dir: Path
) -> None:
    feed = load(data_dir / "hockey/nhl-apiweb-pbp_2023020001.json")
    settings = ReplaySettings(kafka_bootstrap=stack.bootstrap)
    path = f"/v1/games/{feed.game_id}/stream"

    async def published(version: int) -> bool:
        async with httpx.AsyncClient(base_url=stack.edge_url, timeout=5) as http:
            response = await http.get(f"/v1/games/{feed.game_id}/versions/{version}")
            return response.status_code == 200

    # One event at a time, so that each becomes its own version.
    for upto in range(1, 4):
        await asyncio.to_thread(replay, _game(feed, upto), settings, 0, 0)
        await eventually(partial(published, upto))
    first = await open_url(stack.edge_url, path)
    seen = await first.take(1)
    first.close()
    for upto in range(4, 7):
        await asyncio.to_thread(replay, _game(feed, upto), settings, 0, 0)
        await eventually(partial(published, upto))
    again = await open_url(stack.edge_url, path, {"Last-Event-ID": str(seen[0].id)})
    missed = await again.take(3)
    again.close()
    assert [event.id for event in missed] == [4, 5, 6]


async def test_long_poll_through_the_edge_is_held_then_answered(
    stack: LocalStack, data_dir: Path
) -> None:
    feed = load(data_dir / "soccer/statsbomb_15986.json")
    settings = ReplaySettings(kafka_bootstrap=stack.bootstrap)
    await asyncio.to_thread(replay, _game(feed, 1), settings, 0, 0)
    async with httpx.AsyncClient(
        base_url=stack.edge_url, timeout=30, follow_redirects=True
    ) as http:
        for _ in range(200):
            if (await http.get(f"/v1/games/{feed.game_id}")).status_code == 200:
                break
            await asyncio.sleep(0.05)
        held = asyncio.create_task(http.get(f"/v1/games/{feed.game_id}?after=1"))
        await asyncio.sleep(0.5)
        assert not held.done()
        await asyncio.to_thread(replay, _game(feed, 2), settings, 0, 0)
        response = await asyncio.wait_for(held, 20)
    assert response.status_code == 200
    assert response.headers["ETag"] == '"v2"'
    assert response.json()["version"] == 2


async def test_the_origin_trusts_only_a_valid_grip_signature(
    stack: LocalStack, data_dir: Path
) -> None:
    """A forged or expired Grip-Sig gets no hold instructions (it would let anyone make the
    origin hand out GRIP holds); the real one does."""
    if stack.holder != "pushpin":
        pytest.skip("the origin's GRIP answers do not depend on the stream tier: checked once")
    feed = load(data_dir / "american_football/espn-cfb-summary_401628358.json")
    settings = ReplaySettings(kafka_bootstrap=stack.bootstrap)
    await asyncio.to_thread(replay, _game(feed, 1), settings, 0, 0)
    game = feed.game_id
    valid = jwt.encode({"iss": "pushpin", "exp": int(time.time()) + 60}, stack.grip_key)
    forged = jwt.encode({"iss": "pushpin", "exp": int(time.time()) + 60}, "x" * 40)
    expired = jwt.encode({"iss": "pushpin", "exp": int(time.time()) - 60}, stack.grip_key)
    async with httpx.AsyncClient(base_url=stack.origin_url, timeout=5) as http:
        for _ in range(200):
            if (await http.get(f"/v1/games/{game}")).status_code == 200:
                break
            await asyncio.sleep(0.05)
        path = f"/v1/games/{game}?after=999999"
        held = await http.get(path, headers={"Grip-Sig": valid})
        assert held.headers["Grip-Hold"] == "response"
        assert held.headers["Grip-Channel"] == f"game-{game}; prev-id=1"
        assert 1 <= int(held.headers["Grip-Timeout"]) <= 20
        stream = await http.get(f"/v1/games/{game}/stream", headers={"Grip-Sig": valid})
        assert stream.headers["Grip-Hold"] == "stream"
        assert stream.headers["Grip-Keep-Alive"] == ":\\n\\n; format=cstring; timeout=8"
        assert stream.text.startswith("retry: 3000\n\nid: 1\nevent: ")
        for token in (forged, expired, "garbage"):
            # Without a trusted proxy the origin holds the request itself: no GRIP headers.
            direct = http.stream(
                "GET", f"/v1/games/{game}/stream", headers={"Grip-Sig": token}, timeout=2
            )
            async with direct as answer:
                assert answer.headers["content-type"].startswith("text/event-stream")
                assert "Grip-Hold" not in answer.headers
