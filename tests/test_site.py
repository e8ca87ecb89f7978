"""The fan site in real headless Chromium through the edge (Varnish), during a replay: the day's
board, a game page, standings and a team page at a desktop and a phone size, live without
reload, accessible (axe-core), readable with JavaScript off, small, and one origin fetch per
page per change however many fans read it."""

from __future__ import annotations

import asyncio
import gzip
import json
import os
import re
import time
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from playwright.async_api import Browser, Page, async_playwright

from core.reducer import fold
from feeds import schedules
from feeds.adapters import Feed, load
from feeds.listing import ListingSettings, take
from feeds.replay import ReplaySettings, replay
from feeds.schedules.schedule import listed
from harness.fans import origin_requests, until_purged, until_served
from local.stack import LocalStack
from purger.settings import PurgerSettings
from tests.test_page import CHROMIUM, FLAGS

pytestmark = pytest.mark.stack

PURGER_GROUP: str = PurgerSettings.model_fields["group"].default
ARTIFACTS = Path(os.environ.get("SCORECAST_ARTIFACTS", "artifacts")) / "site"
AXE = Path(__file__).parent / "axe" / "node_modules" / "axe-core" / "axe.min.js"
SIZES = {"desktop": (1280, 800), "phone": (390, 844)}
#: The part of the game replayed before the pages are opened.
FIRST = 120


