"""A lean HTTP/1.1 client for hot internal calls: a version posted to the stream tier, purges
and refreshes at the self-hosted edge.

In a 300-game match day a publisher spent about 30% of its time in ``httpx`` posting to Nchan
on the same host, most of it in httpx's own layers (pool bookkeeping, anyio streams, a socket
readability check per request), not in the post. This keeps a few keep-alive connections,
writes each request in one call and parses the answer with httptools (uvicorn's C parser).

Nothing else: no redirects, proxies, cookies, TLS, or retries. A post is not idempotent (a
message published twice is two messages), so a failure is the caller's to handle.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import httptools

#: A connection idle longer than this is closed rather than reused: inside Varnish's
#: ``timeout_idle`` (5 s) and nginx's ``keepalive_timeout`` (75 s), so the server does not
#: close one just as a request is sent on it.
_IDLE_SECONDS = 4.0
_READ_BYTES = 65_536
#: HEAD requests written at once on one connection (HTTP/1.1 pipelining, RFC 9112 §9.3.2).
_PIPELINED = 100


class Http1Error(Exception):
    """A post that got no complete answer (refused, cut, timed out or malformed)."""


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    body: bytes
    #: Header fields by lower-case name (the last of a repeated one).
    headers: dict[bytes, bytes] = field(default_factory=dict)


class _Reading:
    """httptools' callbacks for one answer."""

    def __init__(self, head: bool) -> None:
        self.parser = httptools.HttpResponseParser(self)
        self.head = head
        self.body = bytearray()
        self.headers: dict[bytes, bytes] = {}
        self.complete = False
        self.keep_alive = False

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers[name.lower()] = value

    def on_headers_complete(self) -> None:
        if self.head:
            # An answer to HEAD ends with its headers, whatever length they announce.
            self.on_message_complete()

    def on_body(self, body: bytes) -> None:
        self.body += body

    def on_message_complete(self) -> None:
        self.complete = True
        # Only known inside the callback: the parser forgets it once the message is done.
        self.keep_alive = self.parser.should_keep_alive()


class _Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.used_at = time.monotonic()
        self.keep_alive = True

    def fresh(self) -> bool:
        return (
            not self.reader.at_eof()
            and not self.writer.is_closing()
            and time.monotonic() - self.used_at < _IDLE_SECONDS
        )

    async def exchange(self, request: bytes, head: bool) -> Answer:
        self.writer.write(request)
        reading = _Reading(head)
        while not reading.complete:
            data = await self.reader.read(_READ_BYTES)
            if not data:
                raise Http1Error("the connection closed before the answer ended")
            reading.parser.feed_data(data)
        self.keep_alive = reading.keep_alive
        self.used_at = time.monotonic()
        return Answer(reading.parser.get_status_code(), bytes(reading.body), reading.headers)

    async def heads(self, requests: list[bytes], answers: list[Answer]) -> None:
        """HEAD ``requests`` written in one call, their answers read in order into ``answers``
        (each ends with its headers): the caller keeps those read before a failure. Fewer
        answers than requests if the server closed the connection."""
        self.writer.write(b"".join(requests))
        pending = b""
        while len(answers) < len(requests) and self.keep_alive:
            end = pending.find(b"\r\n\r\n")
            if end < 0:
                data = await self.reader.read(_READ_BYTES)
                if not data:
                    self.keep_alive = False
                    break
                pending += data
                continue
            answer, self.keep_alive = _head_answer(pending[:end])
            pending = pending[end + 4 :]
            if answer.status >= 200:  # an interim 1xx answer is followed by the final one
                answers.append(answer)
        if pending:
            self.keep_alive = False  # bytes after the last answer: a body no HEAD answer has
        self.used_at = time.monotonic()

    def close(self) -> None:
        self.writer.close()


def _head_answer(head: bytes) -> tuple[Answer, bool]:
    """An answer to HEAD from its status line and header fields; whether it keeps alive."""
    status_line, *lines = head.split(b"\r\n")
    version, _, rest = status_line.partition(b" ")
    if not version.startswith(b"HTTP/1.") or not rest[:3].isdigit():
        raise Http1Error(f"not an HTTP/1.1 answer: {status_line[:60]!r}")
    headers: dict[bytes, bytes] = {}
    for line in lines:
        name, colon, value = line.partition(b":")
        if not colon:
            raise Http1Error(f"not a header field: {line[:60]!r}")
        headers[name.strip().lower()] = value.strip()
    tokens = {token.strip().lower() for token in headers.get(b"connection", b"").split(b",")}
    close = b"close" in tokens or version == b"HTTP/1.0"
    return Answer(int(rest[:3]), b"", headers), not close


