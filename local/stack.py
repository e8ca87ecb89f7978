"""``scorecast up``: the whole stack as real local processes, and a replayed game through it."""

from __future__ import annotations

import contextlib
import json
import secrets
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any, Literal

import httpx

from core import calendar
from core.errors import ServiceError
from core.keys import RedisKeys, league_key
from core.models import Game, GameStatus
from feeds.adapters import Feed, load
from feeds.replay import ProgressBar, ReplaySettings, replay
from local.nchan import nchan
from local.process import ManagedProcess, Started, free_port
from local.prometheus import prometheus_server, write_targets
from local.pushpin import pushpin
from local.redis import redis_server, redis_url
from local.services import scorecast_process, start_broker
from local.settings import StackSettings
from local.standins.run import StandIns, vapid_keys
from local.varnish import EDGE_DIR, varnish
from notifier.settings import DevicesSettings
from runtime.kafka import ensure_topics

SAMPLE_GAME = "basketball/nba-cdn-livedata_0022000001.json"

#: Short group timeouts: joins on the local broker take about half the session timeout.
FAST_SESSION_TIMEOUT_MS = 2000
FAST_HEARTBEAT_MS = 500


@dataclass
class LocalStack(Started):
    """Redis, broker, origin, the stream tier, Varnish, publisher and purger, started in that
    order. The stream tier (process ``holder``) is Nchan, or Pushpin (GRIP, as Fastly Fanout)."""

    run_dir: Path
    redis_port: int = 0
    broker_port: int = 0
    origin_port: int = 0
    edge_port: int = 0
    #: The device registration API (reached through the edge at ``/v1/devices``).
    devices_port: int = 0
    purge_token: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    #: Pushpin's ``Grip-Sig`` key, and the secret Nchan proves itself to the origin with.
    grip_key: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    holder_key: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    #: The notifier's VAPID key pair (PEM private key, base64url public key) for this run.
    vapid: tuple[str, str] = field(default_factory=vapid_keys)
    #: Also run the notifier, sending to the three platforms' stand-ins (one process).
    notify: bool = False
    standins: StandIns | None = None
    holder: Literal["nchan", "pushpin"] = "nchan"
    #: nginx workers of the Nchan stream tier (one per core of this machine's two).
    holder_workers: int = 2
    holder_port: int = 0
    holder_publish_url: str = ""
    #: Stream and long-poll connects one client may open a minute (load tests, which open
    #: thousands from one address, raise it).
    stream_connects_per_minute: int = 30
    #: Streams one client address may hold at once at the stream tier (load tests raise it).
    streams_per_client: int = 500
    #: The publisher's ``push_max_age_seconds`` and ``push_keep_alive_seconds`` (None: its
    #: defaults).
    push_max_age_seconds: float | None = None
    push_keep_alive_seconds: float | None = None
    #: Streams the change announcements are spread over (``change_shards`` of every service).
    change_shards: int = 1
    processes: dict[str, ManagedProcess] = field(default_factory=dict)
    #: Each of our services' private listener (``/metrics``, ``/ready``), by process name.
    metrics_ports: dict[str, int] = field(default_factory=dict)
    #: Start a Prometheus scraping every service (``prometheus_url``), alert rules loaded.
    prometheus: bool = False
    prometheus_port: int = 0

    @classmethod
    def for_load(cls, run_dir: Path, **options: Any) -> LocalStack:
        """A stack for load tests, which open thousands of streams from one address."""
        return cls(
            run_dir, stream_connects_per_minute=100_000, streams_per_client=100_000, **options
        )

    @property
    def redis_url(self) -> str:
        return redis_url(self.redis_port)

    @property
    def keys(self) -> RedisKeys:
        """The Redis keys every service of this stack uses."""
        return RedisKeys(change_shards=self.change_shards)

    def redis_settings(self) -> dict[str, object]:
        """What every service needs to share the store."""
        return {"redis_url": self.redis_url, "change_shards": self.change_shards}

    def tier_settings(self) -> dict[str, object]:
        """What the origin and the publisher both need to know of the stream tier."""
        if self.holder == "pushpin":
            return {"tier": "pushpin", "grip_key": self.grip_key}
        return {"tier": "nchan", "holder_key": self.holder_key}

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.broker_port}"

    @property
    def origin_url(self) -> str:
        return f"http://127.0.0.1:{self.origin_port}"

    def metrics_url(self, name: str = "origin") -> str:
        """The private listener of one of our services (by process name)."""
        return f"http://127.0.0.1:{self.metrics_ports[name]}"

    @property
    def prometheus_url(self) -> str:
        return f"http://127.0.0.1:{self.prometheus_port}"

    @property
    def edge_url(self) -> str:
        return f"http://127.0.0.1:{self.edge_port}"

    @property
    def stream_url(self) -> str:
        """The stream tier's own listener, where the edge redirects streams and long-polls."""
        return f"http://127.0.0.1:{self.holder_port}"

    def kafka_settings(self) -> dict[str, object]:
        return {
            "kafka_bootstrap": self.bootstrap,
            "kafka_session_timeout_ms": FAST_SESSION_TIMEOUT_MS,
            "kafka_heartbeat_interval_ms": FAST_HEARTBEAT_MS,
        }

    def start(self) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.redis_port = self.redis_port or free_port()
        self._run("redis", redis_server(self.redis_port, self.run_dir))
        process, self.broker_port = start_broker(self.run_dir, self.broker_port)
        self.processes["broker"] = process
        ensure_topics(ReplaySettings(kafka_bootstrap=self.bootstrap))
        self.origin_port = self.origin_port or free_port()
        origin = {**self.redis_settings(), **self.tier_settings(), "port": self.origin_port}
        # Our services get ready together: their imports take most of a stack's start.
        starting = [self.start_service("origin", origin, wait=False)]
        self.devices_port = self.devices_port or free_port()
        devices = {
            **self.redis_settings(),
            "port": self.devices_port,
            "vapid_public_key": self.vapid[1],
            # The push services the browsers use, and the local Web Push stand-in.
            "push_hosts": json.dumps([*DevicesSettings().push_hosts, "127.0.0.1"]),
        }
        starting.append(self.start_service("devices", devices, wait=False))
        self._start_holder()
        publisher = self.start_publisher(wait=False)
        for process in starting:
            process.wait_until_ready()
        # Only now: the edge's probe would find an origin still starting sick for seconds.
        self._start_edge(self.holder_port)
        purger = self.start_purger(wait=False)
        publisher.wait_until_ready()
        purger.wait_until_ready()
        if self.notify:
            self.start_notifier()
        if self.prometheus:
            self.prometheus_port = self.prometheus_port or free_port()
            self._run(
                "prometheus",
                prometheus_server(self.prometheus_port, self.run_dir, self.metrics_ports),
            )

    def _start_holder(self) -> None:
        if self.holder == "pushpin":
            proxy, grip = pushpin(self.origin_port, self.grip_key, self.run_dir, self.holder_port)
            self.holder_port, self.holder_publish_url = grip.http, grip.publish_url
        else:
            proxy, ports = nchan(
                self.origin_port,
                self.redis_url,
                self.holder_key,
                self.run_dir,
                self.holder_port,
                self.stream_connects_per_minute,
                self.holder_workers,
                streams_per_client=self.streams_per_client,
            )
            self.holder_port, self.holder_publish_url = ports.http, ports.publish_url
        self._run("holder", proxy)

    def _start_edge(self, push_port: int, attempts: int = 3) -> None:
        """Varnish on the edge port; a free port chosen here can be taken by another process
        before Varnish binds it (an outgoing connection's, on a busy machine): then another."""
        chosen = self.edge_port
        for attempt in range(attempts):
            self.edge_port = chosen or free_port()
            edge = varnish(
                self.edge_port,
                free_port(),
                self.origin_port,
                self.purge_token,
                self.run_dir,
                push_port=push_port,
                stream_connects_per_minute=self.stream_connects_per_minute,
                devices_port=self.devices_port,
            )
            try:
                self._run("varnish", edge)
                return
            except ServiceError as exc:
                if chosen or "Address already in use" not in str(exc) or attempt == attempts - 1:
                    raise

    def start_publisher(
        self, name: str = "publisher", group_id: str = "", wait: bool = True
    ) -> ManagedProcess:
        settings = {**self.redis_settings(), **self.kafka_settings()}
        if group_id:
            settings["group_id"] = group_id
        settings |= self.tier_settings()
        if self.holder == "pushpin":
            settings["grip_publish_url"] = self.holder_publish_url
        else:
            settings["nchan_publish_url"] = self.holder_publish_url
        if self.push_max_age_seconds is not None:
            settings["push_max_age_seconds"] = self.push_max_age_seconds
        if self.push_keep_alive_seconds is not None:
            settings["keep_alive_seconds"] = self.push_keep_alive_seconds
        return self.start_service("publisher", settings, name, wait)

    def start_purger(self, wait: bool = True) -> ManagedProcess:
        settings = {
            **self.redis_settings(),
            "varnish_url": self.edge_url,
            "purge_token": self.purge_token,
        }
        return self.start_service("purger", settings, wait=wait)

    def stop(self) -> None:
        """Stop every process, newest first, our services together before the rest; one that
        fails to stop does not keep the others running."""
        failures = []
        for name, process in self.processes.items():
            if name in self.metrics_ports:
                try:
                    process.terminate()
                except Exception as exc:
                    failures.append(f"{name}: {exc}")
        for name in reversed(list(self.processes)):
            try:
                self.processes.pop(name).stop()
            except Exception as exc:
                failures.append(f"{name}: {exc}")
        if failures:
            raise ServiceError("could not stop " + "; ".join(failures))

    def crash(self, name: str) -> None:
        """SIGKILL one component, as a crash would."""
        self.processes[name].kill()

    def revive(self, name: str) -> None:
        """Start a crashed component again, with the same settings and ports."""
        self.processes[name].start()
        if name == "broker":
            ensure_topics(ReplaySettings(kafka_bootstrap=self.bootstrap))  # it kept nothing

    def rebuild(self) -> None:
        """After Redis was lost: a publisher in a fresh consumer group reads the feed from the
        start and writes every version again, with the same numbers (see README)."""
        self.processes.pop("publisher").kill()
        self.start_publisher(group_id=f"scorecast-publisher-rebuild-{secrets.token_hex(4)}")

    def dead(self) -> list[str]:
        return [name for name, process in self.processes.items() if not process.alive()]

    def start_notifier(self) -> StandIns:
        """APNs, FCM and a Web Push service stand-ins, and a notifier sending to them."""
        standins = StandIns(self.run_dir, vapid=self.vapid)
        self._run("standins", standins.process())
        settings = {**self.redis_settings(), **self.kafka_settings()}
        self.start_service("notifier", settings | standins.notifier_settings())
        self.standins = standins
        return standins

    def start_service(
        self, kind: str, settings: dict[str, object], name: str = "", wait: bool = True
    ) -> ManagedProcess:
        """One of our services, with its private listener on a port of its own; without
        ``wait``, launched and not yet ready (:meth:`ManagedProcess.wait_until_ready`)."""
        name = name or kind
        settings["metrics_port"] = self.metrics_ports.setdefault(name, free_port())
        process = self._run(name, scorecast_process(kind, settings, self.run_dir, name), wait)
        if "prometheus" in self.processes:
            write_targets(self.run_dir, self.metrics_ports)  # scraped from now on
        return process

    def _run(self, name: str, process: ManagedProcess, wait: bool = True) -> ManagedProcess:
        process.launch()
        self.processes[name] = process  # stopped with the stack even if it never gets ready
        if wait:
            process.wait_until_ready()
        return process


