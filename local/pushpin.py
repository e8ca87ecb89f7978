"""A private Pushpin (the open-source GRIP proxy behind Fastly Fanout) with our config from
``edge/pushpin``, filled in for one run."""

from __future__ import annotations

import shutil
from pathlib import Path
from string import Template

from core.errors import ServiceError
from local.holder import HolderPorts
from local.process import ManagedProcess, free_port
from local.varnish import EDGE_DIR

CONFIG = EDGE_DIR / "pushpin"


def pushpin(
    origin_port: int, sig_key: str, run_dir: Path, http_port: int = 0
) -> tuple[ManagedProcess, HolderPorts]:
    binary = shutil.which("pushpin")
    if binary is None:
        raise ServiceError("pushpin not found: run scripts/install")
    work = (run_dir / "pushpin").resolve()
    for folder in ("run", "log"):
        (work / folder).mkdir(parents=True, exist_ok=True)
    ports = HolderPorts(http=http_port or free_port(), publish=free_port())
    values = {
        "rundir": work / "run",
        "logdir": work / "log",
        "routes": work / "routes",
        "http_port": ports.http,
        "publish_port": ports.publish,
        "push_in_port": free_port(),
        "push_in_sub_port": free_port(),
        "command_port": free_port(),
        "sig_key": sig_key,
        "origin_port": origin_port,
    }
    for name in ("pushpin.conf", "routes"):
        text = Template((CONFIG / name).read_text()).substitute(values)
        (work / name).write_text(text)
    argv = [binary, "--config", str(work / "pushpin.conf"), "--merge-output"]
    return ManagedProcess("pushpin", argv, run_dir / "pushpin.log", ports.listening), ports
