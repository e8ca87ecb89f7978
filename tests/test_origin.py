"""The origin over real HTTP (uvicorn) against a real Redis."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest

from core import changes
from core.models import BoxScore, Game
from core.reducer import fold
from core.store import SnapshotWriter
from local.process import free_port
from origin.app import create_app
from origin.settings import OriginSettings
from tests.conftest import ThreadedServer
from tests.factories import short_game

CACHING = ("Cache-Control", "Surrogate-Control", "CDN-Cache-Control", "Surrogate-Key", "ETag")


async def _publish(store: SnapshotWriter, game_id: str, upto: int, version: int) -> Game:
    game = fold(short_game(game_id)[:upto])
    assert game is not None
    game = game.model_copy(update={"version": version})
    await store.write(game)
    return game


@pytest.fixture
async def client(origin: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=origin, timeout=5) as http:
        yield http


async def test_latest_snapshot_with_caching_headers(
    store: SnapshotWriter, client: httpx.AsyncClient
) -> None:
    await _publish(store, "g1", 3, 1)
    latest = await _publish(store, "g1", 5, 2)
    response = await client.get("/v1/games/g1")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    # The box score is its own resource: snapshots pushed to every fan stay small.
    assert "box" not in response.json()
    assert Game.model_validate_json(response.content) == latest.model_copy(
        update={"box": BoxScore()}
    )
    assert response.headers["ETag"] == '"v2"'
    assert response.headers["Surrogate-Key"] == "game-g1"
    assert "stale-while-revalidate" in response.headers["Cache-Control"]
    assert "stale-if-error" in response.headers["Cache-Control"]
    assert response.headers["Surrogate-Control"].startswith("max-age=3600")


async def test_box_score_is_its_own_resource(
    store: SnapshotWriter, client: httpx.AsyncClient
) -> None:
    latest = await _publish(store, "g1", 5, 2)
    response = await client.get("/v1/games/g1/boxscore")
    assert response.status_code == 200
    body = response.json()
    assert (body["game_id"], body["version"]) == ("g1", 2)
    assert body["box"]["teams"]["h"]["stats"]["pts"] == latest.home.score == 5
    assert response.headers["ETag"] == '"v2"'
    assert response.headers["Surrogate-Key"] == "game-g1"
    assert (await client.get("/v1/games/nope/boxscore")).status_code == 404
    # The publisher's recovery reads the whole state back, box score included.
    assert await store.load_game("g1") == latest


async def test_if_none_match_gives_304_with_the_same_caching_headers(
    store: SnapshotWriter, client: httpx.AsyncClient
) -> None:
    await _publish(store, "g1", 3, 1)
    full = await client.get("/v1/games/g1")
    unchanged = await client.get("/v1/games/g1", headers={"If-None-Match": '"v1"'})
    assert unchanged.status_code == 304
    assert unchanged.content == b""
    for name in CACHING:
        assert unchanged.headers[name] == full.headers[name]
    await _publish(store, "g1", 5, 2)
    changed = await client.get("/v1/games/g1", headers={"If-None-Match": '"v1"'})
    assert changed.status_code == 200
    assert changed.headers["ETag"] == '"v2"'


async def test_versions_are_immutable_and_bounded(
    store: SnapshotWriter, client: httpx.AsyncClient
) -> None:
    first = await _publish(store, "g1", 3, 1)
    await _publish(store, "g1", 5, 2)
    response = await client.get("/v1/games/g1/versions/1")
    assert response.status_code == 200
    assert Game.model_validate_json(response.content) == first.model_copy(
        update={"box": BoxScore()}
    )
    assert response.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert response.headers["ETag"] == '"v1"'
    ahead = await client.get("/v1/games/g1/versions/3")
    assert ahead.status_code == 404
    assert ahead.json()["error"]["code"] == "version_not_found"
    assert ahead.headers["Surrogate-Key"] == "game-g1"


@pytest.mark.parametrize("version", ["0", "-1", "abc", "1.5", "01", "9" * 13, "%00", "2%0A"])
async def test_bad_versions_are_400(
    store: SnapshotWriter, client: httpx.AsyncClient, version: str
) -> None:
    await _publish(store, "g1", 3, 1)
    response = await client.get(f"/v1/games/g1/versions/{version}")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "bad_version"


@pytest.mark.parametrize(
    "game_id",
    ["a%20b", "x" * 65, "-lead", "%2e%2e", "g1%00", "%F0%9F%8F%80", "a;b", "a%2Fb", "g1%0A"],
)
async def test_hostile_game_ids_are_400(client: httpx.AsyncClient, game_id: str) -> None:
    for path in (f"/v1/games/{game_id}", f"/v1/games/{game_id}/stream"):
        response = await client.get(path)
        assert response.status_code in (400, 404)
        body = response.json()["error"]
        assert body["code"] in ("bad_game_id", "not_found")
        # Never echoed into a header: a newline there would break the answer.
        assert "\n" not in "".join(response.headers.values())


async def test_unknown_game_is_a_short_lived_404(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/games/nope")
    assert response.status_code == 404
    assert response.json() == {
        "error": {"status": 404, "code": "unknown_game", "message": "no game nope"}
    }
    # Purged as soon as the game appears, and cached only briefly in any case.
    assert response.headers["Surrogate-Key"] == "game-nope"
    assert response.headers["Surrogate-Control"] == "max-age=5"


async def test_scoreboard_lists_every_game_with_its_own_key(
    store: SnapshotWriter, client: httpx.AsyncClient
) -> None:
    await _publish(store, "g2", 3, 1)
    await _publish(store, "g1", 8, 1)
    response = await client.get("/v1/scoreboard")
    assert response.status_code == 200
    body = response.json()
    assert body["version"] == 2
    assert [(g["game_id"], g["status"]) for g in body["games"]] == [
        ("g1", "FINAL"),
        ("g2", "LIVE"),
    ]
    assert response.headers["Surrogate-Key"] == "board-test-undated boards"
    assert response.headers["ETag"] == '"v2"'


async def test_the_board_is_kept_by_league_and_day_and_composed_from_its_parts(
    store: SnapshotWriter, client: httpx.AsyncClient
) -> None:
    """A league's day is one part; a day and every game are composed of parts, tagged with
    each; a game whose start moves to another day leaves its part, and no version goes back.
    The day is the league's own (its time zone), not UTC's."""

    shown: dict[str, Game] = {}

    async def play(game_id: str, league: str, start: str, version: int) -> None:
        game = fold(short_game(game_id)[:3])
        assert game is not None
        moved = {"league": league, "start_time": datetime.fromisoformat(start), "version": version}
        game = game.model_copy(update=moved)
        await store.write_game(shown.get(game_id), [], [game])  # as the publisher writes
        shown[game_id] = game

    async def games(path: str) -> list[str]:
        return [game["game_id"] for game in (await client.get(path)).json()["games"]]

    # A league's day is counted in its time zone (core.calendar): New York for both.
    await play("n1", "NHL", "2024-03-03T00:30:00+00:00", 1)  # 7:30 pm in New York on the 2nd
    await play("n2", "NHL", "2024-03-01T23:00:00+00:00", 2)
    await play("b1", "NBA", "2024-03-02T20:00:00-05:00", 4)  # the 3rd in UTC
    nhl_first = await client.get("/v1/scoreboard/2024-03-01/nhl")
    assert [g["game_id"] for g in nhl_first.json()["games"]] == ["n2"]
    assert nhl_first.headers["Surrogate-Key"] == "board-nhl-2024-03-01"
    assert nhl_first.headers["ETag"] == '"v2"'
    second = await client.get("/v1/scoreboard/2024-03-02")
    assert [g["game_id"] for g in second.json()["games"]] == ["b1", "n1"]
    assert second.headers["Surrogate-Key"] == "board-nba-2024-03-02 board-nhl-2024-03-02 boards"
    assert second.json()["version"] == 5
    assert await games("/v1/scoreboard") == []  # today's: none of these
    # A moved start: n1 goes to the 1st; neither part's version goes back.
    await play("n1", "NHL", "2024-03-01T19:00:00+00:00", 3)
    assert await games("/v1/scoreboard/2024-03-01") == ["n1", "n2"]
    entries = await store.redis.xrevrange(store.keys.change_stream("n1"), count=1)
    (moved,) = changes.parse([("changes", entries)]).announcements
    assert {"board-nhl-2024-03-01", "board-nhl-2024-03-02"} <= set(moved.keys)  # both parts
    after = (await client.get("/v1/scoreboard/2024-03-02/nhl")).json()
    assert after == {"version": 3, "games": []}  # n1's version stays counted
    empty = await client.get("/v1/scoreboard/2031-01-01/nhl")
    assert empty.json() == {"version": 0, "games": []}
    # The all-games board is today's: each league's today in its own time zone. A game at
    # 02:00 UTC is tomorrow's in UTC but today's in New York until then.
    now = datetime.now(UTC)
    today = now.astimezone(ZoneInfo("America/New_York")).date()
    await play("t1", "NHL", f"{today.isoformat()}T12:00:00-05:00", 1)
    await play("t2", "NHL", f"{(today - timedelta(days=1)).isoformat()}T12:00:00-05:00", 1)
    board = await client.get("/v1/scoreboard")
    assert [g["game_id"] for g in board.json()["games"]] == ["t1"]
    assert board.headers["Surrogate-Key"] == f"board-nhl-{today.isoformat()} boards"
    edge_ttl = int(board.headers["Surrogate-Control"].split(",")[0].removeprefix("max-age="))
    assert 0 < edge_ttl <= 3600 - now.minute * 60 - now.second + 1  # gone by the next hour
    # A view of more parts than one header names (a day of many leagues) lives briefly.
    for league in range(1, 102):
        await play(f"l{league}", f"L{league}", "2023-02-01T19:00:00Z", 1)
    many = await client.get("/v1/scoreboard/2023-02-01")
    assert len(many.json()["games"]) == 101
    assert many.headers["Surrogate-Key"] == "boards"
    assert many.headers["Surrogate-Control"].startswith("max-age=5,")
    for bad in (
        "/v1/scoreboard/yesterday",
        "/v1/scoreboard/2024-3-1/nhl",
        "/v1/scoreboard/2024-03-01/NHL",
    ):
        response = await client.get(bad)
        assert response.status_code == 400, bad
        assert response.json()["error"]["code"] in {"bad_day", "bad_league"}


async def test_errors_are_json_not_500(client: httpx.AsyncClient) -> None:
    assert (await client.get("/nowhere")).json()["error"]["code"] == "not_found"
    posted = await client.post("/v1/games/g1")
    assert posted.status_code == 405
    assert posted.json()["error"]["code"] == "method_not_allowed"


async def test_a_trailing_slash_is_a_404_not_a_redirect_to_the_callers_host(
    store: SnapshotWriter, client: httpx.AsyncClient
) -> None:
    await _publish(store, "g1", 3, 1)
    response = await client.get("/v1/games/g1/", headers={"Host": "evil.example"})
    assert response.status_code == 404
    assert "Location" not in response.headers
    assert response.json()["error"]["code"] == "not_found"


async def test_health_and_metrics(client: httpx.AsyncClient, origin_metrics: str) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    assert (await client.get("/readyz")).json() == {"status": "ready"}
    await client.get("/v1/games/nope")
    await client.get("/v1/games/nope/versions/3")
    await client.get("/no/such/path")
    async with httpx.AsyncClient(base_url=origin_metrics, timeout=5) as private:
        assert (await private.get("/ready")).json() == {"ready": True}
        metrics = (await private.get("/metrics")).text
    for route, status in [
        ("/v1/games/{game_id}", 404),
        ("/v1/games/{game_id}/versions/{version}", 404),
        ("unmatched", 404),
    ]:
        line = f'scorecast_origin_requests_total{{route="{route}",status="{status}"}} 1.0'
        assert line in metrics
    # The figures are on the private listener only: the public app has no such path.
    assert (await client.get("/metrics")).status_code == 404


async def test_redis_down_is_503_json(prefix: str) -> None:
    settings = OriginSettings(
        redis_url=f"redis://127.0.0.1:{free_port()}/0",
        redis_prefix=prefix,
        port=free_port(),
        redis_timeout=0.5,
    )
    with ThreadedServer(create_app(settings), settings.port) as server:
        async with httpx.AsyncClient(base_url=server.url) as http:
            response = await http.get("/v1/games/g1")
            assert response.status_code == 503
            assert response.json()["error"]["code"] == "unavailable"
            assert (await http.get("/readyz")).status_code == 503
            assert (await http.get("/healthz")).status_code == 200


async def test_a_preflight_is_answered_by_the_origin_too(origin: str) -> None:
    """For a CDN that cannot answer preflights itself (Cloudflare without Workers)."""
    async with httpx.AsyncClient(base_url=origin) as http:
        preflight = await http.options(
            "/v1/games/g1",
            headers={
                "Origin": "https://fans.example",
                "Access-Control-Request-Method": "GET",
                "Access-Control-Request-Headers": "If-None-Match",
            },
        )
    assert preflight.status_code == 204
    assert preflight.headers["Access-Control-Allow-Origin"] == "*"
    assert "GET" in preflight.headers["Access-Control-Allow-Methods"]
    assert "vary" not in preflight.headers


async def test_a_burst_beyond_the_redis_pool_waits_instead_of_failing(
    redis_service: str, prefix: str, store: SnapshotWriter
) -> None:
    """Thousands of fans connecting at once: the requests beyond the pool's connections wait
    for one, none gets a 503."""
    await _publish(store, "g1", 3, 1)
    settings = OriginSettings(
        redis_url=redis_service, redis_prefix=prefix, port=free_port(), redis_max_connections=2
    )
    with ThreadedServer(create_app(settings), settings.port) as server:
        limits = httpx.Limits(max_connections=200)
        async with httpx.AsyncClient(base_url=server.url, timeout=10, limits=limits) as http:
            answers = await asyncio.gather(*(http.get("/v1/games/g1") for _ in range(200)))
    assert [answer.status_code for answer in answers] == [200] * 200