class Supervisor:
    """Restarts any service of a running stack that exits, as systemd or Kubernetes would in a
    deployment (the publisher and purger exit on purpose when Redis is lost). Redis comes back
    empty, so after restarting it the game is rebuilt from the feed (see ``LocalStack.rebuild``).
    A service that exits ``limit`` times within a minute is left down and reported."""

    def __init__(self, stack: LocalStack, interval: float = 0.5, limit: int = 5) -> None:
        self.stack = stack
        self.interval = interval
        self.limit = limit
        self.gave_up: list[str] = []
        self._exits: dict[str, list[float]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="supervisor", daemon=True)

    def __enter__(self) -> Supervisor:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _watch(self) -> None:
        while not self._stop.wait(self.interval):
            for name in self.stack.dead():
                # Restarting one (Redis: with a rebuild) can bring another back already.
                if name not in self.gave_up and not self.stack.processes[name].alive():
                    self._restart(name)

    def _restart(self, name: str) -> None:
        now = time.monotonic()
        exits = [t for t in self._exits.get(name, []) if now - t < 60] + [now]
        self._exits[name] = exits
        if len(exits) > self.limit:
            self.gave_up.append(name)
            print(f"{name} keeps exiting; left down", file=sys.stderr, flush=True)
            return
        print(f"{name} exited; restarting it", file=sys.stderr, flush=True)
        try:
            self.stack.revive(name)
            if name == "redis":
                self.stack.rebuild()
        except ServiceError as exc:
            print(f"{name} did not restart: {exc}", file=sys.stderr, flush=True)


