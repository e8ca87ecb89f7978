"""Providers' schedules through the whole stack: intake → broker → publisher → Redis → origin →
Varnish. Every day's board at the edge lists exactly the games the provider lists on that day,
before any of them has a play; a restated fixture purges only the boards that show its game."""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from redis.asyncio import Redis

from core.keys import game_part
from core.models import GameEvent
from core.settings import KafkaSettings
from feeds import schedules
from feeds.adapters import load
from feeds.listing import ListingSettings, take
from feeds.schedules.schedule import listed
from harness.fans import origin_requests, until_purged, until_served
from local.process import free_port
from local.stack import LocalStack
from purger.settings import PurgerSettings
from tests.conftest import ThreadedServer
from tests.feed_documents import LiveDocuments
from tests.helpers import eventually
from tests.helpers import produced as events_of_games

pytestmark = pytest.mark.stack

PURGER_GROUP: str = PurgerSettings.model_fields["group"].default
FOLLOWED = [f"00220009{n}" for n in range(20, 24)]


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


async def test_followers_pre_warm_the_days_games_and_share_them_and_one_killed_loses_none(
    stack: LocalStack, data_dir: Path
) -> None:
    """Games starting in 20 minutes (the lead is 30): two followers take two each, poll their
    live documents and fetch their pages through the edge, so the first fan costs the origin
    nothing; one follower killed, the other takes its games when their leases run out; every
    record reaches Kafka once."""
    sample = data_dir / "basketball" / "nba-cdn-livedata_0022000001.json"
    provider = LiveDocuments(json.loads(sample.read_bytes()), started=False)
    settings = ListingSettings(**stack.kafka_settings(), redis_url=stack.redis_url)  # type: ignore[arg-type]
    # Within the lead, and on the league's today (New York's): a start past its midnight would
    # be on tomorrow's board.
    eastern = ZoneInfo("America/New_York")
    now = datetime.now(UTC).replace(microsecond=0)
    tomorrow = now.astimezone(eastern).date() + timedelta(days=1)
    midnight = datetime.combine(tomorrow, datetime.min.time(), eastern)
    start = min(now + timedelta(minutes=20), midnight.astimezone(UTC) - timedelta(seconds=5))
    today = start.astimezone(eastern).date()
    teams = load(sample).events[0].game
    assert teams is not None
    listing = [
        listed(
            game_id,
            teams.model_copy(
                update={"start_time": start, "day": today, "venue": "Riverside Arena"}
            ),
        )
        for game_id in FOLLOWED
    ]
    await take([schedules.Schedule("test", listing)], settings)
    async with httpx.AsyncClient(base_url=stack.origin_url, timeout=10) as origin:
        for game_id in FOLLOWED:
            await eventually(partial(_answers, origin, f"/v1/games/{game_id}"), 30)
    await until_purged(stack.redis_url, stack.keys, PURGER_GROUP)
    with ThreadedServer(provider.app, free_port()) as server:
        follow: dict[str, object] = {
            **stack.kafka_settings(),
            "redis_url": stack.redis_url,
            "live_urls": {"nba": f"{server.url}/pbp/{{game_id}}.json"},
            "warm_urls": [stack.edge_url],
            "lease_seconds": 3,
            "scan_seconds": 0.5,
            "interval_seconds": 0.3,
        }
        for name in ("follower-a", "follower-b"):
            stack.start_service("follow", {**follow, "name": name}, name=name)
        async with Redis.from_url(stack.redis_url) as redis:

            async def owners() -> dict[str, str]:
                found = {}
                for game_id in FOLLOWED:
                    owner = await redis.get(stack.keys.follower(game_id))
                    found[game_id] = owner.decode() if isinstance(owner, bytes) else ""
                return found

            async def shared() -> bool:
                counts = Counter((await owners()).values())
                return counts == Counter({"follower-a": 2, "follower-b": 2})

            await eventually(shared, 30)
            await eventually(lambda: all(provider.requests[g] > 1 for g in FOLLOWED), 30)

            async def warmed() -> bool:
                # Every page of every game fetched through the edge (in the background).
                total = 0.0
                async with httpx.AsyncClient(timeout=5) as http:
                    for name in ("follower-a", "follower-b"):
                        text = (await http.get(f"{stack.metrics_url(name)}/metrics")).text
                        found = re.search(r"^scorecast_follower_warmed_total (\S+)", text, re.M)
                        total += float(found.group(1)) if found else 0.0
                return total >= 5 * len(FOLLOWED)

            await eventually(warmed, 30)
            # The first fan of each game: snapshot, its day's board, today's board.
            routes = ["/v1/games/{game_id}", "/v1/scoreboard/{day}/{league}", "/v1/scoreboard"]
            before = [await origin_requests(stack.metrics_url(), route) for route in routes]
            async with httpx.AsyncClient(base_url=stack.edge_url, timeout=10) as edge:
                for game_id in FOLLOWED:
                    for path in (f"/v1/games/{game_id}", f"/v1/scoreboard/{today}/nba"):
                        response = await edge.get(path)
                        assert response.status_code == 200
                        assert response.headers["X-Cache"] == "HIT", path
                snapshot = (await edge.get(f"/v1/games/{FOLLOWED[0]}")).json()
                today_board = await edge.get("/v1/scoreboard")
                assert today_board.headers["X-Cache"] == "HIT"
                assert set(FOLLOWED) <= {row["game_id"] for row in today_board.json()["games"]}
            after = [await origin_requests(stack.metrics_url(), route) for route in routes]
            assert after == before, "the first fan reached the origin"
            assert (snapshot["status"], snapshot["venue"]) == ("SCHEDULED", "Riverside Arena")

            # Tip-off, and one follower killed: the other takes its games, all go to the end.
            killed = next(iter((await owners()).values()))
            provider.started = True
            stack.crash(killed)
            crashed = time.monotonic()

            async def survivor_has_all() -> bool:
                return set((await owners()).values()) == {
                    ({"follower-a", "follower-b"} - {killed}).pop()
                }

            await eventually(survivor_has_all, 30)
            taken_after = time.monotonic() - crashed
            async with httpx.AsyncClient(base_url=stack.edge_url, timeout=10) as edge:
                for game_id in FOLLOWED:
                    await until_served(
                        f"{stack.edge_url}/v1/games/{game_id}",
                        lambda game: game["status"] == "FINAL",
                    )
                    final = (await edge.get(f"/v1/games/{game_id}")).json()
                    assert (final["home"]["score"], final["away"]["score"]) == (125, 99)
                    assert final["home"]["name"] == teams.home.name
    print(f"\nthe killed follower's games taken {taken_after:.1f} s after the kill (lease 3 s)")
    assert taken_after < 3 + 2 * 0.5 + 5  # the lease, a scan or two, and slack
    produced = events_of_games(KafkaSettings(**stack.kafka_settings()), FOLLOWED)  # type: ignore[arg-type]
    for game_id in FOLLOWED:
        sequences = [event.sequence for event in produced if event.game_id == game_id]
        assert len(sequences) == len(set(sequences)) > 600, game_id


async def _answers(http: httpx.AsyncClient, path: str) -> bool:
    return (await http.get(path)).status_code == 200
