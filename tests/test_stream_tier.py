"""The self-hosted stream tier (Nchan) on the real local stack: streams live beside the cache,
and no stream misses a version — not a slow reader, not one connecting while versions are
published, not one whose holder restarts."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from redis.asyncio import Redis

from core.errors import ServiceError
from feeds.adapters import Feed, load
from feeds.replay import ReplaySettings, replay
from harness.fans import published_versions, schedule
from harness.sse import ResumingFan, Stream, open_stream, open_url
from local.nchan import nchan, real_ip_directives
from local.process import free_port
from local.stack import LocalStack
from streams.nchan import HELD_IDS

#: The origin's default ``resume_max_versions``.
RESUME_MAX_VERSIONS = 50


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    """Every version is pushed however far behind a loaded machine runs (see test_push);
    quiet streams get a keep-alive every second."""
    with LocalStack.for_load(
        tmp_path_factory.mktemp("stack"),
        holder="nchan",
        push_max_age_seconds=120,
        push_keep_alive_seconds=1,
    ) as local:
        yield local


def _rest(feed: Feed) -> Feed:
    return Feed(feed.format, feed.game_id, feed.events[1:])


async def _final_version(stack: LocalStack, feed: Feed) -> int:
    """Replays the game after its schedule; the last version once every event is written."""
    settings = ReplaySettings(kafka_bootstrap=stack.bootstrap)
    await asyncio.to_thread(replay, _rest(feed), settings, 0, 0)
    async with httpx.AsyncClient(base_url=stack.origin_url, timeout=5) as http:
        for _ in range(600):
            game = (await http.get(f"/v1/games/{feed.game_id}")).json()
            if game["status"] == "FINAL" and game["sequence"] >= len(feed.events) - 1:
                return int(game["version"])
            await asyncio.sleep(0.05)
    raise AssertionError("the game never reached its final")


async def test_streams_are_sent_beside_the_cache_to_the_stream_tier(
    stack: LocalStack, data_dir: Path
) -> None:
    feed = load(data_dir / "soccer/statsbomb_15986.json")
    await schedule(stack.edge_url, stack.bootstrap, feed)
    path = f"/v1/games/{feed.game_id}/stream"
    async with httpx.AsyncClient(base_url=stack.edge_url, timeout=5) as http:
        sent = await http.get(path, headers={"Last-Event-ID": "1"})
        preflight = await http.options(
            stack.stream_url + path,
            headers={
                "Origin": "http://fan.example",
                "Access-Control-Request-Headers": "last-event-id",
            },
        )
    assert sent.status_code == 307
    assert sent.headers["Location"] == stack.stream_url + path
    assert sent.headers["Access-Control-Allow-Origin"] == "*"
    assert preflight.status_code == 204
    assert "Last-Event-ID" in preflight.headers["Access-Control-Allow-Headers"]
    # A page on another site follows it: one CORS answer (a browser refuses two).
    stream = await open_url(stack.edge_url, path, {"Origin": "http://fan.example"})
    try:
        # The held connection is the stream tier's, not Varnish's.
        peer = stream.writer.get_extra_info("socket").getpeername()
        assert peer[1] == stack.holder_port != stack.edge_port
        assert stream.status == 200
        assert stream.headers["content-type"] == "text/event-stream"
        assert stream.headers["access-control-allow-origin"] == "*"
        assert "access-control-allow-credentials" not in stream.headers
        first = await stream.take(1)
        assert first[0].id == 1
    finally:
        stream.close()
    # What is not a stream or a long-poll is not the stream tier's to answer.
    async with httpx.AsyncClient(base_url=stack.stream_url, timeout=5) as http:
        assert (await http.get(f"/v1/games/{feed.game_id}/boxscore")).status_code == 404


async def test_the_origin_sends_only_its_stream_tier_to_nchan(
    stack: LocalStack, data_dir: Path
) -> None:
    """Only the tier's key gets the internal redirect (it names Nchan's internal channel); a
    guessed one is a client like any other, whose stream the origin holds itself."""
    feed = load(data_dir / "soccer/statsbomb_15986.json")
    await schedule(stack.edge_url, stack.bootstrap, feed)
    path = f"/v1/games/{feed.game_id}/stream"
    async with httpx.AsyncClient(base_url=stack.origin_url, timeout=5) as http:
        sent = await http.get(path, headers={"Scorecast-Holder": stack.holder_key})
        assert sent.headers["X-Accel-Redirect"].startswith(f"/.holder/stream/game-{feed.game_id}")
        assert sent.headers["X-Accel-Buffering"] == "no"
        for guess in ("guess", stack.holder_key[:-1], ""):
            direct = http.stream("GET", path, headers={"Scorecast-Holder": guess}, timeout=2)
            async with direct as answer:
                assert answer.headers["content-type"].startswith("text/event-stream")
                assert "X-Accel-Redirect" not in answer.headers


async def test_a_quiet_stream_is_kept_alive(stack: LocalStack, data_dir: Path) -> None:
    """Nchan sends nothing of its own between versions: the publisher's comments keep clients
    with a read timeout, and proxies that cut idle connections, on the stream."""
    feed = load(data_dir / "soccer/statsperform-ma3_71pif9hi2vwzp6q0xzilyxst0.json")
    await schedule(stack.edge_url, stack.bootstrap, feed)
    stream = await open_url(stack.edge_url, f"/v1/games/{feed.game_id}/stream")
    try:
        assert (await stream.take(1))[0].id is not None
        quiet = await asyncio.wait_for(stream.reader.read(4096), 5)
    finally:
        stream.close()
    assert quiet == b":\n\n"


async def test_a_slow_reader_gets_every_version(stack: LocalStack, data_dir: Path) -> None:
    """A client that stops reading while a whole game is published (its socket takes in
    about 4 KiB) gets every version once it reads again, none lost, none out of order."""
    feed = load(data_dir / "basketball/nba-stats-playbyplayv2_0021900001.json")
    await schedule(stack.edge_url, stack.bootstrap, feed)
    host, port = stack.stream_url.removeprefix("http://").split(":")
    stream = await open_stream(
        host, int(port), f"/v1/games/{feed.game_id}/stream", receive_buffer=4096
    )
    try:
        first = (await stream.take(1))[0].id
        final = await _final_version(stack, feed)
        published = await published_versions(stack.redis_url, feed.game_id)
        expected = [v for v in published if first is not None and v > first]
        assert len(expected) > 100  # far more than the reader's buffers hold
        events = await stream.take(len(expected), 60)
    finally:
        stream.close()
    assert [event.id for event in events] == expected
    assert expected[-1] == final


async def test_streams_connecting_while_versions_are_published_miss_none(
    stack: LocalStack, data_dir: Path
) -> None:
    """Clients connect (fresh, and resuming from a version they hold) while the game is
    published as fast as the publisher goes: a version published between the origin answering
    a connect and the tier subscribing it must still reach that client."""
    feed = load(data_dir / "basketball/nba-stats-playbyplayv2_0022100732.json")
    await schedule(stack.edge_url, stack.bootstrap, feed)
    path = f"/v1/games/{feed.game_id}/stream"
    streams: list[tuple[int | None, list[int]]] = []

    async def follow(held: int | None) -> None:
        ids: list[int] = []
        streams.append((held, ids))
        headers = {"Last-Event-ID": str(held)} if held is not None else {}
        stream = await open_url(stack.edge_url, path, headers)
        try:
            async for event in stream:
                if event.id is not None:
                    ids.append(event.id)
                if event.event == "final":
                    return
        finally:
            stream.close()

    async def connect_while_published(done: asyncio.Task[int]) -> list[asyncio.Task[None]]:
        tasks: list[asyncio.Task[None]] = []
        async with httpx.AsyncClient(base_url=stack.origin_url, timeout=5) as http:
            while not done.done() and len(tasks) < 300:
                game = (await http.get(f"/v1/games/{feed.game_id}")).json()
                if game["status"] == "FINAL":
                    break  # a client holding the final has nothing more coming
                latest = game["version"]
                for held in (None, latest, max(1, latest - 3)):
                    tasks.append(asyncio.create_task(follow(held)))
                await asyncio.sleep(0.01)
        return tasks

    done = asyncio.create_task(_final_version(stack, feed))
    tasks = await connect_while_published(done)
    await done
    await asyncio.wait_for(asyncio.gather(*tasks), 60)
    published = await published_versions(stack.redis_url, feed.game_id)
    assert len(streams) > 30
    for held, ids in streams:
        assert ids, "a stream got nothing"
        # Fresh: from the version it was shown first; resuming: everything after the one held
        # (the tier may repeat the held one, which clients skip), or, when the game had moved
        # on by more than the resume window meanwhile, the latest snapshot and all after it.
        got = ids if held is None else [v for v in ids if v > held]
        if held is not None and got[0] != min(v for v in published if v > held):
            assert got[0] - held > RESUME_MAX_VERSIONS, (held, ids[:5])
        assert got == [v for v in published if v >= got[0]], (held, ids[:5])


async def test_a_holder_restart_mid_game_loses_no_version(
    stack: LocalStack, nba_file: Path
) -> None:
    """The stream tier is killed mid-game and started again; streams resume there with their
    Last-Event-ID and get every version, the ones published while it was down included (fewer
    than the resume window: further behind, a client gets the latest snapshot instead)."""
    feed = load(nba_file)
    await schedule(stack.edge_url, stack.bootstrap, feed)
    fans = [ResumingFan(stack.edge_url, f"/v1/games/{feed.game_id}/stream") for _ in range(20)]
    listening = [asyncio.create_task(fan.listen()) for fan in fans]
    await asyncio.sleep(1)
    settings = ReplaySettings(kafka_bootstrap=stack.bootstrap)
    third = len(feed.events) // 3

    async def play(first: int, last: int | None) -> None:
        part = Feed(feed.format, feed.game_id, feed.events[first:last])
        await asyncio.to_thread(replay, part, settings, 200, 0.05)

    await play(1, third)
    stack.crash("holder")
    await play(third, third + 30)  # pushed nowhere: the holder is down
    await asyncio.sleep(0.5)
    stack.revive("holder")
    await play(third + 30, None)
    await asyncio.wait_for(asyncio.gather(*listening), 60)
    published = await published_versions(stack.redis_url, feed.game_id)
    for fan in fans:
        assert fan.reconnects >= 1
        assert fan.went_back_at == []
        assert fan.ids == [v for v in published if v >= fan.ids[0]]


def test_behind_a_cdn_each_client_has_its_own_connect_limit(
    redis_service: str, tmp_path: Path
) -> None:
    """Routed through Cloudflare, every connect comes from Cloudflare's addresses: the tier
    counts by the client address the CDN states (``CF-Connecting-IP``), trusted only from the
    CDN's ranges, so one client cannot use up the limit of everyone sharing an egress."""
    dead_origin = free_port()  # an allowed connect is passed on and answers 502; a refused one 429
    proxy, ports = nchan(
        dead_origin, redis_service, "k" * 32, tmp_path, connects_per_minute=2,
        trusted_proxies=["127.0.0.1/32"], client_ip_header="CF-Connecting-IP",
    )  # fmt: skip
    url = f"http://127.0.0.1:{ports.http}/v1/games/g1/stream"
    with proxy:

        def statuses(client: str, count: int) -> list[int]:
            return [
                httpx.get(url, headers={"CF-Connecting-IP": client}, timeout=5).status_code
                for _ in range(count)
            ]

        first = statuses("203.0.113.7", 6)
        assert 429 in first  # this client used its share (2 a minute, burst 2)
        assert 429 not in statuses("198.51.100.9", 2)  # another client behind the same egress


