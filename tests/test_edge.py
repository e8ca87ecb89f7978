"""Our VCL on a real Varnish in front of a real origin and Redis."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from email.utils import parsedate_to_datetime

import httpx
import pytest

from core.models import Game
from core.reducer import fold
from core.store import SnapshotWriter
from harness.fans import origin_requests
from purger.settings import PurgerSettings
from purger.varnish import VarnishBackend
from tests.conftest import Edge
from tests.factories import short_game
from tests.helpers import SPELLINGS, eventually


async def _publish(store: SnapshotWriter, upto: int, version: int, game_id: str = "g1") -> None:
    game = fold(short_game(game_id)[:upto])
    assert game is not None
    await store.write(game.model_copy(update={"version": version}))


@pytest.fixture
async def fan(edge: Edge) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=edge.url, timeout=5) as http:
        yield http


async def _purge(edge: Edge, keys: str, token: str | None = None) -> httpx.Response:
    headers = {"xkey-softpurge": keys, "Purge-Token": token or edge.purge_token}
    async with httpx.AsyncClient() as http:
        return await http.request("PURGE", f"{edge.url}/", headers=headers)


async def _wait_for_version(fan: httpx.AsyncClient, version: int, limit: float = 5.0) -> float:
    started = time.monotonic()
    while time.monotonic() - started < limit:
        response = await fan.get("/v1/games/g1")
        if response.headers.get("ETag") == f'"v{version}"':
            return time.monotonic() - started
        await asyncio.sleep(0.01)
    raise AssertionError(f"edge never served v{version}")


async def test_edge_caches_and_strips_surrogate_headers(
    store: SnapshotWriter, fan: httpx.AsyncClient
) -> None:
    await _publish(store, 3, 1)
    first = await fan.get("/v1/games/g1")
    second = await fan.get("/v1/games/g1")
    assert (first.status_code, second.status_code) == (200, 200)
    assert (first.headers["X-Cache"], second.headers["X-Cache"]) == ("MISS", "HIT")
    assert second.content == first.content
    assert second.headers["ETag"] == '"v1"'
    assert "stale-while-revalidate" in second.headers["Cache-Control"]
    hidden_headers = ("Surrogate-Control", "Surrogate-Key", "CDN-Cache-Control", "Cache-Tag")
    for hidden in (*hidden_headers, "xkey", "Age"):
        assert hidden not in second.headers


@pytest.mark.parametrize(
    ("validators", "status"),
    [('"v1"', 304), ('"v0", "v1"', 304), ("*", 304), ('W/"v1"', 304), ('"v11"', 200),
     ('"v0", "v2"', 200)],
)  # fmt: skip
async def test_the_edge_answers_if_none_match_lists_as_the_origin_does(
    store: SnapshotWriter, fan: httpx.AsyncClient, origin: str, validators: str, status: int
) -> None:
    await _publish(store, 3, 1)
    await fan.get("/v1/games/g1")  # cached
    headers = {"If-None-Match": validators}
    async with httpx.AsyncClient(base_url=origin) as direct:
        assert (await direct.get("/v1/games/g1", headers=headers)).status_code == status
    at_edge = await fan.get("/v1/games/g1", headers=headers)
    assert at_edge.status_code == status
    assert at_edge.headers["ETag"] == '"v1"'


async def test_conditional_get_through_the_edge_is_304(
    store: SnapshotWriter, fan: httpx.AsyncClient
) -> None:
    await _publish(store, 3, 1)
    await fan.get("/v1/games/g1")
    response = await fan.get("/v1/games/g1", headers={"If-None-Match": '"v1"'})
    assert response.status_code == 304
    assert response.headers["ETag"] == '"v1"'
    assert response.content == b""


async def test_soft_purge_by_key_brings_the_new_version(
    store: SnapshotWriter, fan: httpx.AsyncClient, edge: Edge
) -> None:
    await _publish(store, 3, 1)
    await fan.get("/v1/games/g1")
    await _publish(store, 5, 2)
    assert (await fan.get("/v1/games/g1")).headers["ETag"] == '"v1"'  # long edge TTL
    purged = await _purge(edge, "game-g1 scoreboard")
    assert purged.status_code == 200
    assert purged.json() == {"purged": 1}
    assert await _wait_for_version(fan, 2) < 5.0


async def test_after_a_purge_and_its_refresh_the_first_read_is_the_new_version(
    store: SnapshotWriter, fan: httpx.AsyncClient, edge: Edge, origin_metrics: str
) -> None:
    """A soft-purged copy is served once more while the read that finds it refreshes it: the
    first fan after a score got the previous version. The purger's refresh (a HEAD right after
    the purge) starts that refresh itself; a page the edge does not hold is not fetched for it."""
    await _publish(store, 3, 1)
    await _publish(store, 3, 1, "g2")
    await fan.get("/v1/games/g1")  # held; g2 and g1's box score never read
    settings = PurgerSettings(varnish_url=edge.url, purge_token=edge.purge_token, refresh=False)
    await _publish(store, 5, 2)
    plain = VarnishBackend(settings)
    await plain.purge(["game-g1"])
    await plain.aclose()
    assert (await fan.get("/v1/games/g1")).headers["ETag"] == '"v1"'  # it starts the refresh
    await _wait_for_version(fan, 2)

    await _publish(store, 7, 3)
    await _publish(store, 7, 3, "g2")
    before = await origin_requests(origin_metrics, "/v1/games/{game_id}")
    refreshing = VarnishBackend(settings.model_copy(update={"refresh": True}))
    await refreshing.purge(["game-g1", "game-g2"])
    await refreshing.aclose()
    assert refreshing.refresh_failures == 0
    await eventually(lambda: _fetched(origin_metrics, "/v1/games/{game_id}", before + 1), limit=10)
    await asyncio.sleep(0.2)  # the refreshed copy is stored just after the origin answers
    assert (await fan.get("/v1/games/g1")).headers["ETag"] == '"v3"'
    # Only what the edge held was fetched: not g2, not the box score.
    assert await origin_requests(origin_metrics, "/v1/games/{game_id}") == before + 1
    assert await origin_requests(origin_metrics, "/v1/games/{game_id}/boxscore") == 0


async def _fetched(metrics: str, route: str, count: int) -> bool:
    return await origin_requests(metrics, route) >= count


async def test_a_purge_for_another_game_leaves_this_one_cached(
    store: SnapshotWriter, fan: httpx.AsyncClient, edge: Edge
) -> None:
    await _publish(store, 3, 1)
    await fan.get("/v1/games/g1")
    await _publish(store, 5, 2)
    assert (await _purge(edge, "game-g2")).json() == {"purged": 0}
    response = await fan.get("/v1/games/g1")
    assert (response.headers["ETag"], response.headers["X-Cache"]) == ('"v1"', "HIT")


async def test_a_cached_404_is_purged_when_the_game_appears(
    store: SnapshotWriter, fan: httpx.AsyncClient, edge: Edge
) -> None:
    assert (await fan.get("/v1/games/g1")).status_code == 404
    assert (await fan.get("/v1/games/g1")).headers["X-Cache"] == "HIT"
    await _publish(store, 3, 1)
    await _purge(edge, "game-g1")
    assert await _wait_for_version(fan, 1) < 5.0


@pytest.mark.parametrize(
    ("token", "keys", "status"),
    [("wrong-token-wrong-token", "game-g1", 403), (None, "", 400)],
)
async def test_purges_need_the_token_and_keys(
    edge: Edge, token: str | None, keys: str, status: int
) -> None:
    response = await _purge(edge, keys, token)
    assert response.status_code == status
    assert response.json()["error"]["status"] == status


async def test_only_reads_are_public(fan: httpx.AsyncClient) -> None:
    for method in ("POST", "PUT", "DELETE", "BAN"):
        response = await fan.request(method, "/v1/games/g1")
        assert response.status_code == 405
        assert response.headers["Allow"] == "GET, HEAD, OPTIONS"
    assert (await fan.get("/metrics")).status_code == 404
    preflight = await fan.options("/v1/games/g1")
    assert preflight.status_code == 204
    assert preflight.headers["Access-Control-Allow-Origin"] == "*"


async def test_concurrent_misses_collapse_into_one_origin_request(
    store: SnapshotWriter, fan: httpx.AsyncClient, origin_metrics: str
) -> None:
    await _publish(store, 3, 1)
    limits = httpx.Limits(max_connections=200)
    async with httpx.AsyncClient(base_url=str(fan.base_url), limits=limits, timeout=10) as many:
        answers = await asyncio.gather(*[many.get("/v1/games/g1") for _ in range(200)])
    assert {a.status_code for a in answers} == {200}
    assert {a.headers["ETag"] for a in answers} == {'"v1"'}
    assert await origin_requests(origin_metrics, "/v1/games/{game_id}") == 1


async def test_stale_copy_is_served_while_the_origin_fails(
    store: SnapshotWriter, fan: httpx.AsyncClient, edge: Edge, redis_service: str
) -> None:
    await _publish(store, 3, 1)
    await fan.get("/v1/games/g1")
    # Break the origin's store: every origin answer is now a 503.
    await store.redis.delete(store.keys.latest("g1"))
    await store.redis.set(store.keys.latest("g1"), "not a hash")
    await _purge(edge, "game-g1")
    for _ in range(20):
        response = await fan.get("/v1/games/g1")
        assert response.status_code == 200
        assert Game.model_validate_json(response.content).version == 1
        await asyncio.sleep(0.05)


async def test_stale_copy_outlives_the_short_grace_while_a_healthy_origin_fails(
    store: SnapshotWriter, fan: httpx.AsyncClient, edge: Edge
) -> None:
    """The origin passes its probe (Redis answers pings) but every snapshot answer is a 503:
    past the 10 s a healthy origin's copies are kept for, fans still get the stale copy."""
    await _publish(store, 3, 1)
    await fan.get("/v1/games/g1")
    await store.redis.delete(store.keys.latest("g1"))
    await store.redis.set(store.keys.latest("g1"), "not a hash")
    await _purge(edge, "game-g1")
    await asyncio.sleep(11)
    response = await fan.get("/v1/games/g1")
    assert response.status_code == 200
    assert Game.model_validate_json(response.content).version == 1
    # Where no copy exists, the error goes out as it came.
    missing = await fan.get("/v1/games/never-seen")
    assert missing.status_code == 404


