"""Our own processes (origin, publisher, purger…) started the way an operator would start them:
``python -m scorecast COMMAND`` with each setting in the environment variable its component
reads."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path

from pydantic_settings import BaseSettings

from core.errors import ServiceError
from core.settings import environment
from ingest.settings import IngestSettings
from local.broker import broker
from local.process import ManagedProcess, answers, free_port
from notifier.settings import DevicesSettings, NotifierSettings
from origin.settings import OriginSettings
from poller.settings import FollowerSettings, PollerSettings
from probe.settings import ProbeSettings
from publisher.settings import PublisherSettings
from purger.settings import PurgerSettings

#: The settings each command reads.
SETTINGS: dict[str, type[BaseSettings]] = {
    "origin": OriginSettings,
    "publisher": PublisherSettings,
    "purger": PurgerSettings,
    "ingest": IngestSettings,
    "poll": PollerSettings,
    "follow": FollowerSettings,
    "probe": ProbeSettings,
    "notifier": NotifierSettings,
    "devices": DevicesSettings,
}


def child_env(command: str, settings: Mapping[str, object]) -> dict[str, str]:
    """The environment of a ``command`` process given ``settings`` by field name."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCORECAST_")}
    env.update(environment(SETTINGS[command], dict(settings)))
    env["PYTHONUNBUFFERED"] = "1"
    return env


def scorecast_process(
    command: str, settings: Mapping[str, object], run_dir: Path, name: str | None = None
) -> ManagedProcess:
    name = name or command
    # Started once its private listener says it is ready (:mod:`runtime.metrics`).
    port = settings.get("metrics_port")
    url = f"http://127.0.0.1:{port}/ready" if port else None
    if url is None and command == "origin":
        url = f"http://127.0.0.1:{settings['port']}/healthz"
    return ManagedProcess(
        name,
        [sys.executable, "-m", "scorecast", command],
        run_dir / f"{name}.log",
        (lambda: answers(url)) if url else (lambda: True),
        env=child_env(command, settings),
    )


def start_broker(run_dir: Path, port: int = 0, attempts: int = 3) -> tuple[ManagedProcess, int]:
    """Start the broker; on a port clash (it exits 0 then) try another free port."""
    last: ServiceError | None = None
    for _ in range(attempts):
        chosen = port or free_port()
        process = broker(chosen, run_dir)
        try:
            process.start()
        except ServiceError as exc:
            last = exc
            if port:
                break
            continue
        return process, chosen
    raise ServiceError(f"broker did not start: {last}")