def test_a_path_ending_in_a_newline_is_no_stream_or_long_poll(
    redis_service: str, tmp_path: Path
) -> None:
    """nginx matches the decoded path, where ``%0A`` is a newline that PCRE's ``$`` would let
    end the path: only what the API names is passed on (here to a dead origin: 502)."""
    proxy, ports = nchan(free_port(), redis_service, "k" * 32, tmp_path)
    base = f"http://127.0.0.1:{ports.http}"
    with proxy:
        assert httpx.get(f"{base}/v1/games/g1?after=1", timeout=5).status_code == 502
        assert httpx.get(f"{base}/v1/games/g1/stream", timeout=5).status_code == 502
        for path in ("/v1/games/g1%0A", "/v1/games/g1%0A/stream", "/v1/games/g1/stream%0A"):
            assert httpx.get(f"{base}{path}", timeout=5).status_code == 404, path


def test_streams_held_at_once_are_capped_per_client_and_in_all(
    redis_service: str, tmp_path: Path
) -> None:
    """A client cannot hold more than its share of streams, nor all clients together more than
    the tier can: past either, a connect is refused at once and the held ones go on."""
    silent = socket.socket()  # an origin that takes connections and never answers: held
    silent.bind(("127.0.0.1", 0))
    silent.listen(64)
    proxy, ports = nchan(
        silent.getsockname()[1], redis_service, "k" * 32, tmp_path, connects_per_minute=600,
        trusted_proxies=["127.0.0.1/32"], streams_per_client=2, max_streams=3,
    )  # fmt: skip
    held: list[socket.socket] = []

    def connect(client: str) -> socket.socket:
        sock = socket.create_connection(("127.0.0.1", ports.http))
        sock.sendall(
            f"GET /v1/games/g1/stream HTTP/1.1\r\nHost: x\r\nCF-Connecting-IP: {client}\r\n"
            "\r\n".encode()
        )
        held.append(sock)
        return sock

    def status(sock: socket.socket) -> int | None:
        sock.settimeout(1.5)
        try:
            return int(sock.recv(1024).split(b" ")[1])
        except TimeoutError:
            return None  # held

    with proxy, silent:
        try:
            assert [status(connect("203.0.113.7")) for _ in range(2)] == [None, None]
            assert status(connect("203.0.113.7")) == 429  # its share
            assert status(connect("198.51.100.9")) is None  # the third in all
            assert status(connect("192.0.2.1")) == 429  # the tier's
        finally:
            for sock in held:
                sock.close()


