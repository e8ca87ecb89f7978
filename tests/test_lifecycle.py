"""One lifecycle: every service starts with ``async with``, runs until SIGTERM, drains within its
set time and exits 0; the origin ends the streams it holds cleanly instead of cutting them."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import StreamingResponse
from starlette.routing import Route

from core.reducer import versions
from core.settings import KafkaSettings
from core.store import SnapshotWriter
from harness.sse import open_url
from local.process import ManagedProcess, free_port
from local.services import scorecast_process
from tests.conftest import ThreadedServer
from tests.factories import short_game

#: Starts real services or processes of its own (see ``SERVICE_FIXTURES`` in conftest).
pytestmark = pytest.mark.stack

# uvicorn's words when open requests outlive the drain and are cancelled.
_CUT = "timeout graceful shutdown exceeded"


def _started(process: ManagedProcess, words: str) -> None:
    """Wait until the service logged ``words``: its signal handlers are in place by then."""
    deadline = time.monotonic() + 20
    while words not in process.log.read_text(errors="replace"):
        assert process.alive(), process.tail()
        assert time.monotonic() < deadline, process.tail()
        time.sleep(0.05)


async def test_sigterm_ends_the_origins_streams_cleanly_and_it_exits_0(
    redis_service: str, prefix: str, store: SnapshotWriter, tmp_path: Path
) -> None:
    await store.write(versions(None, short_game("g1")).versions[0])
    port = free_port()
    settings = {"redis_url": redis_service, "redis_prefix": prefix, "port": port}
    process = scorecast_process("origin", {**settings, "drain_seconds": 20}, tmp_path)
    await asyncio.to_thread(process.start)
    try:
        streams = [await open_url(f"http://127.0.0.1:{port}", "/v1/games/g1/stream") for _ in "ab"]
        for stream in streams:
            assert len(await stream.take(1)) == 1
        code = await asyncio.to_thread(process.stop, 30)
        for stream in streams:
            # The server ended the stream (end of file), it was not left hanging.
            rest = [event async for event in stream]
            assert rest == []
            stream.close()
    finally:
        process.stop()
    assert code == 0, process.tail()
    log = process.log.read_text()
    assert _CUT not in log
    assert "Finished server process" in log


@pytest.mark.parametrize("command", ["publisher", "purger", "ingest"])
def test_sigterm_stops_each_service_cleanly(
    command: str, redis_service: str, kafka: KafkaSettings, tmp_path: Path
) -> None:
    settings: dict[str, object] = {
        "redis_url": redis_service,
        "redis_prefix": f"t{uuid.uuid4().hex[:8]}",
        "drain_seconds": 10,
    }
    words = {"publisher": "publisher stopped", "purger": "purger stopped", "ingest": ""}
    if command == "publisher":
        settings |= kafka.model_dump() | {"group_id": f"g-{uuid.uuid4().hex[:8]}"}
        ready = "publisher started"
    elif command == "purger":
        settings |= {"purge_token": "a-purge-token-0123456789", "varnish_url": "http://127.0.0.1:1"}
        ready = "purger started"
    else:
        settings |= kafka.model_dump() | {"port": free_port(), "webhook_secret": "s" * 40}
        ready = "Application startup complete"
        words["ingest"] = "Finished server process"
    process = scorecast_process(command, settings, tmp_path)
    process.start()
    try:
        _started(process, ready)
    finally:
        code = process.stop(30)
    assert code == 0, process.tail()
    assert words[command] in process.log.read_text()


def test_a_poller_held_by_a_dripping_provider_still_stops_on_sigterm(
    redis_service: str, kafka: KafkaSettings, tmp_path: Path
) -> None:
    """A provider sending a byte now and then holds a poll (up to its deadline, long here):
    SIGTERM still ends the poller within its drain, exit code 0."""
    polled = threading.Event()

    async def drip(request: Request) -> StreamingResponse:
        polled.set()  # the poller's signal handlers are in place before its first poll

        async def forever() -> AsyncIterator[bytes]:
            while True:
                yield b" "
                await asyncio.sleep(0.2)

        return StreamingResponse(forever(), media_type="application/json")

    provider = Starlette(routes=[Route("/feed/{name}", drip)])
    with ThreadedServer(provider, free_port()) as server:
        settings = kafka.model_dump() | {
            "redis_url": redis_service,
            "redis_prefix": f"t{uuid.uuid4().hex[:8]}",
            "url": f"{server.url}/feed/g1.json",
            "timeout_seconds": 60,
            "drain_seconds": 2,
        }
        process = scorecast_process("poll", settings, tmp_path)
        process.start()
        try:
            # A fixed sleep raced a slow start on a busy machine: SIGTERM came before the
            # handlers and the process died of it (-15).
            assert polled.wait(30), process.tail()
            time.sleep(0.5)  # inside its first poll, held by the drip
            assert process.alive(), process.tail()
            started = time.monotonic()
            code = process.stop(30)
            took = time.monotonic() - started
        finally:
            process.stop()
    assert code == 0, process.tail()
    assert took < 6, took


def _closed_by_server(sock: socket.socket, within: float) -> bool:
    """Whether the server closes ``sock`` within ``within`` seconds (we send nothing more)."""
    sock.settimeout(within)
    try:
        return sock.recv(1024) == b""
    except TimeoutError:
        return False
    except ConnectionResetError:
        return True


def test_silent_clients_past_the_connection_limit_never_starve_the_origin(
    redis_service: str, prefix: str, tmp_path: Path
) -> None:
    """Clients that open connections and send nothing (or drip their headers) cannot hold
    the origin: at ``SCORECAST_ORIGIN_MAX_CONNECTIONS`` the one idle the longest is closed to
    make room, so health checks and the edge's requests are answered; and a request's headers
    must arrive within ``SCORECAST_ORIGIN_HEADER_SECONDS``."""
    port = free_port()
    settings = {"redis_url": redis_service, "redis_prefix": prefix, "port": port}
    process = scorecast_process(
        "origin", {**settings, "max_connections": 16, "header_seconds": 2}, tmp_path
    )
    process.start()
    silent: list[socket.socket] = []
    try:
        silent = [socket.create_connection(("127.0.0.1", port)) for _ in range(40)]
        for sock in silent[:20]:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: a\r\n")  # never ends its headers
        with httpx.Client(base_url=f"http://127.0.0.1:{port}") as client:
            for _ in range(30):
                assert client.get("/healthz", timeout=5).status_code == 200
        # The oldest silent ones made room (uvicorn alone answered 503 here).
        assert _closed_by_server(silent[0], within=0.5)
        # Every silent one is gone once its headers are overdue, the dripping ones too.
        assert all(_closed_by_server(sock, within=4) for sock in silent)
        log = process.log.read_text()
        assert "Traceback" not in log
    finally:
        for sock in silent:
            sock.close()
        process.stop()


def test_an_origin_at_its_file_limit_keeps_answering_and_logs_no_flood(
    redis_service: str, prefix: str, tmp_path: Path
) -> None:
    """Started with room for 512 files and the default cap: 700 clients opening connections
    and sending nothing never take its last file handle (its cap sits below the limit and the
    oldest idle one makes room), so health checks are answered throughout and the log stays
    quiet (the release before logged thousands of accept tracebacks a second here)."""
    port = free_port()
    settings = {"redis_url": redis_service, "redis_prefix": prefix, "port": port}
    process = scorecast_process("origin", settings, tmp_path)
    # The same command, with the soft and hard file limits lowered to 512 first.
    process.argv = ["sh", "-c", 'ulimit -n 512 && exec "$@"', "sh", *process.argv]
    process.start()
    silent: list[socket.socket] = []
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}") as client:
            for round in range(7):
                silent += [socket.create_connection(("127.0.0.1", port)) for _ in range(100)]
                assert client.get("/healthz", timeout=5).status_code == 200, round
        time.sleep(0.5)
        log = process.log.read_text()
        assert "Traceback" not in log
        assert "Too many open files" not in log
        assert len(log.splitlines()) < 40, process.tail()
    finally:
        for sock in silent:
            sock.close()
        process.stop()


def test_a_slow_request_head_is_cut_off_and_a_quick_one_is_served(
    redis_service: str, prefix: str, tmp_path: Path
) -> None:
    port = free_port()
    settings = {"redis_url": redis_service, "redis_prefix": prefix, "port": port}
    process = scorecast_process("origin", {**settings, "header_seconds": 1}, tmp_path)
    process.start()
    try:
        with socket.create_connection(("127.0.0.1", port)) as drip:
            started = time.monotonic()
            for byte in b"GET /healthz HTTP/1.1\r\nHost: a\r\n":
                try:
                    drip.sendall(bytes([byte]))
                except OSError:
                    break
                time.sleep(0.1)
            assert _closed_by_server(drip, within=3)
            assert time.monotonic() - started < 4
        with socket.create_connection(("127.0.0.1", port)) as quick:
            quick.sendall(b"GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n")
            quick.settimeout(5)
            assert quick.recv(1024).startswith(b"HTTP/1.1 200")
    finally:
        process.stop()
