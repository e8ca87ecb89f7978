"""A private Varnish running the edge VCL from ``edge/varnish``.

The VCL is shipped as is; only ``scorecast-site.vcl`` (origin address, purge ACL and token) is
written per run, into the run directory, which comes first on Varnish's ``vcl_path``.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from core.errors import ServiceError
from local.process import ManagedProcess, port_open

EDGE_DIR = Path(__file__).resolve().parents[1] / "edge"
VCL = EDGE_DIR / "varnish" / "scorecast.vcl"


def site_vcl(
    origin_ports: int | list[int],
    purge_token: str,
    push_port: int | None = None,
    stream_connects_per_minute: int = 30,
    tier: Tier | None = None,
    devices_port: int | None = None,
    device_calls_per_minute: int = 60,
) -> str:
    """``origin_ports``: where this node fetches from (the origin, several origins taken in
    turn, or a shield for an edge node in front of one, see :class:`Tier`)."""
    first = origin_ports if isinstance(origin_ports, int) else origin_ports[0]
    for token in (purge_token, tier.token if tier else ""):
        if not token.isascii() or not token.isprintable() or '"' in token:
            raise ServiceError("tokens must be printable ASCII without quotes")
    inner = (
        f"""    if (req.http.Scorecast-Tier == "{tier.token}") {{
        set req.http.X-Scorecast-Inner = "1";
    }}
"""
        if tier
        else ""
    )
    upstream = (
        f'    set bereq.http.Scorecast-Tier = "{tier.token}";\n'
        if tier and tier.behind_shield
        else ""
    )
    return f"""# Written by scorecast for one local run.
{_origins(origin_ports)}
# Streams and long-polls: the stream tier's own listener (or the origin itself, which then
# holds them).
sub scorecast_stream_tier {{
    set req.http.X-Scorecast-Stream-Tier = "http://127.0.0.1:{push_port or first}";
}}

acl scorecast_purgers {{
    "127.0.0.1";
    "::1";
}}

sub scorecast_purge_token {{
    if (req.http.Purge-Token != "{purge_token}") {{
        return (synth(403, "bad purge token"));
    }}
    unset req.http.Purge-Token;
}}

# Two tiers: which requests come from our own edge nodes, and what this node sends upstream.
sub scorecast_inner_tier {{
{inner}    unset req.http.Scorecast-Tier;
}}

sub scorecast_upstream {{
{upstream}}}

{_devices(devices_port, device_calls_per_minute)}
# Enough for reconnects with backoff, not for a client opening connections in a loop.
sub scorecast_stream_limit {{
    if (vsthrottle.is_denied("stream:" + client.ip, {stream_connects_per_minute}, 60s)) {{
        return (synth(429, "too many stream connects; retry later"));
    }}
}}
"""


def _devices(port: int | None, per_minute: int) -> str:
    """The device registration API's backend and its per-client limit, or a 404 without it."""
    if port is None:
        return """sub scorecast_devices {
    return (synth(404, "no device registration here"));
}
"""
    return f"""{_backend("devices", port, probe=False)}
sub scorecast_devices {{
    if (vsthrottle.is_denied("devices:" + client.ip, {per_minute}, 60s)) {{
        return (synth(429, "too many registration calls; retry later"));
    }}
    set req.backend_hint = devices;
}}
"""


def _origins(ports: int | list[int]) -> str:
    """The ``origin`` backend, or one backend per origin and a round-robin director over them;
    each with a probe on ``/readyz``."""
    listed = [ports] if isinstance(ports, int) else ports
    names = ["origin"] if isinstance(ports, int) else [f"origin_{n}" for n in range(len(listed))]
    blocks = [_backend(name, port) for name, port in zip(names, listed, strict=True)]
    if isinstance(ports, int):
        pick = "set req.backend_hint = origin;"
    else:
        added = "\n".join(f"    origins.add_backend({name});" for name in names)
        blocks.insert(0, "import directors;\n")
        blocks.append(f"sub vcl_init {{\n    new origins = directors.round_robin();\n{added}\n}}\n")
        pick = "set req.backend_hint = origins.backend();"
    blocks.append(f"sub scorecast_origin {{\n    {pick}\n}}\n")
    return "\n".join(blocks)


_PROBE = """    .probe = {
        .url = "/readyz";
        .interval = 1s;
        .timeout = 1s;
        .window = 3;
        .threshold = 2;
        .initial = 2;
    }
"""


def _backend(name: str, port: int, probe: bool = True) -> str:
    """A local backend; probed on ``/readyz`` (an origin: the edge serves stale while it is
    sick) unless ``probe`` is False."""
    return f"""backend {name} {{
    .host = "127.0.0.1";
    .port = "{port}";
    .connect_timeout = 1s;
    .first_byte_timeout = 5s;
    .between_bytes_timeout = 5s;
{_PROBE if probe else ""}}}
"""


@dataclass(frozen=True)
class Tier:
    """A node of a two-tier edge: shields and edge nodes share ``token``; an edge node
    (``behind_shield``) sends it upstream and gets the CDN's own headers from the shield."""

    token: str
    behind_shield: bool = False


def varnish(
    port: int,
    admin_port: int,
    origin_port: int | list[int],
    purge_token: str,
    run_dir: Path,
    push_port: int | None = None,
    stream_connects_per_minute: int = 30,
    tier: Tier | None = None,
    name: str = "varnish",
    devices_port: int | None = None,
) -> ManagedProcess:
    binary = shutil.which("varnishd") or (
        "/usr/sbin/varnishd" if Path("/usr/sbin/varnishd").exists() else None
    )
    if binary is None:
        raise ServiceError("varnishd not found: run scripts/install")
    work = (run_dir / name).resolve()  # varnishd -n must be absolute
    work.mkdir(parents=True, exist_ok=True)
    site = site_vcl(
        origin_port, purge_token, push_port, stream_connects_per_minute, tier, devices_port
    )
    (work / "scorecast-site.vcl").write_text(site)
    argv = [
        binary,
        "-F",
        # No privilege separation: a private instance reads files only its user can (and a
        # non-root user cannot switch users anyway).
        "-j", "none",
        "-n", str(work),
        "-a", f"127.0.0.1:{port}",
        "-T", f"127.0.0.1:{admin_port}",
        "-f", str(VCL),
        "-p", f"vcl_path={work}:{VCL.parent}:/usr/share/varnish/vcl",
        "-p", "default_grace=0",
        # A worker keeps a keep-alive connection for 200 ms after an answer before handing it
        # to the waiter (default 50 ms). Fans and probes that poll within that time skip the
        # hand-over both ways: measured here, 300 connections polling every 150 ms cost
        # Varnish 116 µs a request at the default and 50 µs at 200 ms.
        "-p", "timeout_linger=0.2",
        "-s", "malloc,256m",
    ]  # fmt: skip
    return ManagedProcess(name, argv, run_dir / f"{name}.log", lambda: port_open(port))