async def test_the_edge_never_goes_back_to_an_older_version(
    store: SnapshotWriter, fan: httpx.AsyncClient, edge: Edge, origin_metrics: str
) -> None:
    """Redis lost and being rebuilt from the feed: the origin serves v2 while the edge has v5."""
    await _publish(store, 6, 5)
    assert (await fan.get("/v1/games/g1")).headers["ETag"] == '"v5"'
    await store.redis.delete(store.keys.latest("g1"), store.keys.version("g1", 5))
    await _publish(store, 3, 2)
    before = await origin_requests(origin_metrics, "/v1/games/{game_id}")
    await _purge(edge, "game-g1")
    for _ in range(20):
        assert (await fan.get("/v1/games/g1")).headers["ETag"] == '"v5"'
        await asyncio.sleep(0.02)
    # The edge did ask: it refused the older answer and kept its copy.
    assert await origin_requests(origin_metrics, "/v1/games/{game_id}") > before
    # Once the rebuild passes the edge's version, the newer one is served.
    await _publish(store, 8, 7)
    await _purge(edge, "game-g1")
    assert await _wait_for_version(fan, 7) < 5.0


async def test_stream_connects_are_limited_per_client(
    store: SnapshotWriter, fan: httpx.AsyncClient
) -> None:
    await _publish(store, 3, 1)
    answers = [await fan.get("/v1/games/g1?after=0") for _ in range(35)]
    statuses = [answer.status_code for answer in answers]
    assert statuses[:30] == [307] * 30  # sent to the stream tier
    assert answers[0].headers["Location"].endswith("/v1/games/g1?after=0")
    assert set(statuses[30:]) == {429}
    refused = await fan.get("/v1/games/g1/stream")
    assert refused.status_code == 429
    assert refused.headers["Retry-After"] == "60"
    assert refused.json()["error"]["status"] == 429
    # Cached reads are not limited.
    assert (await fan.get("/v1/games/g1")).status_code == 200


