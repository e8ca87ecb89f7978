"""The self-hosted stream tier: a private nginx with Nchan, configured from ``edge/nchan``."""

from __future__ import annotations

import ipaddress
import os
import re
import resource
import shutil
from collections.abc import Sequence
from pathlib import Path

from core import cors
from core.errors import ServiceError
from local.holder import HolderPorts
from local.process import ManagedProcess, free_port
from local.varnish import EDGE_DIR

CONFIG = EDGE_DIR / "nchan" / "nginx.conf"
_PLACEHOLDER = re.compile(r"\{\{(\w+)\}\}")
#: Where Debian's libnginx-mod-nchan puts the module.
_MODULES = ("/usr/lib/nginx/modules/ngx_nchan_module.so",)


def nginx_binary() -> str:
    binary = shutil.which("nginx") or "/usr/sbin/nginx"
    if not Path(binary).exists():
        raise ServiceError("nginx is not installed (scripts/install installs it)")
    return binary


def render(values: dict[str, object]) -> str:
    """``edge/nchan/nginx.conf`` with its ``{{placeholders}}`` filled; every one must be."""
    text = CONFIG.read_text()
    missing = sorted(set(_PLACEHOLDER.findall(text)) - set(values))
    if missing:
        raise ServiceError(f"stream tier config needs {', '.join(missing)}")
    return _PLACEHOLDER.sub(lambda match: str(values[match.group(1)]), text)


def preflight_directives() -> str:
    """The CORS policy's preflight headers as nginx directives (one line)."""
    return " ".join(f'add_header {k} "{v}";' for k, v in cors.preflight_headers().items())


def real_ip_directives(trusted_proxies: Sequence[str], header: str) -> str:
    """nginx's realip directives: the client address from ``header`` when a connection comes
    from one of ``trusted_proxies`` (CIDRs: a CDN's published ranges), else none."""
    if not trusted_proxies:
        return "# (no proxy in front: each connection's own address is the client's)"
    if not re.fullmatch(r"[A-Za-z0-9-]+", header):
        raise ServiceError(f"not a header name: {header!r}")
    for cidr in trusted_proxies:
        try:
            ipaddress.ip_network(cidr)
        except ValueError:
            raise ServiceError(f"not an address range: {cidr!r}") from None
    lines = [f"set_real_ip_from {cidr};" for cidr in trusted_proxies]
    return " ".join([*lines, f"real_ip_header {header};"])


def nchan(
    origin_port: int,
    redis_url: str,
    holder_key: str,
    run_dir: Path,
    http_port: int = 0,
    connects_per_minute: int = 30,
    workers: int = 1,
    trusted_proxies: Sequence[str] = (),
    client_ip_header: str = "CF-Connecting-IP",
    streams_per_client: int = 500,
    max_streams: int | None = None,
) -> tuple[ManagedProcess, HolderPorts]:
    module = next((path for path in _MODULES if Path(path).exists()), None)
    if module is None:
        raise ServiceError("the Nchan module is not installed: run scripts/install")
    if not holder_key.isascii() or not holder_key.isprintable() or '"' in holder_key:
        raise ServiceError("the holder key must be printable ASCII without quotes")
    work = (run_dir / "nchan").resolve()
    work.mkdir(parents=True, exist_ok=True)
    ports = HolderPorts(http=http_port or free_port(), publish=free_port())
    # One file per held stream: as many as this machine lets a process open.
    max_files = min(resource.getrlimit(resource.RLIMIT_NOFILE)[1], 65536)
    text = render(
        {
            "module": module,
            "workers": workers,
            "max_files": max_files,
            # Room left for the upstream connections of connects under way and the listeners;
            # nginx takes a connection limit below 65,536.
            "max_streams": min(max_streams or max(16, workers * max_files - 1024), 65535),
            "streams_per_client": min(streams_per_client, 65535),
            "dir": work,
            "origin_port": origin_port,
            "redis_url": redis_url,
            "connects_per_minute": connects_per_minute,
            "http_port": ports.http,
            "publish_port": ports.publish,
            "holder_key": holder_key,
            "cors_preflight": preflight_directives(),
            "real_ip": real_ip_directives(trusted_proxies, client_ip_header),
        }
    )
    (work / "nginx.conf").write_text(text)
    argv = [nginx_binary(), "-p", str(work), "-c", str(work / "nginx.conf")]
    # As root, nginx's workers would drop to a user who cannot read a private run directory.
    if os.geteuid() == 0:
        argv += ["-g", "user root;"]
    return ManagedProcess("nchan", argv, run_dir / "nchan.log", ports.listening), ports