def test_a_bad_trusted_proxy_or_header_is_refused_before_start(tmp_path: Path) -> None:
    with pytest.raises(ServiceError, match="not an address range"):
        real_ip_directives(["10.0.0.0/33"], "CF-Connecting-IP")
    with pytest.raises(ServiceError, match="not a header name"):
        real_ip_directives(["10.0.0.0/8"], "CF-Connecting-IP; evil")
    assert "set_real_ip_from" not in real_ip_directives([], "CF-Connecting-IP")


async def _ids_until(stream: Stream, last: int) -> list[int]:
    """The ids a stream sends up to ``last``, read by one reader (a read may hold several)."""
    ids: list[int] = []
    async for event in stream:
        if event.id is not None:
            ids.append(event.id)
        if event.id == last:
            break
    return ids


async def test_a_stream_resuming_inside_a_message_of_several_versions_misses_none(
    stack: LocalStack, data_dir: Path
) -> None:
    """A game replayed at full speed reaches Nchan in fewer messages than versions (those
    waiting together go as one). A client resuming after any version, even one inside such a
    message, gets every later one in order once it skips what it holds."""
    feed = load(data_dir / "hockey/nhl-apiweb-pbp_2023020001.json")
    await schedule(stack.edge_url, stack.bootstrap, feed)
    final = await _final_version(stack, feed)
    published = await published_versions(stack.redis_url, feed.game_id)
    async with Redis.from_url(stack.redis_url) as redis:
        held = await redis.zrange(stack.keys.held(feed.game_id), 0, -1, withscores=True)
    ends = {int(pair[1]) for pair in held}  # each message's last version
    assert len(published) <= HELD_IDS  # every message of the game is still recorded
    assert 0 < len(held) < len(published)  # some messages carried several versions
    resumable = published[-RESUME_MAX_VERSIONS:-1]  # as far back as a stream may resume
    assert any(after not in ends for after in resumable)  # some resume inside a message
    path = f"/v1/games/{feed.game_id}/stream"
    for after in resumable:
        resumed = await open_url(stack.edge_url, path, {"Last-Event-ID": str(after)})
        try:
            got = await asyncio.wait_for(_ids_until(resumed, published[-1]), 30)
        finally:
            resumed.close()
        assert [v for v in got if v > after] == [v for v in published if v > after], after
    assert published[-1] == final