@pytest.fixture(scope="module")
def site(stack: LocalStack, data_dir: Path) -> dict[str, Any]:
    """The sample NBA game listed today and replayed up to :data:`FIRST`, with a day of real
    finals (the NBA's last day of 2025-26, so the standings have a table) beside it."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return asyncio.run(_site(stack, data_dir))


async def _site(stack: LocalStack, data_dir: Path) -> dict[str, Any]:
    feed = load(data_dir / "basketball" / "nba-cdn-livedata_0022000001.json")
    today = datetime.now(ZoneInfo("America/New_York")).date()
    scheduled = feed.events[0].game
    assert scheduled is not None
    info = scheduled.model_copy(
        update={"day": today, "venue": "Riverside Arena", "season": "2025-26"}
    )
    feed = Feed(feed.format, feed.game_id, [listed(feed.game_id, info), *feed.events[1:]])
    settings = ListingSettings(**stack.kafka_settings(), redis_url=stack.redis_url)  # type: ignore[arg-type]
    finals = schedules.load(data_dir / "schedules" / "nba-cdn-scoreboard_2026-04-12.json")
    await take([finals], settings)
    await _replay(stack, feed, FIRST)
    return {"feed": feed, "today": today, "finals": finals}


async def _replay(stack: LocalStack, feed: Feed, upto: int) -> None:
    part = Feed(feed.format, feed.game_id, feed.events[:upto])
    await asyncio.to_thread(replay, part, ReplaySettings(kafka_bootstrap=stack.bootstrap), 0, 0)
    expected = fold(part.events)
    assert expected is not None
    await until_served(
        f"{stack.edge_url}/v1/games/{feed.game_id}", lambda g: g["sequence"] == expected.sequence
    )
    await until_purged(stack.redis_url, stack.keys, PURGER_GROUP)


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as driver:
        launched = await driver.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            yield launched
        finally:
            await launched.close()


def _paths(site: dict[str, Any]) -> dict[str, str]:
    game_id = site["feed"].game_id
    home = site["feed"].events[0].game.home.team_id
    return {
        "board": "/",
        "day": "/day/2026-04-12",
        "game": f"/games/{game_id}",
        "standings": "/leagues/nba/standings",
        "team": f"/leagues/nba/teams/{home}/seasons/2025-26",
    }


async def _axe(page: Page) -> list[dict[str, Any]]:
    await page.add_script_tag(content=AXE.read_text())
    result = await page.evaluate("async () => (await axe.run()).violations")
    return [v for v in result if v["impact"] in ("serious", "critical")]


async def test_every_page_type_renders_at_both_sizes_and_passes_axe(
    stack: LocalStack, site: dict[str, Any], browser: Browser
) -> None:
    feed = site["feed"]
    for size, (width, height) in SIZES.items():
        context = await browser.new_context(viewport={"width": width, "height": height})
        page = await context.new_page()
        for kind, path in _paths(site).items():
            response = await page.goto(stack.edge_url + path)
            assert response is not None, path
            assert response.status == 200, path
            await page.screenshot(path=str(ARTIFACTS / f"{kind}-{size}.png"), full_page=True)
            text = await page.inner_text("main")
            if kind == "board":
                assert await page.locator(f'li.game[data-game="{feed.game_id}"]').count() == 1
                assert "Brooklyn" in text or "BKN" in text
            elif kind == "day":
                assert await page.locator("li.game").count() == len(site["finals"].games)
            elif kind == "game":
                for section in ("#line table", "#box table", "#plays li"):
                    assert await page.locator(section).count() > 0, section
            elif kind == "standings":
                assert await page.locator("table.standings tbody tr").count() == 30
            elif kind == "team":
                assert await page.locator(f'li.game[data-game="{feed.game_id}"]').count() == 1
            # Nothing spills sideways at a phone's width but the tables' own scrollers.
            overflow = await page.evaluate(
                "document.documentElement.scrollWidth - document.documentElement.clientWidth"
            )
            assert overflow <= 0, (kind, size, overflow)
            violations = await _axe(page)
            assert violations == [], (kind, size, [(v["id"], v["help"]) for v in violations])
        await context.close()


async def test_with_javascript_off_every_page_shows_its_content(
    stack: LocalStack, site: dict[str, Any], browser: Browser
) -> None:
    context = await browser.new_context(java_script_enabled=False)
    page = await context.new_page()
    game = site["feed"].game_id
    for kind, path in _paths(site).items():
        await page.goto(stack.edge_url + path)
        text = await page.inner_text("main")
        assert len(text) > 40, kind
        if kind in ("board", "game"):
            score = await page.locator(
                f'[data-game="{game}"] .score, [data-game="{game}"] .home-score'
            ).first.inner_text()
            assert score.strip().isdigit(), kind
        # Times in UTC without the script (it shows them in the viewer's zone).
        times = await page.locator("time").all_inner_texts()
        assert all(t.endswith("UTC") for t in times), times
    await context.close()


async def test_a_score_change_reaches_an_open_board_and_game_page_without_reload(
    stack: LocalStack, site: dict[str, Any], browser: Browser
) -> None:
    """Measured from the moment the edge serves the new version to the moment each page shows
    it (printed: the figure, not a timed assertion); the pages are never reloaded."""
    feed: Feed = site["feed"]
    board = await (await browser.new_context()).new_page()
    game = await (await browser.new_context()).new_page()
    await board.goto(stack.edge_url + "/")
    await game.goto(f"{stack.edge_url}/games/{feed.game_id}")
    await asyncio.sleep(1)  # both have opened their streams
    before = fold(feed.events[:FIRST])
    assert before is not None
    upto = next(
        n
        for n in range(FIRST + 1, len(feed.events))
        if (s := fold(feed.events[:n])) is not None and s.home.score != before.home.score
    )
    after = fold(feed.events[:upto])
    assert after is not None
    navigations: list[str] = []
    for page in (board, game):
        page.on("framenavigated", lambda frame: navigations.append(frame.url))
    await asyncio.to_thread(
        replay,
        Feed(feed.format, feed.game_id, feed.events[FIRST:upto]),
        ReplaySettings(kafka_bootstrap=stack.bootstrap),
        0,
        0,
    )
    url = f"{stack.edge_url}/v1/games/{feed.game_id}"
    await until_served(url, lambda g: g["home"]["score"] == after.home.score)
    served = time.monotonic()
    home = str(after.home.score)
    row = f'li.game[data-game="{feed.game_id}"] .side.home .score'
    await board.wait_for_function(
        f"document.querySelector('{row}')?.textContent === '{home}'", timeout=10_000
    )
    on_board = time.monotonic() - served
    await game.wait_for_function(
        f"document.querySelector('.home-score')?.textContent === '{home}'", timeout=10_000
    )
    on_game = time.monotonic() - served
    # The page's own sections follow: the newest play is the one that scored.
    await game.wait_for_function(
        f"document.querySelector('#plays .running')?.textContent.endsWith('{home}')",
        timeout=10_000,
    )
    assert navigations == []  # never reloaded
    print(
        f"\nscore change shown: board {on_board * 1000:.0f} ms, game page {on_game * 1000:.0f} ms"
    )
    (ARTIFACTS / "live-update.json").write_text(
        json.dumps({"board_ms": round(on_board * 1000), "game_ms": round(on_game * 1000)})
    )


async def test_each_page_costs_one_origin_fetch_per_change_and_is_small(
    stack: LocalStack, site: dict[str, Any]
) -> None:
    feed: Feed = site["feed"]
    paths = _paths(site)
    async with httpx.AsyncClient(base_url=stack.edge_url, timeout=10) as http:
        # Small: each page with its stylesheet and script, compressed.
        first = await http.get("/")
        assets = re.findall(r'(?:href|src)="(/site/[^"]+)"', first.text)
        assert len(assets) == 2
        extra = 0
        for asset in assets:
            extra += len(gzip.compress((await http.get(asset)).content))
        sizes = {}
        for kind, path in paths.items():
            body = (await http.get(path)).content
            sizes[kind] = len(gzip.compress(body)) + extra
            assert sizes[kind] <= 60_000, (kind, sizes[kind])
        print(f"\npage + stylesheet + script, gzipped (bytes): {sizes}")
        (ARTIFACTS / "sizes.json").write_text(json.dumps(sizes))
        # A change, then 50 fans at once on each page: one origin fetch each at most.
        await _replay(stack, feed, FIRST + 200)
        routes = {
            "/": "/",
            paths["game"]: "/games/{game_id}",
            paths["team"]: "/leagues/{league}/teams/{team_id}/seasons/{season}",
        }
        before = {
            route: await origin_requests(stack.metrics_url(), route) for route in routes.values()
        }
        for path in routes:
            answers = await asyncio.gather(*[http.get(path) for _ in range(50)])
            assert {a.status_code for a in answers} == {200}
        after = {
            route: await origin_requests(stack.metrics_url(), route) for route in routes.values()
        }
        fetched = {route: after[route] - before[route] for route in routes.values()}
        assert fetched == dict.fromkeys(routes.values(), 1)
        # And a page not showing the game was not purged by it.
        day = await http.get(paths["day"])
        assert day.headers["X-Cache"] == "HIT"


async def test_a_fan_asks_to_be_notified_and_the_worker_shows_what_comes(
    stack: LocalStack, site: dict[str, Any], browser: Browser
) -> None:
    """The game page's "notify me": the service worker is registered at the site's root, the
    browser's subscription is asked for, and — this Chromium having no vendor push service —
    the page says so, clearly; the worker itself, handed a push as the browser would hand it
    one, shows the alert, one per game."""
    game = site["feed"].game_id
    context = await browser.new_context()
    await context.grant_permissions(["notifications"], origin=stack.edge_url)
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    await page.goto(f"{stack.edge_url}/games/{game}")
    button = page.locator(".notify button")
    await button.wait_for(state="visible")
    await button.click()
    note = page.locator(".notify [role=status]")
    deadline = time.monotonic() + 20
    while not (await note.inner_text()).strip():
        assert time.monotonic() < deadline, "no answer to the click"
        await asyncio.sleep(0.1)
    said = await note.inner_text()
    no_service = "Notifications are not available: this browser has no push service to use"
    print(f"\nthe page said: {said}")
    assert said == "You will be told about this game." or said.startswith(no_service), said
    scope = await page.evaluate(
        "async () => (await navigator.serviceWorker.getRegistration()).scope"
    )
    assert scope == f"{stack.edge_url}/"
    # A push as the notifier sends it (the Web Push payload), delivered to the worker.
    cdp = await context.new_cdp_session(page)
    registrations: list[dict[str, Any]] = []
    cdp.on(
        "ServiceWorker.workerRegistrationUpdated",
        lambda e: registrations.extend(e["registrations"]),
    )
    await cdp.send("ServiceWorker.enable")
    deadline = time.monotonic() + 10
    while not registrations:
        assert time.monotonic() < deadline
        await asyncio.sleep(0.1)
    alert = {"title": "GSW 20 – 22 BKN", "body": "Nets lead, period 1.", "tag": f"game-{game}",
             "url": f"/games/{game}", "game_id": game, "version": 9, "kind": "score"}  # fmt: skip
    for version in (9, 10):  # a newer alert of the same game replaces the one shown
        await cdp.send(
            "ServiceWorker.deliverPushMessage",
            {
                "origin": stack.edge_url,
                "registrationId": registrations[0]["registrationId"],
                "data": json.dumps({**alert, "version": version}),
            },
        )
    shown: list[dict[str, str]] = []
    deadline = time.monotonic() + 10
    while len(shown) < 1:
        assert time.monotonic() < deadline, "the worker showed nothing"
        shown = await page.evaluate(
            """async () => (await (await navigator.serviceWorker.ready).getNotifications())
                .map((n) => ({ title: n.title, body: n.body, tag: n.tag }))"""
        )
        await asyncio.sleep(0.1)
    assert shown == [{"title": alert["title"], "body": alert["body"], "tag": alert["tag"]}]
    assert errors == []
    await context.close()
