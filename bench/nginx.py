"""The local physical limit: nginx serving the same JSON bytes from disk, loaded with wrk.

The spike lab compares the origin's snapshot GETs (and the edge's cached answers) with it, as a
ratio: what this machine can do for these bytes when no code of ours runs.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from core.errors import ServiceError
from local.nchan import nginx_binary
from local.process import ManagedProcess, free_port, port_open

_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


@dataclass(frozen=True)
class Throughput:
    target: str
    requests_per_second: float
    p99_ms: float
    #: Answers that were not 2xx or 3xx: a run with any of them measured errors, not serving.
    bad_answers: int


def nginx(root: Path, run_dir: Path) -> tuple[ManagedProcess, int]:
    """nginx with one worker (the origin is one process too) serving ``root`` on loopback."""
    binary = nginx_binary()
    port = free_port()
    prefix = run_dir / "nginx"
    prefix.mkdir(parents=True, exist_ok=True)
    # As root, nginx's workers would drop to a user who cannot read a private temp dir.
    user = "user root;\n" if os.geteuid() == 0 else ""
    conf = prefix / "nginx.conf"
    conf.write_text(
        f"{user}worker_processes 1;\ndaemon off;\npid {prefix}/nginx.pid;\n"
        f"error_log {prefix}/error.log warn;\n"
        "events { worker_connections 4096; }\n"
        "http {\n"
        "  access_log off;\n"
        f"  client_body_temp_path {prefix}/body;\n  proxy_temp_path {prefix}/proxy;\n"
        f"  fastcgi_temp_path {prefix}/fastcgi;\n  uwsgi_temp_path {prefix}/uwsgi;\n"
        f"  scgi_temp_path {prefix}/scgi;\n"
        "  types { application/json json; }\n"
        f"  server {{ listen 127.0.0.1:{port}; root {root}; etag on; }}\n"
        "}\n"
    )
    process = ManagedProcess(
        "nginx",
        [binary, "-p", str(prefix), "-c", str(conf)],
        run_dir / "nginx.log",
        lambda: port_open(port),
    )
    return process, port


def wrk(target: str, url: str, seconds: float, connections: int = 64) -> Throughput:
    """Load ``url`` for ``seconds`` with wrk (two threads) and read its summary."""
    binary = shutil.which("wrk")
    if binary is None:
        raise ServiceError("wrk is not installed (scripts/install installs it)")
    argv = [binary, "-t2", f"-c{connections}", f"-d{seconds:g}s", "--latency", url]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 30, check=True)
    return parse_wrk(target, out.stdout)


def parse_wrk(target: str, text: str) -> Throughput:
    rate = re.search(r"Requests/sec:\s+([\d.]+)", text)
    p99 = re.search(r"^\s+99%\s+([\d.]+)(us|ms|s)\s*$", text, re.MULTILINE)
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
    if rate is None or p99 is None:
        raise ServiceError(f"wrk printed no summary: {text[-300:]!r}")
    return Throughput(
        target=target,
        requests_per_second=float(rate.group(1)),
        p99_ms=float(p99.group(1)) * _UNITS[p99.group(2)],
        bad_answers=int(bad.group(1)) if bad else 0,
    )


def compare(
    body: bytes, targets: dict[str, str], run_dir: Path, seconds: float
) -> list[Throughput]:
    """nginx serving ``body`` from disk, then each of ``targets`` (name → URL), one after
    another so they never share the cores."""
    root = run_dir / "nginx-root"
    root.mkdir(parents=True, exist_ok=True)
    (root / "game.json").write_bytes(body)
    process, port = nginx(root, run_dir)
    process.start()
    try:
        results = [wrk("nginx", f"http://127.0.0.1:{port}/game.json", seconds)]
    finally:
        process.stop()
    results += [wrk(name, url, seconds) for name, url in targets.items()]
    return results