class Http1Client:
    """``await client.request("POST", path, body)`` to ``url`` (``http://host:port/base/``), at
    most ``connections`` at once, each within ``timeout`` seconds; ``aclose()`` when done."""

    def __init__(self, url: str, timeout: float, connections: int = 32) -> None:
        parts = urlsplit(url)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"not an http:// URL: {url!r}")
        self.host = parts.hostname
        self.port = parts.port or 80
        self.base = parts.path.rstrip("/") + "/"
        self.timeout = timeout
        self._authority = parts.netloc.encode("ascii")
        self._slots = asyncio.Semaphore(connections)
        self._idle: list[_Connection] = []
        self._closed = False

    async def request(
        self, method: str, path: str, body: bytes = b"", headers: Mapping[str, str] = {}
    ) -> Answer:
        """``method`` with ``body`` to the base URL + ``path`` (which the caller made safe)."""
        head = [
            f"{method} {self.base}{path} HTTP/1.1".encode("ascii"),
            b"Host: " + self._authority,
            b"Content-Length: " + str(len(body)).encode("ascii"),
            *(f"{name}: {value}".encode("latin-1") for name, value in headers.items()),
        ]
        request = b"\r\n".join(head) + b"\r\n\r\n" + body
        try:
            async with self._connection() as connection:
                return await connection.exchange(request, method == "HEAD")
        except (OSError, TimeoutError, httptools.HttpParserError, Http1Error) as exc:
            raise Http1Error(f"{type(exc).__name__}: {exc}") from exc

    async def heads(self, paths: list[str], headers: Mapping[str, str] = {}) -> list[Answer | None]:
        """HEAD each of ``paths``, pipelined: up to 100 requests written at once on each
        connection, so a purge's refresh of hundreds of pages costs a few writes, not hundreds.
        A request a failed or closed connection left unanswered is sent once more on a new one
        (HEAD is safe to repeat, RFC 9112 §9.3.2); ``None`` for a path still without an answer."""
        fields = b"".join(f"{k}: {v}\r\n".encode("latin-1") for k, v in headers.items())
        requests = [
            f"HEAD {self.base}{path} HTTP/1.1\r\n".encode("ascii")
            + b"Host: " + self._authority + b"\r\n" + fields + b"\r\n"
            for path in paths
        ]  # fmt: skip
        parts = [requests[i : i + _PIPELINED] for i in range(0, len(requests), _PIPELINED)]
        found = await asyncio.gather(*(self._pipeline(part) for part in parts))
        return [answer for part in found for answer in part]

    async def _pipeline(self, requests: list[bytes]) -> list[Answer | None]:
        answers = await self._pipelined(requests)
        if len(answers) < len(requests):
            answers += await self._pipelined(requests[len(answers) :])
        return [*answers, *([None] * (len(requests) - len(answers)))]

    async def _pipelined(self, requests: list[bytes]) -> list[Answer]:
        """One connection's answers to ``requests``, in order: those read before it failed."""
        answers: list[Answer] = []
        with contextlib.suppress(OSError, TimeoutError, Http1Error):
            async with self._connection() as connection:
                await connection.heads(requests, answers)
        return answers

    @contextlib.asynccontextmanager
    async def _connection(self) -> AsyncIterator[_Connection]:
        """A kept-alive connection (or a new one) for one exchange, all within the timeout:
        closed if the exchange fails or is cancelled (what is left of an answer would be read
        as the next), kept for the next exchange if the server keeps it alive."""
        async with self._slots:
            if self._closed:
                raise Http1Error("the client is closed")
            connection = self._reuse()
            try:
                async with asyncio.timeout(self.timeout):
                    if connection is None:
                        connection = _Connection(
                            *await asyncio.open_connection(self.host, self.port)
                        )
                    yield connection
            except BaseException:
                if connection is not None:
                    connection.close()
                raise
            if connection.keep_alive and not self._closed:
                self._idle.append(connection)
            else:
                connection.close()

    def _reuse(self) -> _Connection | None:
        while self._idle:
            connection = self._idle.pop()
            if connection.fresh():
                return connection
            connection.close()
        return None

    async def aclose(self) -> None:
        self._closed = True
        idle, self._idle = self._idle, []
        for connection in idle:
            connection.close()