def default_data_dir() -> Path:
    return EDGE_DIR.parent.parent / "shared" / "data"


@contextlib.contextmanager
def _stop_on_signal() -> Iterator[None]:
    """SIGTERM stops ``up`` the same clean way Ctrl-C does. Further signals are ignored while
    it stops, so that a second Ctrl-C cannot leave services running."""

    def interrupt(signum: int, frame: FrameType | None) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        raise KeyboardInterrupt

    previous = {sig: signal.signal(sig, interrupt) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _day_page(feed: Feed) -> str:
    """The site's page of the day the replayed game is on (a recorded game is not today's)."""
    info = feed.events[0].game if feed.events else None
    on = (
        calendar.game_day(league_key(info.league), info.day, info.start_time)
        if info is not None
        else None
    )
    return f"/day/{on.isoformat()}" if on is not None else "/"


def _final(game_url: str, attempts: int = 300) -> str:
    """The game as the edge shows it once FINAL (or after about 30 s, whatever it shows)."""
    text = ""
    for _ in range(attempts):
        response = httpx.get(game_url, timeout=5)
        text = response.text
        if (
            response.status_code == 200
            and Game.model_validate_json(text).status is GameStatus.FINAL
        ):
            break
        time.sleep(0.1)
    return text


def run_stack(settings: StackSettings, file: Path | None, speed: float, max_gap: float) -> int:
    data_dir = Path(settings.data_dir) if settings.data_dir else default_data_dir()
    game_file = file or data_dir / SAMPLE_GAME
    feed = load(game_file)
    with contextlib.ExitStack() as stack:
        run_dir = (
            Path(settings.run_dir)
            if settings.run_dir
            else Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="scorecast-")))
        )
        stack.enter_context(_stop_on_signal())
        local = LocalStack(
            run_dir,
            redis_port=settings.redis_port,
            broker_port=settings.broker_port,
            origin_port=settings.origin_port,
            edge_port=settings.edge_port,
            prometheus=True,
            notify=True,
        )
        print(
            "starting Redis, broker, origin, Nchan, Varnish, publisher, purger, the notifier "
            "with APNs, FCM and Web Push stand-ins, Prometheus…",
            flush=True,
        )
        stack.enter_context(local)
        # The freshness probe follows the game at the edge, as the operator's SLO is measured.
        probe: dict[str, object] = {"edge_url": local.edge_url, "games": json.dumps([feed.game_id])}
        local.start_service("probe", probe)
        supervisor = stack.enter_context(Supervisor(local))
        game_url = f"{local.edge_url}/v1/games/{feed.game_id}"
        print(
            f"edge:       {local.edge_url}\n"
            f"game:       {game_url}\n"
            f"scoreboard: {local.edge_url}/v1/scoreboard\n"
            f"live page:  {local.edge_url}/live/{feed.game_id}\n"
            f"fan site:   {local.edge_url}/games/{feed.game_id}  (its day: {_day_page(feed)})\n"
            f"streams:    {local.stream_url}  (the edge redirects streams and long-polls here)\n"
            f"origin:     {local.origin_url}  (logs in {run_dir})\n"
            f"prometheus: {local.prometheus_url}  (every service scraped, alert rules loaded)\n"
            f"notify:     POST {local.edge_url}/v1/devices, then PUT its follows; what the\n"
            f"            stand-ins took: {local.standins.stats_url if local.standins else '-'}\n"
            f"replaying {game_file.name} at {speed:g}× (Ctrl-C stops everything)",
            flush=True,
        )
        try:
            replay(
                feed,
                ReplaySettings(kafka_bootstrap=local.bootstrap),
                speed,
                max_gap,
                ProgressBar(f"game {feed.game_id}"),
            )
            print(f"final: {_final(game_url)}", flush=True)
            print("the stack keeps serving; Ctrl-C stops it", flush=True)
            while not supervisor.gave_up:
                time.sleep(0.5)
            failed = ", ".join(supervisor.gave_up)
            raise ServiceError(f"stopped: {failed} kept exiting; see {run_dir}")
        except KeyboardInterrupt:
            print("\nstopping…", file=sys.stderr, flush=True)
    return 0
