"""Fixtures that start the real services on free ports and stop them afterwards."""

from __future__ import annotations

import os
import secrets
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import uvicorn
from redis.asyncio import Redis
from starlette.types import ASGIApp

from core.keys import RedisKeys
from core.settings import KafkaSettings
from core.store import SnapshotWriter
from local.process import free_port
from local.redis import redis_server, redis_url
from local.services import start_broker
from local.stack import (
    FAST_HEARTBEAT_MS,
    FAST_SESSION_TIMEOUT_MS,
    LocalStack,
    default_data_dir,
)
from local.varnish import varnish
from origin.app import create_app
from origin.settings import OriginSettings
from runtime.kafka import ensure_topics
from tests.cdn_standin import CdnStandIn

NBA_LIVEDATA = "basketball/nba-cdn-livedata_0022000001.json"

#: Fixtures that start real services: a test that uses one (directly or through another) is
#: marked ``stack``, so ``pytest -m "not stack"`` is the fast lane of pure tests.
SERVICE_FIXTURES = {"run_dir", "redis_service", "broker_service", "stack", "cdn"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if SERVICE_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.stack)


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The recorded games; they may not be copied into the project, so they live beside it."""
    path = Path(os.environ.get("SCORECAST_DATA_DIR") or default_data_dir())
    if not path.is_dir():
        pytest.skip(f"recorded games not found at {path} (set SCORECAST_DATA_DIR)")
    return path


@pytest.fixture(scope="session")
def nba_file(data_dir: Path) -> Path:
    return data_dir / NBA_LIVEDATA


@pytest.fixture(scope="session")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("services")


@pytest.fixture(scope="session")
def redis_service(run_dir: Path) -> Iterator[str]:
    port = free_port()
    with redis_server(port, run_dir):
        yield redis_url(port)


@pytest.fixture(scope="session")
def broker_service(run_dir: Path) -> Iterator[str]:
    process, port = start_broker(run_dir)
    try:
        yield f"127.0.0.1:{port}"
    finally:
        process.stop()


@pytest.fixture
def prefix() -> str:
    """A Redis key prefix of its own for each test, instead of flushing a shared server."""
    return f"t{uuid.uuid4().hex[:12]}"


@pytest.fixture
async def redis(redis_service: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_service, socket_timeout=5)
    async with client:
        yield client


@pytest.fixture
def store(redis: Redis, prefix: str) -> SnapshotWriter:
    return SnapshotWriter(redis, RedisKeys(prefix), changes_maxlen=10_000)


@pytest.fixture
def kafka(broker_service: str) -> KafkaSettings:
    """Topics of their own for each test; the broker is shared."""
    name = f"events-{uuid.uuid4().hex[:8]}"
    settings = KafkaSettings(
        kafka_bootstrap=broker_service,
        events_topic=name,
        dead_letter_topic=f"{name}.dlq",
        kafka_session_timeout_ms=FAST_SESSION_TIMEOUT_MS,
        kafka_heartbeat_interval_ms=FAST_HEARTBEAT_MS,
        kafka_partitions=3,
    )
    ensure_topics(settings)
    return settings


class ThreadedServer:
    """uvicorn in a thread of this process, on a free port."""

    def __init__(self, app: ASGIApp, port: int, tls: tuple[Path, Path] | None = None) -> None:
        # Streams a test left open must not keep the server (and its hub) alive past the test.
        config = uvicorn.Config(
            app,
            host="127.0.0.1",
            port=port,
            log_level="warning",
            timeout_graceful_shutdown=2,
            ssl_certfile=tls[0] if tls else None,
            ssl_keyfile=tls[1] if tls else None,
        )
        self.server = uvicorn.Server(config)
        self.url = f"{'https' if tls else 'http'}://127.0.0.1:{port}"
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> ThreadedServer:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("server did not start")
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)


@pytest.fixture
def origin_settings(redis_service: str, prefix: str) -> OriginSettings:
    return OriginSettings(
        redis_url=redis_service, redis_prefix=prefix, port=free_port(), metrics_port=free_port()
    )


@pytest.fixture
def origin(origin_settings: OriginSettings) -> Iterator[str]:
    with ThreadedServer(create_app(origin_settings), origin_settings.port) as server:
        yield server.url


@pytest.fixture
def origin_metrics(origin: str, origin_settings: OriginSettings) -> str:
    """The origin fixture's private listener (``/metrics``, ``/ready``)."""
    return f"http://127.0.0.1:{origin_settings.metrics_port}"


@dataclass(frozen=True)
class Edge:
    url: str
    purge_token: str


@pytest.fixture
def edge(origin: str, tmp_path: Path) -> Iterator[Edge]:
    """Varnish running our VCL in front of the origin fixture."""
    token = secrets.token_urlsafe(24)
    port = free_port()
    origin_port = int(origin.rsplit(":", 1)[1])
    with varnish(port, free_port(), origin_port, token, tmp_path):
        yield Edge(f"http://127.0.0.1:{port}", token)


@pytest.fixture
def cdn() -> Iterator[tuple[CdnStandIn, str]]:
    """The Fastly and Cloudflare API stand-in, and its base URL."""
    standin = CdnStandIn(
        fastly_token=secrets.token_urlsafe(24),
        fastly_service_id="SU1Z0isxPaozGVKXdv0eY",
        cloudflare_token=secrets.token_urlsafe(30),
        cloudflare_zone_id=secrets.token_hex(16),
    )
    port = free_port()
    with ThreadedServer(standin.app(), port) as server:
        yield standin, server.url


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    """The whole local stack (as ``scorecast up`` starts it), one per test module."""
    run_dir = tmp_path_factory.mktemp("stack")
    with LocalStack.for_load(run_dir) as local:
        yield local
