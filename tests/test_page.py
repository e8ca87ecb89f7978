"""The live scoreboard page in real headless Chromium, through the edge, during a replay."""

from __future__ import annotations

import asyncio
import os
import shutil
from pathlib import Path

import pytest
from playwright.async_api import async_playwright

from feeds.adapters import load
from feeds.replay import ReplaySettings, replay
from local.stack import LocalStack

#: Starts real services or processes of its own (see ``SERVICE_FIXTURES`` in conftest).
pytestmark = pytest.mark.stack

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# No sandbox as root; no GPU, QUIC or background calls out of this closed machine.
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(os.environ.get("SCORECAST_ARTIFACTS", "artifacts"))


@pytest.fixture
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


async def test_the_live_page_follows_the_game_to_its_final(
    stack: LocalStack, nba_file: Path, artifacts: Path
) -> None:
    feed = load(nba_file)
    settings = ReplaySettings(kafka_bootstrap=stack.bootstrap)
    first = type(feed)(feed.format, feed.game_id, feed.events[:1])
    await asyncio.to_thread(replay, first, settings, 0, 0)
    async with async_playwright() as driver:
        browser = await driver.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            page = await browser.new_page()
            for _ in range(100):  # the game is scheduled once its first version exists
                await page.goto(f"{stack.edge_url}/live/{feed.game_id}")
                if await page.text_content("#home-code") != "–":
                    break
                await asyncio.sleep(0.1)
            assert await page.text_content("#status") == "SCHEDULED"
            replaying = asyncio.create_task(asyncio.to_thread(replay, feed, settings, 1000, 0.05))
            # While the game runs the page shows it live, pushed over the stream.
            await page.wait_for_selector("#status[data-status='LIVE']", timeout=30_000)
            await page.screenshot(path=str(artifacts / "live-page-during-game.png"))
            assert await page.text_content("#connection") == "live"  # on the stream
            # The stream path is cut mid-game (the stream holder dies): the page's client falls
            # back to long-poll, then to conditional polling through the cache, and goes on.
            stack.crash("holder")
            cut_at = int(await page.text_content("#version") or 0)
            try:
                await replaying
                await page.wait_for_selector("#status[data-status='FINAL']", timeout=60_000)
            finally:
                stack.revive("holder")
            await page.screenshot(path=str(artifacts / "live-page-final.png"))
            assert await page.text_content("#home-code") == "BKN"
            assert await page.text_content("#home-score") == "125"
            assert await page.text_content("#away-score") == "99"
            assert await page.text_content("#away-code") == "GSW"
            assert int(await page.text_content("#version") or 0) > max(10, cut_at)
        finally:
            await browser.close()
