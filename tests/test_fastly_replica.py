"""The production path on Fastly, replayed locally: Varnish stands in for the VCL delivery service
(it answers a stream or long-poll with a 307 to the stream hostname, as edge/fastly/recv.vcl and
error.vcl do) and Pushpin speaking GRIP for the Compute service's Fanout. Fans given only the
public hostname — the JavaScript client, the Python client and the live page in Chromium — hold a
stream there (never falling back to polling) and get every version, in order."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.async_api import async_playwright
from scorecast_client import AsyncFollower, Mode

from feeds.adapters import Feed, load
from feeds.replay import ReplaySettings, replay
from harness.fans import published_versions, schedule
from local.stack import LocalStack
from tests.helpers import eventually
from tests.test_js_client import following, report
from tests.test_page import CHROMIUM, FLAGS
from tests.test_python_client import FAST, collecting

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
    node = await following(stack.edge_url, feed.game_id)
    await asyncio.sleep(1.0)  # connected before the game moves
    await _replay(stack, feed)
    saw = await report(node)
    assert saw["modes"] == ["stream"]  # never fell back to polling
    assert saw["final"] == [5, 3]
    published = await published_versions(stack.redis_url, feed.game_id)
    versions: list[int] = saw["versions"]
    assert versions == [v for v in published if v >= versions[0]]  # every one, in order


async def test_the_python_client_streams_at_the_public_hostname(
    stack: LocalStack, data_dir: Path
) -> None:
    feed = load(data_dir / "basketball/nba-stats-playbyplayv2_0021900001.json")
    await schedule(stack.edge_url, stack.bootstrap, feed)
    follower = AsyncFollower(stack.edge_url, feed.game_id, FAST)
    async with collecting(follower) as seen:
        await eventually(lambda: seen, 20)
        await _replay(stack, feed)
        await eventually(lambda: seen[-1]["status"] == "FINAL", 120)
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