async def _raw(edge: Edge, target: str) -> tuple[int, bytes]:
    """One request exactly as written (absolute form, encodings), which httpx would tidy up."""
    host, port = edge.url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    # HTTP/1.0: the answer ends when the connection does, never chunked.
    writer.write(f"GET {target} HTTP/1.0\r\nHost: x\r\n\r\n".encode())
    answer = await asyncio.wait_for(reader.read(), 10)
    writer.close()
    await writer.wait_closed()
    status = int(answer.split(b" ", 2)[1])
    return status, answer.partition(b"\r\n\r\n")[2]


@pytest.mark.parametrize(
    ("target", "path"),
    [
        ("http://x", "/"),
        ("http://x?a=1", "/"),
        ("HTTPS://x:8443", "/"),
        ("http://x/v1/games/g1", "/v1/games/g1"),
    ],
)
async def test_an_absolute_form_target_is_answered_as_its_path(
    store: SnapshotWriter, edge: Edge, target: str, path: str
) -> None:
    """RFC 9112 section 3.2.2: the authority is not part of the resource, and an absolute form
    with no path names ``/`` (Varnish answered 503 setting an empty URL)."""
    await _publish(store, 3, 1)
    assert await _raw(edge, target) == await _raw(edge, path)


@pytest.mark.parametrize("target", SPELLINGS)
async def test_no_spelling_of_a_path_gets_around_the_rules(
    store: SnapshotWriter, edge: Edge, target: str
) -> None:
    await _publish(store, 3, 1)
    status, body = await _raw(edge, target)
    assert status in (400, 404)
    assert b"scorecast_origin_requests" not in body  # never the origin's private metrics
    assert body.startswith(b'{"error":')


