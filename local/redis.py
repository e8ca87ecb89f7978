"""A private Redis server: no persistence, loopback only."""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

from core.errors import ServiceError
from local.process import ManagedProcess, port_open


def redis_server(
    port: int, run_dir: Path, name: str = "redis", extra: list[str] | None = None
) -> ManagedProcess:
    """``extra``: more options (a cluster node's, see :func:`cluster_node`)."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise ServiceError("redis-server not found: run scripts/install")
    data = run_dir / name
    data.mkdir(parents=True, exist_ok=True)
    argv = [
        binary,
        "--port", str(port),
        "--bind", "127.0.0.1",
        "--save", "",
        "--appendonly", "no",
        "--daemonize", "no",
        "--dir", str(data),
        *(extra or []),
    ]  # fmt: skip
    return ManagedProcess(name, argv, run_dir / f"{name}.log", lambda: port_open(port))


def redis_url(port: int) -> str:
    return f"redis://127.0.0.1:{port}/0"


def cluster_node(port: int, bus_port: int, run_dir: Path) -> ManagedProcess:
    """One node of a local Redis Cluster (its cluster state in its own dir). ``bus_port``: the
    nodes' own channel (else port + 10000, which may not exist)."""
    cluster = [
        "--cluster-enabled", "yes",
        "--cluster-config-file", "nodes.conf",
        "--cluster-port", str(bus_port),
        # A dead master's replica takes over within a few seconds, however long ago it last
        # heard from it (a replica never refuses for being out of touch).
        "--cluster-node-timeout", "2000",
        "--cluster-replica-validity-factor", "0",
    ]  # fmt: skip
    return redis_server(port, run_dir, f"redis-{port}", cluster)


def create_cluster(ports: list[int], replicas: int, timeout: float = 30.0) -> None:
    """Join running nodes into one cluster (``redis-cli --cluster create``), then wait until
    every slot is served."""
    binary = shutil.which("redis-cli")
    if binary is None:
        raise ServiceError("redis-cli not found: run scripts/install")
    nodes = [f"127.0.0.1:{port}" for port in ports]
    command = [binary, "--cluster", "create", *nodes, "--cluster-replicas", str(replicas)]
    created = subprocess.run(
        [*command, "--cluster-yes"],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if created.returncode != 0:
        raise ServiceError(f"redis-cli --cluster create failed: {created.stdout[-500:]}")
    deadline = time.monotonic() + timeout
    for port in ports:
        # Every slot served, and every replica in sync with its master (a replica that never
        # synced cannot take over).
        while not _ready(binary, port):
            if time.monotonic() > deadline:
                raise ServiceError(f"cluster node {port} not ready after {timeout:.0f} s")
            time.sleep(0.1)


def _ready(binary: str, port: int) -> bool:
    def ask(*command: str) -> str:
        found = subprocess.run(
            [binary, "-p", str(port), *command],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
        return found.stdout

    if "cluster_state:ok" not in ask("cluster", "info"):
        return False
    replication = ask("info", "replication")
    return "role:master" in replication or "master_link_status:up" in replication
