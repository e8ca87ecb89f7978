"""The lean HTTP/1.1 client against a real socket server that answers as told."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from pydantic import ValidationError

from purger.settings import PurgerSettings
from runtime.http1 import Answer, Http1Client, Http1Error
from streams.settings import StreamTierSettings

Answering = Callable[[bytes], bytes | None]


class _Server:
    """Reads each request whole and writes what ``answer`` makes of it (None: hang up)."""

    def __init__(self, answer: Answering) -> None:
        self.answer = answer
        self.connections = 0
        self.requests: list[bytes] = []

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                request = head + await reader.readexactly(length)
                self.requests.append(request)
                answer = self.answer(request)
                if answer is None:
                    break
                writer.write(answer)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


Start = Callable[[Answering], Awaitable[tuple[_Server, str]]]


@pytest.fixture
async def serve() -> AsyncIterator[Start]:
    servers: list[asyncio.Server] = []

    async def start(answer: Answering) -> tuple[_Server, str]:
        server = _Server(answer)
        listening = await asyncio.start_server(server.handle, "127.0.0.1", 0)
        servers.append(listening)
        port = listening.sockets[0].getsockname()[1]
        return server, f"http://127.0.0.1:{port}/publish/"

    yield start
    for listening in servers:
        listening.close()


def _json(body: bytes, status: str = "202 Accepted") -> bytes:
    return (
        f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body


async def test_posts_share_one_kept_alive_connection(serve: Start) -> None:
    server, url = await serve(lambda request: _json(b'{"last_message_id": "1:0"}'))
    client = Http1Client(url, timeout=2)
    try:
        for number in range(5):
            answer = await client.request(
                "POST", f"g{number}", b"data: x\n\n", {"Accept": "application/json"}
            )
            assert (answer.status, answer.body) == (202, b'{"last_message_id": "1:0"}')
    finally:
        await client.aclose()
    assert server.connections == 1
    first = server.requests[0]
    assert first.startswith(b"POST /publish/g0 HTTP/1.1\r\nHost: 127.0.0.1:")
    assert b"\r\nContent-Length: 9\r\n" in first
    assert first.endswith(b"\r\n\r\ndata: x\n\n")
    assert b"\r\nAccept: application/json\r\n" in first


async def test_a_chunked_answer_and_a_closing_one_are_read_whole(
    serve: Start,
) -> None:
    chunked = b"HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n"
    chunked += b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"
    closing = b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok"
    answers = iter([chunked, closing, chunked])
    server, url = await serve(lambda request: next(answers))
    client = Http1Client(url, timeout=2)
    try:
        assert (await client.request("POST", "a")).body == b"abcde"
        assert (await client.request("POST", "a")).body == b"ok"  # then this connection is not kept
        assert (await client.request("POST", "a")).status == 201
    finally:
        await client.aclose()
    assert server.connections == 2


async def test_a_cut_or_slow_or_garbled_answer_is_an_error_and_the_next_post_goes(
    serve: Start,
) -> None:
    ok = _json(b"{}")
    answers: list[bytes | None] = [
        None,
        b"HTTP/1.1 202 Accepted\r\nContent-Length: 10\r\n\r\nshort",
    ]
    answers += [b"NOT HTTP AT ALL\r\n\r\n", ok]

    def answer(request: bytes) -> bytes | None:
        if b"slow" in request:
            return b""  # never answered
        return answers.pop(0)

    server, url = await serve(answer)
    client = Http1Client(url, timeout=0.5)
    try:
        with pytest.raises(Http1Error, match="closed before the answer"):
            await client.request("POST", "a")  # hung up on
        with pytest.raises(Http1Error):
            # Half an answer, then the server waits: the deadline ends it.
            await client.request("POST", "a")
        with pytest.raises(Http1Error, match="HttpParserError"):
            await client.request("POST", "a")
        with pytest.raises(Http1Error, match="TimeoutError"):
            await client.request("POST", "slow")
        assert (await client.request("POST", "a")).status == 202
    finally:
        await client.aclose()
    assert server.connections == 5  # no connection in doubt was used again


async def test_a_connection_the_server_closed_while_idle_is_not_used_again(
    serve: Start,
) -> None:
    server, url = await serve(lambda request: None if request.count(b"bye") else _json(b"{}"))
    client = Http1Client(url, timeout=2)
    try:
        assert (await client.request("POST", "a")).status == 202
        for held in list(client._idle):
            held.writer.transport.abort()  # as a server's keep-alive timeout would
        await asyncio.sleep(0.05)
        assert (await client.request("POST", "a")).status == 202
    finally:
        await client.aclose()
    assert server.connections == 2


async def test_refused_and_bad_urls_are_clear() -> None:
    with pytest.raises(ValueError, match="not an http:// URL"):
        Http1Client("https://127.0.0.1/publish/", timeout=1)
    client = Http1Client("http://127.0.0.1:1/publish/", timeout=1)
    with pytest.raises(Http1Error, match=r"ConnectionRefusedError|OSError"):
        await client.request("POST", "a")
    await client.aclose()
    with pytest.raises(Http1Error, match="closed"):
        await client.request("POST", "a")


async def test_an_answer_to_head_ends_with_its_headers(serve: Start) -> None:
    """A HEAD answer announces the length of a body it never sends: the connection goes on."""
    head = b'HTTP/1.1 200 OK\r\nContent-Length: 5000\r\nETag: "v3"\r\n\r\n'
    server, url = await serve(lambda request: head if request.startswith(b"HEAD") else _json(b"{}"))
    client = Http1Client(url, timeout=1)
    try:
        answer = await client.request("HEAD", "g1")
        assert answer == Answer(200, b"", {b"content-length": b"5000", b"etag": b'"v3"'})
        assert (await client.request("POST", "g1")).body == b"{}"
    finally:
        await client.aclose()
    assert server.connections == 1


@pytest.mark.parametrize(
    ("settings", "says"),
    [
        (lambda: StreamTierSettings(tier="nchan", nchan_publish_url="https://h/publish/"), "http"),
        (lambda: PurgerSettings(purge_token="t" * 24, varnish_url="https://edge:6081"), "http"),
    ],
)
def test_the_lean_clients_urls_must_be_plain_http(
    settings: Callable[[], object], says: str
) -> None:
    """The client speaks plain HTTP to listeners of our own: an https:// URL is refused when
    the settings are read, by name, not later on the first purge or publish."""
    try:
        problem = getattr(settings(), "publishing_problem", lambda: None)()
    except ValidationError as refused:
        problem = str(refused)
    assert problem is not None
    assert says in problem


def _echo_head(request: bytes) -> bytes:
    path = request.split(b" ", 2)[1]
    return b'HTTP/1.1 200 OK\r\nContent-Length: 9000\r\nETag: "' + path + b'"\r\n\r\n'


async def test_heads_are_pipelined_and_answered_in_order(serve: Start) -> None:
    """250 HEADs: three connections of at most 100 requests each, every answer its own path's
    (a HEAD answer's announced length is not read as a body of the next)."""
    server, url = await serve(_echo_head)
    client = Http1Client(url, timeout=2)
    try:
        paths = [f"g{n}" for n in range(250)]
        answers = await client.heads(paths, {"Scorecast-Refresh": "1"})
        assert [a.headers[b"etag"] if a else None for a in answers] == [
            f'"/publish/{p}"'.encode() for p in paths
        ]
        assert server.connections == 3
        assert all(b"Scorecast-Refresh: 1\r\n" in r for r in server.requests)
        assert (await client.heads(["again"]))[0] is not None
        assert server.connections == 3  # kept alive and reused
    finally:
        await client.aclose()


@pytest.mark.parametrize(
    "garbled",
    [b"SPDY/3 200 OK\r\n\r\n", b"HTTP/1.1 2x0 OK\r\n\r\n", b"HTTP/1.1 200 OK\r\nno colon\r\n\r\n"],
)
async def test_a_garbled_head_answer_is_no_answer(serve: Start, garbled: bytes) -> None:
    _, url = await serve(lambda request: garbled)
    client = Http1Client(url, timeout=1)
    try:
        assert await client.heads(["g1", "g2"]) == [None, None]
    finally:
        await client.aclose()


async def test_a_head_answer_saying_close_ends_the_pipeline(serve: Start) -> None:
    """What follows an answer saying ``close`` goes again on a new connection."""
    closing = b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n"
    server, url = await serve(lambda request: closing)
    client = Http1Client(url, timeout=1)
    try:
        assert [a is not None for a in await client.heads(["g1", "g2"])] == [True, True]
        assert server.connections == 2
        assert (await client.heads(["g3"]))[0] is not None
        assert server.connections == 3  # the closed ones were not used again
    finally:
        await client.aclose()


async def test_heads_a_stalled_connection_left_unanswered_go_again_on_a_new_one(
    serve: Start,
) -> None:
    """The first connection answers two of four and stalls: those two are kept, the other two
    are asked again on a new connection (HEAD is safe to repeat)."""
    stalled, released = asyncio.Event(), asyncio.Event()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        answered = 0
        try:
            while True:
                request = await reader.readuntil(b"\r\n\r\n")
                if not stalled.is_set() and answered == 2:
                    stalled.set()
                    await released.wait()  # past the client's timeout
                writer.write(_echo_head(request))
                answered += 1
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    listening = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = listening.sockets[0].getsockname()[1]
    client = Http1Client(f"http://127.0.0.1:{port}/p/", timeout=0.5)
    try:
        answers = await client.heads(["a", "b", "c", "d"])
        assert [a.headers[b"etag"] if a else None for a in answers] == [
            b'"/p/a"',
            b'"/p/b"',
            b'"/p/c"',
            b'"/p/d"',
        ]
        assert stalled.is_set()
    finally:
        released.set()
        await client.aclose()
        listening.close()
        await listening.wait_closed()


async def test_heads_still_unanswered_after_the_second_try_have_no_answer(serve: Start) -> None:
    seen: list[bytes] = []

    def answer(request: bytes) -> bytes | None:
        seen.append(request)
        # The third request of each connection hangs it up (the second try's first is its 3rd).
        return None if request.split(b" ", 2)[1].endswith(b"/c") else _echo_head(request)

    _, url = await serve(answer)
    client = Http1Client(url, timeout=1)
    try:
        answers = await client.heads(["a", "b", "c", "d"])
        assert [a is not None for a in answers] == [True, True, False, False]
    finally:
        await client.aclose()


@pytest.mark.parametrize(
    ("answer", "kept"),
    [
        (b"HTTP/1.1 200 OK\r\nConnection: keep-alive, close\r\n\r\n", False),
        (b"HTTP/1.1 200 OK\r\nConnection: Keep-Alive\r\n\r\n", True),
        (b"HTTP/1.0 200 OK\r\n\r\n", False),
        # A HEAD answer followed by a body it must not have: the connection is not reused.
        (b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nbody", False),
    ],
)
async def test_a_head_answer_says_whether_its_connection_goes_on(
    serve: Start, answer: bytes, kept: bool
) -> None:
    server, url = await serve(lambda request: answer)
    client = Http1Client(url, timeout=1)
    try:
        assert (await client.heads(["g1"]))[0] is not None
        assert (await client.heads(["g2"]))[0] is not None
        assert server.connections == (1 if kept else 2)
    finally:
        await client.aclose()


async def test_an_interim_answer_is_not_taken_for_the_final_one(serve: Start) -> None:
    def answer(request: bytes) -> bytes:
        return b"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n" + _echo_head(request)

    _, url = await serve(answer)
    client = Http1Client(url, timeout=1)
    try:
        answers = await client.heads(["a", "b"])
        assert [a.status if a else 0 for a in answers] == [200, 200]
        assert [a.headers[b"etag"] if a else b"" for a in answers] == [
            b'"/publish/a"',
            b'"/publish/b"',
        ]
    finally:
        await client.aclose()