async def test_junk_query_parameters_share_one_cache_object(
    store: SnapshotWriter, fan: httpx.AsyncClient, origin_metrics: str
) -> None:
    await _publish(store, 3, 1)
    for query in ("", "?x=1", "?x=2", "?utm_source=feed&y=3", "?", "?%61fter=1&z"):
        response = await fan.get(f"/v1/games/g1{query}")
        assert response.status_code == 200
        assert response.headers["ETag"] == '"v1"'
    assert await origin_requests(origin_metrics, "/v1/games/{game_id}") == 1


async def test_an_encoded_long_poll_parameter_is_not_a_long_poll(
    store: SnapshotWriter, edge: Edge
) -> None:
    """?%61fter=N is not a parameter the API defines: the snapshot at once, not a held 503."""
    await _publish(store, 3, 1)
    status, body = await _raw(edge, "/v1/games/g1?%61fter=611")
    assert status == 200
    assert Game.model_validate_json(body).version == 1


async def test_a_cached_copy_is_dated_when_delivered_not_when_fetched(
    store: SnapshotWriter, fan: httpx.AsyncClient
) -> None:
    """With no Age, a browser computes a copy's age from Date: a fetch-time Date on an
    hour-long cached object would make every max-age=1 answer stale on arrival."""
    await _publish(store, 3, 1)
    first = await fan.get("/v1/games/g1")
    await asyncio.sleep(2.2)
    second = await fan.get("/v1/games/g1")
    assert second.headers["X-Cache"] == "HIT"
    fetched = parsedate_to_datetime(first.headers["Date"])
    delivered = parsedate_to_datetime(second.headers["Date"])
    assert (delivered - fetched).total_seconds() >= 2
    assert "Age" not in second.headers


@pytest.mark.parametrize(
    ("target", "status"),
    [
        ("/v1/games/" + "g" * 3000, 414),
        ("/v1/games/g1?" + "a=1&" * 700, 414),
        ("/v1/gämes/g1", 400),
    ],
)
async def test_overlong_or_non_ascii_requests_get_the_json_error(
    edge: Edge, target: str, status: int
) -> None:
    got, body = await _raw(edge, target)
    assert got == status
    assert json.loads(body)["error"]["status"] == status


#: Request headers a client controls, each sent with a value of its own on every request.
_ANY_HEADERS = [
    "Origin",
    "Accept",
    "Accept-Language",
    "Accept-Encoding",
    "User-Agent",
    "Cookie",
    "Authorization",
    "If-None-Match",
    "X-Forwarded-For",
    "X-Scorecast-Anything",
    "Host",
    "Range",
    "Cache-Control",
    "Pragma",
    "If-Modified-Since",
]


def _value(name: str, index: int) -> str:
    """The ``index``-th client's value of ``name``, in a form the header allows."""
    match name:
        case "Origin":
            return f"https://fan{index}.example"
        case "Host":
            return f"fan{index}.example"
        case "Range":
            return f"bytes=0-{index}"
        case "Cache-Control":
            return f"max-age={index % 3}" if index % 2 else "no-cache"
        case "Pragma":
            return "no-cache"
        case "If-Modified-Since":
            return f"Sat, {1 + index % 28:02d} Nov 2026 10:00:00 GMT"
    return f"v{index}"


async def test_distinct_request_headers_never_split_a_resource(
    edge: Edge, store: SnapshotWriter, fan: httpx.AsyncClient, origin_metrics: str
) -> None:
    """2,000 requests, each with its own value of some request header (a made-up Origin and
    Host, a Range, a client's no-cache among them): one origin fetch per resource version, the
    CDN is not bypassed."""
    await _publish(store, 3, 1)
    paths = ["/v1/games/g1", "/v1/scoreboard"]

    async def one(index: int) -> None:
        name = _ANY_HEADERS[index % len(_ANY_HEADERS)]
        response = await fan.get(paths[index % 2], headers={name: _value(name, index)})
        assert response.status_code in (200, 206, 304), (name, response.status_code)
        assert "vary" not in response.headers

    for start in range(0, 1_000, 200):
        await asyncio.gather(*(one(i) for i in range(start, start + 200)))
    # A new version of the game, purged: one more fetch for it, none for the board.
    await _publish(store, 6, 2)
    await _purge(edge, "game-g1")
    for start in range(1_000, 2_000, 200):
        await asyncio.gather(*(one(i) for i in range(start, start + 200)))
    assert (await fan.get("/v1/games/g1")).headers["ETag"] == '"v2"'
    assert await origin_requests(origin_metrics, "/v1/games/{game_id}") == 2
    assert await origin_requests(origin_metrics, "/v1/scoreboard") == 1
