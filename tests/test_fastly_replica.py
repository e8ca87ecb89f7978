"""The production path on Fastly, replayed locally: Varnish stands in for the VCL delivery service
(it answers a stream or long-poll with a 307 to the stream hostname, as edge/fastly/recv.vcl and
error.vcl do) and Pushpin speaking GRIP for the Compute service's Fanout. Fans given only the
public hostname — the JavaScript client, the Python client and the live page in Chromium — hold a
stream there (never falling back to polling) and get every version, in order."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import async_playwright
from scorecast_client import AsyncFollower, Mode

from feeds.adapters import Feed, load
from feeds.replay import ReplaySettings, replay
from harness.fans import published_versions, schedule
from local.stack import LocalStack
from tests.helpers import eventually
from tests.test_js_client import CLIENT, NODE
from tests.test_page import CHROMIUM, FLAGS
from tests.test_python_client import FAST

#: Starts real services or processes of its own (see ``SERVICE_FIXTURES`` in conftest).
pytestmark = pytest.mark.stack


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    """Every version is pushed however far behind a loaded machine runs (see test_push)."""
    with LocalStack.for_load(
        tmp_path_factory.mktemp("stack"), holder="pushpin", push_max_age_seconds=120
    ) as local:
        yield local


def _rest(feed: Feed) -> Feed:
    return Feed(feed.format, feed.game_id, feed.events[1:])


async def _replay(stack: LocalStack, feed: Feed) -> None:
    settings = ReplaySettings(kafka_bootstrap=stack.bootstrap)
    await asyncio.to_thread(replay, _rest(feed), settings, 200, 0.02)


async def test_the_public_hostname_redirects_streams_to_the_stream_tier(
    stack: LocalStack, data_dir: Path
) -> None:
    feed = load(data_dir / "soccer/statsbomb_15986.json")
    await schedule(stack.edge_url, stack.bootstrap, feed)
    async with httpx.AsyncClient(base_url=stack.edge_url, timeout=5) as http:
        for path in (f"/v1/games/{feed.game_id}/stream", f"/v1/games/{feed.game_id}?after=1"):
            answer = await http.get(path)
            assert answer.status_code == 307, path
            assert answer.headers["location"] == stack.stream_url + path
            assert answer.headers["access-control-allow-origin"] == "*"
            assert answer.headers["cache-control"] == "no-store"


async def test_the_js_client_streams_at_the_public_hostname(
    stack: LocalStack, data_dir: Path
) -> None:
    feed = load(data_dir / "hockey/nhl-apiweb-pbp_2023020001.json")
    await schedule(stack.edge_url, stack.bootstrap, feed)
    env = {**os.environ, "SCORECAST_EDGE_URL": stack.edge_url, "SCORECAST_GAME_ID": feed.game_id}
    node = await asyncio.create_subprocess_exec(
        NODE, "--test", "--test-reporter=tap", "test/live.test.js",
        cwd=CLIENT, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    await asyncio.sleep(1.0)  # connected before the game moves
    await _replay(stack, feed)
    out, err = await asyncio.wait_for(node.communicate(), 120)
    text = out.decode()
    assert node.returncode == 0, text[-3000:] + err.decode()[-2000:]
    report = json.loads(next(line[2:] for line in text.splitlines() if line.startswith("# {")))
    assert report["modes"] == ["stream"]  # never fell back to polling
    assert report["final"] == [5, 3]
    published = await published_versions(stack.redis_url, feed.game_id)
    versions: list[int] = report["versions"]
    assert versions == [v for v in published if v >= versions[0]]  # every one, in order


async def test_the_python_client_streams_at_the_public_hostname(
    stack: LocalStack, data_dir: Path
) -> None:
    feed = load(data_dir / "basketball/nba-stats-playbyplayv2_0021900001.json")
    await schedule(stack.edge_url, stack.bootstrap, feed)
    follower = AsyncFollower(stack.edge_url, feed.game_id, FAST)
    seen: list[dict[str, Any]] = []

    async def follow() -> None:
        async for snapshot in follower.snapshots():
            seen.append(snapshot)
            if snapshot["status"] == "FINAL":
                return

    task = asyncio.create_task(follow())
    try:
        await eventually(lambda: seen, 20)
        await _replay(stack, feed)
        await asyncio.wait_for(task, 120)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    assert set(follower.modes_used) == {Mode.STREAM}
    published = await published_versions(stack.redis_url, feed.game_id)
    versions = [snapshot["version"] for snapshot in seen]
    assert versions == [v for v in published if v >= versions[0]]


async def test_the_live_page_streams_at_the_public_hostname(
    stack: LocalStack, nba_file: Path
) -> None:
    feed = load(nba_file)
    await schedule(stack.edge_url, stack.bootstrap, feed)
    async with async_playwright() as driver:
        browser = await driver.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            page = await browser.new_page()
            await page.goto(f"{stack.edge_url}/live/{feed.game_id}")
            await page.wait_for_selector("#connection:text('live')", timeout=20_000)
            # Every state the connection shows from here on, as the page changes it.
            await page.evaluate(
                """() => {
                    const shown = document.querySelector('#connection');
                    window.connectionStates = [shown.textContent];
                    new MutationObserver(() => window.connectionStates.push(shown.textContent))
                        .observe(shown, {childList: true, characterData: true, subtree: true});
                }"""
            )
            await _replay(stack, feed)
            await page.wait_for_selector("#status[data-status='FINAL']", timeout=60_000)
            states = await page.evaluate("() => window.connectionStates")
            assert set(states) <= {"live", "final"}, states  # on the stream to the end
            assert await page.text_content("#home-score") == "125"
            assert await page.text_content("#away-score") == "99"
        finally:
            await browser.close()
