"""A crowd of fans in one worker process: polling fans and SSE fans on raw asyncio sockets.

The spike lab starts one crowd per core so the load generator is not what limits the figures.
Polling fans keep one HTTP/1.1 connection each, send ``If-None-Match`` with the ETag they
hold and wait a jittered interval between polls; when the conductor says a score changed, every
fan refreshes within ``spread`` seconds, as fans do after a goal. SSE fans hold one stream each.

A crowd may watch several games (a match day): each polling fan follows one of them, and each
game has a probe of its own.

The conductor talks to a crowd over a pipe: it sends ``("spike", game_path)`` at each score
change (only that game's fans react) and ``("stop", published_versions)`` at the end; the
crowd answers ``("ready", connected)`` once its fans are connected and ``("report",
CrowdReport)`` last. A crowd also stops by itself after ``plan.seconds``.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import multiprocessing.connection
import os
import random
import re
import time
from array import array
from dataclasses import asdict, dataclass, field
from functools import partial
from multiprocessing.connection import Connection
from typing import Any, cast
from urllib.parse import urlsplit

import uvloop

from harness.sse import EventSplitter

#: SSE connects in flight at once per crowd: Pushpin queues about 100 requests to the origin.
SSE_CONNECT_BATCH = 50


@dataclass(frozen=True)
class CrowdPlan:
    host: str
    port: int
    #: Where SSE fans connect: the edge's port, or the GRIP proxy's own.
    stream_port: int
    #: The games the fans poll: fan ``i`` polls ``game_paths[i % len(game_paths)]``.
    game_paths: tuple[str, ...]
    stream_path: str
    pollers: int
    sse: int
    #: Mean seconds between two polls of one fan (each wait is jittered ±50%).
    interval: float
    #: Seconds over which the fans react to a score change.
    spread: float
    #: Seconds between two polls of each game's probe fan (0: no probes in this crowd).
    probe_interval: float
    #: The crowd stops by itself after this long.
    seconds: float
    seed: int


@dataclass
class CrowdReport:
    requests: int = 0
    probe_requests: int = 0
    not_modified: int = 0
    errors: int = 0
    regressions: int = 0
    #: Game path → version → wall time (epoch seconds) of the first answer in this crowd that
    #: carried it.
    first_seen: dict[str, dict[int, float]] = field(default_factory=dict)
    #: Milliseconds from sending a poll to its answer's last byte, for every poll.
    response_ms: array[float] = field(default_factory=lambda: array("f"))
    sse_connected: int = 0
    #: SSE fans that got every version from the one they connected at, in order, once each.
    sse_complete: int = 0
    sse_out_of_order: int = 0
    #: Version → wall times at which SSE fans received it.
    sse_arrivals: dict[int, array[float]] = field(default_factory=dict)
    cpu_seconds: float = 0.0
    #: Errors by what went wrong.
    error_kinds: dict[str, int] = field(default_factory=dict)

    def failed(self, kind: str) -> None:
        self.errors += 1
        self.error_kinds[kind] = self.error_kinds.get(kind, 0) + 1


def run_crowd(plan: CrowdPlan, conductor: Connection) -> None:
    """Entry point of a worker process."""
    report = uvloop.run(_Crowd(plan, conductor).run())
    # uvloop left the pipe non-blocking while it watched it; a large report needs blocking.
    os.set_blocking(conductor.fileno(), True)
    conductor.send(("report", report))
    conductor.close()


def start_crowds(plan: CrowdPlan, workers: int) -> list[tuple[Connection, Any]]:
    """One worker process per share of the fans; spawned, so no thread or loop is inherited."""
    context = multiprocessing.get_context("spawn")
    crowds = []
    # Polling fans and SSE fans in processes of their own, as they are on their own devices: a
    # crowd answering a poll spike would otherwise read its streams late.
    shares = [
        {"pollers": part(plan.pollers, workers, index), "sse": 0, "probe_interval": 0.0}
        for index in range(workers)
    ]
    if plan.sse:
        shares += [
            {"pollers": 0, "sse": part(plan.sse, workers, index), "probe_interval": 0.0}
            for index in range(workers)
        ]
    if plan.probe_interval > 0:
        # The probe in a process of its own: a crowd busy with a spike would delay its reading.
        shares.append({"pollers": 0, "sse": 0, "probe_interval": plan.probe_interval})
    for index, counts in enumerate(shares):
        share = CrowdPlan(**{**asdict(plan), **counts, "seed": index})
        ours, theirs = context.Pipe()
        process = context.Process(target=run_crowd, args=(share, theirs), daemon=True)
        process.start()
        theirs.close()
        crowds.append((ours, process))
    return crowds


def part(total: int, parts: int, index: int) -> int:
    return total // parts + (1 if index < total % parts else 0)


def await_all(
    crowds: list[tuple[Connection, Any]],
    kind: str,
    seconds: float,
    nudge: tuple[Any, ...] | None = None,
) -> list[Any]:
    """The next message of each crowd, which must be ``kind``, in the crowds' order.

    Read as they come: a crowd blocked sending a large report must not wait for one that is
    slower. Crowds silent for 10 s are sent ``nudge`` again (a repeated ``stop``)."""
    deadline = time.monotonic() + seconds
    waiting = {conductor: index for index, (conductor, _) in enumerate(crowds)}
    found: list[Any] = [None] * len(crowds)
    while waiting:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError(f"{len(waiting)} crowds sent no {kind!r} within {seconds:.0f} s")
        ready = multiprocessing.connection.wait(list(waiting), timeout=min(left, 10.0))
        if not ready and nudge is not None:
            for conductor in waiting:
                conductor.send(nudge)
        for answered in ready:
            conductor = cast(Connection, answered)
            message = conductor.recv()
            if message[0] != kind:
                raise RuntimeError(f"a crowd sent {message[0]!r}, expected {kind!r}")
            found[waiting.pop(conductor)] = message[1]
    return found


def close_crowds(crowds: list[tuple[Connection, Any]]) -> None:
    """Wait for each crowd process to end (10 s, then kill it) and close its pipe."""
    for conductor, process in crowds:
        process.join(10)
        if process.is_alive():
            process.kill()
        conductor.close()


class _Crowd:
    def __init__(self, plan: CrowdPlan, conductor: Connection) -> None:
        self.plan = plan
        self.conductor = conductor
        self.report = CrowdReport()
        self.random = random.Random(plan.seed)
        #: Fans between two polls, by the game they follow.
        self.waiting: dict[str, set[asyncio.Future[None]]] = {}
        self.connections: set[_Connection] = set()
        self.stopped = asyncio.Event()
        self.published: list[int] = []
        self.streams: list[list[int]] = []
        self.wall_offset = time.time() - time.monotonic()

    async def run(self) -> CrowdReport:
        loop = asyncio.get_running_loop()
        loop.add_reader(self.conductor.fileno(), self._command)
        started = os.times()
        tasks: list[asyncio.Task[None]] = []
        try:
            for _ in range(self.plan.sse):
                self.streams.append([])
            for start in range(0, self.plan.sse, SSE_CONNECT_BATCH):
                connected = []
                for ids in self.streams[start : start + SSE_CONNECT_BATCH]:
                    first = loop.create_future()
                    tasks.append(asyncio.create_task(self._listen(ids, first)))
                    connected.append(first)
                await asyncio.wait(connected, timeout=30)
            paths = self.plan.game_paths
            tasks += [
                asyncio.create_task(self._poll(paths[fan % len(paths)]))
                for fan in range(self.plan.pollers)
            ]
            if self.plan.probe_interval > 0:
                tasks += [asyncio.create_task(self._poll(path, probe=True)) for path in paths]
            self.conductor.send(("ready", self.report.sse_connected))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stopped.wait(), self.plan.seconds)
        finally:
            loop.remove_reader(self.conductor.fileno())
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            for connection in self.connections:
                connection.close()
        self._count_streams()
        used = os.times()
        self.report.cpu_seconds = (used.user - started.user) + (used.system - started.system)
        return self.report

    def _command(self) -> None:
        # The loop made the pipe non-blocking; a message longer than the pipe's atomic write
        # size can arrive in parts, so read this one whole.
        os.set_blocking(self.conductor.fileno(), True)
        try:
            message = self.conductor.recv()
        finally:
            os.set_blocking(self.conductor.fileno(), False)
        if message[0] == "spike":
            self._spike(message[1])
        elif message[0] == "stop":
            self.published = list(message[1])
            self.stopped.set()

    async def _poll(self, path: str, probe: bool = False) -> None:
        """One polling fan of the game at ``path``, on its own keep-alive connection.

        A probe polls every ``plan.probe_interval`` instead: it finds when the edge starts
        serving each version whatever the crowd does, and its polls are counted apart."""
        plan, report = self.plan, self.report
        host = f"{plan.host}:{plan.port}"
        newest = 0
        etag = ""
        connection: _Connection | None = None
        first_seen = report.first_seen.setdefault(path, {})
        if probe:  # probes of many games spread over one interval too
            await asyncio.sleep(self.random.uniform(0, plan.probe_interval))
        else:  # fans arrive over one interval, not all in the same millisecond
            await self._wait(path, self.random.uniform(0, plan.interval))
        # Until stopped, not only until cancelled: Python 3.11's wait_for (in the connect) can
        # hand back a refused connection's error instead of the cancellation that came with it,
        # and a fan caught there polled on for ever, so its crowd never reported.
        while not self.stopped.is_set():
            request = f"GET {path} HTTP/1.1\r\nHost: {host}\r\n"
            if etag:
                request += f"If-None-Match: {etag}\r\n"
            payload = (request + "\r\n").encode()
            sent = time.monotonic()
            try:
                if connection is not None and not connection.closed:
                    try:
                        answer = await connection.get(payload)
                    except ConnectionError:
                        # The edge closed the idle connection: send again, as browsers do.
                        connection = None
                if connection is None or connection.closed:
                    connection = await _Connection.open(plan.host, plan.port)
                    self.connections.add(connection)
                    answer = await connection.get(payload)
            except (OSError, ValueError) as exc:
                report.failed(type(exc).__name__)
                if connection is not None:
                    connection.close()
                connection = None
                await self._wait(path, plan.interval)
                continue
            now = time.monotonic()
            if probe:
                report.probe_requests += 1
            else:
                report.requests += 1
                report.response_ms.append((now - sent) * 1000)
            if answer.status == 304:
                report.not_modified += 0 if probe else 1
            elif answer.status == 200:
                version = _version(answer.etag)
                if version < newest:
                    report.regressions += 1  # and the fan keeps the newer one it has
                elif version > newest:
                    newest, etag = version, answer.etag
                    seen = first_seen.get(version)
                    wall = now + self.wall_offset
                    if seen is None or wall < seen:
                        first_seen[version] = wall
            elif answer.status != 404:  # 404: not scheduled yet
                report.failed(f"status {answer.status} {answer.code}".rstrip())
            if probe:
                await asyncio.sleep(plan.probe_interval)
            else:
                await self._wait(path, plan.interval * self.random.uniform(0.5, 1.5))

    async def _wait(self, path: str, delay: float) -> None:
        """Until the next poll: ``delay``, or a score change in the game at ``path`` and a
        human reaction to it.

        Timers, not one task per fan: a spike wakes thousands of fans at a cost of one timer
        each."""
        loop = asyncio.get_running_loop()
        woken: asyncio.Future[None] = loop.create_future()
        timer = loop.call_later(delay, _wake, woken)
        waiting = self.waiting.setdefault(path, set())
        waiting.add(woken)
        try:
            await woken
        finally:
            timer.cancel()
            waiting.discard(woken)

    def _spike(self, path: str) -> None:
        loop = asyncio.get_running_loop()
        waiting = self.waiting.pop(path, set())
        for woken in waiting:
            loop.call_later(self.random.uniform(0, self.plan.spread), _wake, woken)

    async def _listen(self, ids: list[int], first: asyncio.Future[None]) -> None:
        """One SSE fan: every event id it receives, with when it arrived. It connects at the
        edge and follows its redirect to the stream tier, as browsers do."""
        plan, report = self.plan, self.report
        loop = asyncio.get_running_loop()
        host, port, path = plan.host, plan.stream_port, plan.stream_path
        held: _Held | None = None
        try:
            for _ in range(3):
                factory = partial(_Held, path, ids, report, self.wall_offset)
                _, connection = await asyncio.wait_for(
                    loop.create_connection(factory, host, port), 10
                )
                held = connection
                status, location = await asyncio.wait_for(connection.head, 10)
                if status not in (301, 302, 307, 308) or not location:
                    break
                connection.close()
                host, port, path = _split(location, host, port)
        except (OSError, ConnectionError, TimeoutError):
            report.failed("SSE connect")
            first.set_result(None)
            if held is not None:
                held.close()
            return
        assert held is not None
        try:
            if status != 200:
                report.failed(f"SSE status {status}")
                return
            report.sse_connected += 1
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(asyncio.shield(held.first), 30)
            if not first.done():
                first.set_result(None)
            if not await held.ended:
                report.failed("SSE ended early")  # the stream ended before the final
        except (OSError, ConnectionError):
            report.failed("SSE read")
        finally:
            if not first.done():
                first.set_result(None)
            held.close()
            held.read()

    def _count_streams(self) -> None:
        for ids in self.streams:
            if ids != sorted(set(ids)):
                self.report.sse_out_of_order += 1
            elif ids and ids == [v for v in self.published if v >= ids[0]]:
                self.report.sse_complete += 1


class _Held(asyncio.Protocol):
    """One SSE fan's connection: the answer's head, then events parsed as they arrive. A
    protocol, because thousands of streams per process each get every event: a coroutine
    woken per read costs several times more than this callback."""

    def __init__(self, path: str, ids: list[int], report: CrowdReport, wall_offset: float) -> None:
        loop = asyncio.get_running_loop()
        # HTTP/1.0: the stream comes as plain bytes until it closes (Pushpin chunks HTTP/1.1).
        self.request = (
            f"GET {path} HTTP/1.0\r\nHost: scorecast\r\nAccept: text/event-stream\r\n\r\n"
        ).encode()
        self.ids = ids
        self.report = report
        self.wall_offset = wall_offset
        self.transport: asyncio.Transport | None = None
        #: (status, Location) once the head is in.
        self.head: asyncio.Future[tuple[int, str]] = loop.create_future()
        self.first: asyncio.Future[None] = loop.create_future()
        #: True at the final event; False when the connection ends before it.
        self.ended: asyncio.Future[bool] = loop.create_future()
        self.pending = b""
        self.chunks: list[tuple[float, bytes]] = []
        self.tail = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        self.transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        at = time.monotonic()
        if self.head.done():
            self._keep(at, data)
            return
        pending = self.pending + data
        end = pending.find(b"\r\n\r\n")
        if end < 0:
            self.pending = pending
            return
        lines = pending[:end].decode("latin-1").split("\r\n")
        location = next(
            (line[9:].strip() for line in lines if line.lower().startswith("location:")), ""
        )
        self.head.set_result((int(lines[0][9:12]), location))
        pending, self.pending = pending[end + 4 :], b""
        if pending:
            self._keep(at, pending)

    def _keep(self, at: float, data: bytes) -> None:
        # Only kept here, read after the game: what is measured is when the bytes reached this
        # process, not how long it took to parse thousands of other streams' events first.
        self.chunks.append((at, data))
        if not self.first.done():
            self.first.set_result(None)
        final = b"\nevent: final\n"
        if (final in data or final in self.tail + data[:16]) and not self.ended.done():
            self.ended.set_result(True)
        self.tail = data[-16:]

    def read(self) -> None:
        """The ids of the events received, with when each arrived (its last byte's chunk)."""
        splitter = EventSplitter()
        for at, chunk in self.chunks:
            for event in splitter.feed(chunk, at + self.wall_offset):
                if event.id is None:
                    continue
                self.ids.append(event.id)
                arrivals = self.report.sse_arrivals.get(event.id)
                if arrivals is None:
                    arrivals = self.report.sse_arrivals[event.id] = array("d")
                arrivals.append(event.at)
        self.chunks.clear()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.head.done():
            self.head.set_exception(ConnectionError("closed before an answer"))
        if not self.ended.done():
            self.ended.set_result(False)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


def _split(location: str, host: str, port: int) -> tuple[str, int, str]:
    url = urlsplit(location)
    path = url.path + (f"?{url.query}" if url.query else "")
    return url.hostname or host, url.port or port, path


@dataclass(frozen=True)
class _Answer:
    status: int
    etag: str
    #: An error answer's code (the API's and the edge's JSON errors carry one), else "".
    code: str = ""


class _Connection(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection, one request at a time; the body is dropped.

    A protocol rather than streams: a fan's poll then costs a few callbacks, so one process
    keeps thousands of fans polling."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.buffer = bytearray()
        self.answer: asyncio.Future[_Answer] | None = None

    @classmethod
    async def open(cls, host: str, port: int) -> _Connection:
        loop = asyncio.get_running_loop()
        _, connection = await asyncio.wait_for(loop.create_connection(cls, host, port), 10)
        return connection

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    async def get(self, request: bytes) -> _Answer:
        if self.transport is None or self.closed:
            raise ConnectionError("connection closed")
        self.buffer.clear()
        self.answer = asyncio.get_running_loop().create_future()
        self.transport.write(request)
        return await self.answer  # the crowd bounds its own life

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0 or self.answer is None or self.answer.done():
            return
        head = bytes(self.buffer[:end]).decode("latin-1").lower()
        status = int(head[9:12])
        headers = {
            name.strip(): value.strip()
            for name, _, value in (line.partition(":") for line in head.split("\r\n")[1:])
        }
        body = len(self.buffer) - end - 4
        if status not in (204, 304):
            if headers.get("transfer-encoding") == "chunked":
                if not self.buffer.endswith(b"0\r\n\r\n"):
                    return
            elif body < int(headers.get("content-length", "0")):
                return
        if headers.get("connection") == "close":
            self.close()
        code = ""
        if status >= 400:
            found = _ERROR_CODE.search(self.buffer, end)
            code = found[1].decode() if found else ""
        self.answer.set_result(_Answer(status, headers.get("etag", ""), code))

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.answer is not None and not self.answer.done():
            self.answer.set_exception(ConnectionError("closed by the edge"))

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()


_ERROR_CODE = re.compile(rb'"code":\s*"([A-Za-z0-9_]+)"')


def _wake(woken: asyncio.Future[None]) -> None:
    if not woken.done():
        woken.set_result(None)


def _version(etag: str) -> int:
    """``"v123"`` (or a weakened ``W/"v123"``; headers are lowercased) → 123."""
    digits = etag.removeprefix("w/").strip('"').removeprefix("v")
    return int(digits) if digits.isdigit() else 0
