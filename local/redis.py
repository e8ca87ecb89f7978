"""A private Redis server: no persistence, loopback only."""

from __future__ import annotations

import shutil
from pathlib import Path

from core.errors import ServiceError
from local.process import ManagedProcess, port_open


def redis_server(port: int, run_dir: Path) -> ManagedProcess:
    binary = shutil.which("redis-server")
    if binary is None:
        raise ServiceError("redis-server not found: run scripts/install")
    data = run_dir / "redis"
    data.mkdir(parents=True, exist_ok=True)
    argv = [
        binary,
        "--port", str(port),
        "--bind", "127.0.0.1",
        "--save", "",
        "--appendonly", "no",
        "--daemonize", "no",
        "--dir", str(data),
    ]  # fmt: skip
    return ManagedProcess("redis", argv, run_dir / "redis.log", lambda: port_open(port))


def redis_url(port: int) -> str:
    return f"redis://127.0.0.1:{port}/0"
