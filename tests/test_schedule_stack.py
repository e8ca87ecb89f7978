"""Providers' schedules through the whole stack: intake → broker → publisher → Redis → origin →
Varnish. Every day's board at the edge lists exactly the games the provider lists on that day,
before any of them has a play; a restated fixture purges only the boards that show its game."""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import httpx
import pytest

from core.keys import game_part
from core.models import GameEvent
from feeds import schedules
from feeds.listing import ListingSettings, take
from harness.fans import until_purged
from local.stack import LocalStack
from purger.settings import PurgerSettings

pytestmark = pytest.mark.stack

PURGER_GROUP: str = PurgerSettings.model_fields["group"].default


def _expected(paths: list[Path]) -> dict[str, dict[str, dict[str, Any]]]:
    """Board part → game id → what its row must say, from the schedules themselves."""
    parts: dict[str, dict[str, dict[str, Any]]] = defaultdict(dict)
    for path in paths:
        for event in schedules.load(path).games:
            info = event.game
            assert info is not None
            parts[_part(event)][event.game_id] = {
                "home": info.home.name,
                "away": info.away.name,
                "start_time": info.start_time,
                "venue": info.venue,
                "status": (info.status.value if info.status else "SCHEDULED"),
            }
    return dict(parts)


def _part(event: GameEvent) -> str:
    assert event.game is not None
    return game_part(event.game.league, event.game.day, event.game.start_time)


async def _board(http: httpx.AsyncClient, part: str) -> httpx.Response:
    league, day = part.rsplit(":", 1)
    return await http.get(f"/v1/scoreboard/{day}/{league}")


async def _until_listed(
    http: httpx.AsyncClient, part: str, games: dict[str, Any], seconds: float = 60
) -> dict[str, Any]:
    deadline = time.monotonic() + seconds
    while True:
        rows = {row["game_id"]: row for row in (await _board(http, part)).json()["games"]}
        if set(rows) >= set(games) or time.monotonic() > deadline:
            return rows
        await asyncio.sleep(0.2)


async def test_every_days_board_at_the_edge_lists_exactly_the_providers_games(
    stack: LocalStack, data_dir: Path
) -> None:
    paths = sorted((data_dir / "schedules").glob("*.json"))
    settings = ListingSettings(**stack.kafka_settings(), redis_url=stack.redis_url)  # type: ignore[arg-type]
    read = [schedules.load(path) for path in paths]
    taken = await take(read, settings)
    assert [listed.new for listed in taken] == [len(schedule.games) for schedule in read]
    expected = _expected(paths)
    async with httpx.AsyncClient(base_url=stack.edge_url, timeout=10) as http:
        for part, games in expected.items():
            rows = await _until_listed(http, part, games)
            assert set(rows) == set(games), part
            for game_id, row in rows.items():
                want = games[game_id]
                start = row["start_time"]
                assert (row["home"]["name"], row["away"]["name"]) == (want["home"], want["away"])
                assert start == (
                    want["start_time"].isoformat().replace("+00:00", "Z")
                    if want["start_time"]
                    else None
                ), game_id
                assert (row["venue"], row["status"]) == (want["venue"], want["status"]), game_id
        # The same schedules again: nothing new, nothing restated.
        again = await take(read, settings)
        assert [(listed.new, listed.restated) for listed in again] == [(0, 0)] * len(paths)

        # A restated fixture (the NHL game moved to another arena) purges its own boards only.
        await until_purged(stack.redis_url, stack.keys, PURGER_GROUP)
        nhl = next(p for p in expected if p.startswith("nhl:"))
        other = next(p for p in expected if p.startswith("nba:2023-"))
        for part in (nhl, other):
            await _board(http, part)
        assert (await _board(http, other)).headers["X-Cache"] == "HIT"
        moved = data_dir / "schedules" / "nhl-apiweb-club-schedule-week_TOR_2026-04-11.json"
        restated = schedules.load(moved)
        game = next(event for event in restated.games if _part(event) == nhl)
        assert game.game is not None
        info = game.game.model_copy(update={"venue": "Coca-Cola Coliseum"})
        restated = schedules.Schedule(restated.format, [game.model_copy(update={"game": info})])
        (listed,) = await take([restated], settings)
        assert (listed.new, listed.restated) == (0, 1)
        deadline = time.monotonic() + 30
        while True:
            rows = {row["game_id"]: row for row in (await _board(http, nhl)).json()["games"]}
            if rows[game.game_id]["venue"] == "Coca-Cola Coliseum" or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.2)
        assert rows[game.game_id]["venue"] == "Coca-Cola Coliseum"
        await until_purged(stack.redis_url, stack.keys, PURGER_GROUP)
        assert (await _board(http, other)).headers["X-Cache"] == "HIT"  # not purged
        snapshot = (await http.get(f"/v1/games/{game.game_id}")).json()
        assert (snapshot["venue"], snapshot["status"], snapshot["listed"]) == (
            "Coca-Cola Coliseum",
            "FINAL",
            True,
        )
