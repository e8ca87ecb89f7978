"""One lifecycle: a service whose start fails (its broker or Redis down, its port taken) gives
back everything it took (no client, socket, thread or task left behind), and no service runs
twice."""

from __future__ import annotations

import asyncio
import gc
import os
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from core.errors import ScorecastError, ServiceError
from ingest.app import IngestService
from ingest.settings import IngestSettings
from local.process import free_port
from poller.service import Poller
from poller.settings import PollerSettings
from publisher.service import Publisher
from publisher.settings import PublisherSettings
from purger.service import Purger
from purger.settings import PurgerSettings
from runtime.lifecycle import Service, ServiceState

_DOWN = f"127.0.0.1:{free_port()}"  # nothing listens there
_QUICK: dict[str, Any] = {"kafka_admin_timeout_seconds": 1.0, "redis_timeout": 1.0}
_TOKEN = "a-purge-token-0123456789"


def _held() -> tuple[int, int, int]:
    """Open files (sockets among them), librdkafka's threads and asyncio tasks."""
    gc.collect()
    tasks = Path("/proc/self/task")
    kafka = [t for t in tasks.iterdir() if (t / "comm").read_text().startswith("rdk:")]
    return len(os.listdir("/proc/self/fd")), len(kafka), len(asyncio.all_tasks())


@pytest.fixture
def taken_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def _services(redis_url: str, broker: str, taken: int) -> dict[str, Callable[[], Service]]:
    down = f"redis://{_DOWN}/0"
    kafka: dict[str, Any] = {"kafka_bootstrap": broker, **_QUICK}
    return {
        "publisher, broker down": lambda: Publisher(
            PublisherSettings(redis_url=redis_url, **kafka | {"kafka_bootstrap": _DOWN})
        ),
        "publisher, Redis down": lambda: Publisher(PublisherSettings(redis_url=down, **kafka)),
        "poller, broker down": lambda: Poller(
            PollerSettings(
                url="http://127.0.0.1:1/g.json",
                redis_url=redis_url,
                **kafka | {"kafka_bootstrap": _DOWN},
            )
        ),
        "poller, Redis down": lambda: Poller(
            PollerSettings(url="http://127.0.0.1:1/g.json", redis_url=down, **kafka)
        ),
        "ingest, broker down": lambda: IngestService(
            IngestSettings(
                webhook_secret="s" * 40,
                port=free_port(),
                redis_url=redis_url,
                **kafka | {"kafka_bootstrap": _DOWN},
            )
        ),
        "purger, Redis down": lambda: Purger(
            PurgerSettings(redis_url=down, purge_token=_TOKEN, redis_timeout=1.0)
        ),
        "purger, metrics port taken": lambda: Purger(
            PurgerSettings(redis_url=redis_url, purge_token=_TOKEN, metrics_port=taken)
        ),
    }


CASES = list(_services("redis://x/0", "x:1", 1))


@pytest.mark.parametrize("case", CASES)
async def test_a_failed_start_leaves_nothing_behind(
    case: str, redis_service: str, broker_service: str, taken_port: int
) -> None:
    make = _services(redis_service, broker_service, taken_port)[case]
    make()  # building one takes nothing yet (its clients connect when used)
    before = _held()
    service = make()
    with pytest.raises((ScorecastError, OSError)):
        async with service:
            pytest.fail("the start should have failed")
    assert service.state is ServiceState.CLOSED
    # librdkafka stops its threads as its handles are destroyed: give it a moment.
    for _ in range(50):
        if _held() == before:
            break
        await asyncio.sleep(0.1)
    assert _held() == before
    with pytest.raises(ServiceError, match="runs once"):
        async with service:
            pass


async def test_a_service_runs_once(redis_service: str) -> None:
    purger = Purger(PurgerSettings(redis_url=redis_service, purge_token=_TOKEN))
    async with purger:
        assert _state(purger) is ServiceState.OPENED
    assert _state(purger) is ServiceState.CLOSED
    with pytest.raises(ServiceError, match="runs once"):
        async with purger:
            pass


def _state(service: Service) -> ServiceState:
    return service.state
