"""``scripts/bench notify --followers N``: one score, N followers (60% iOS, 35% Android, 5% web),
through the real pipeline: the change stream, the notifier processes (one Kafka consumer group),
the fan-out topic, the window, and the three platforms' stand-ins (one process: APNs over TLS
and HTTP/2, FCM v1 with its token endpoint, a Web Push service that decrypts every message),
all sharing this machine's cores.

Printed: score event → first and last notification taken; sends per second; devices told twice;
gone tokens (1% of each platform) still registered after the fan-out; final errors (0.2% of the
Android tokens are refused as invalid) asked more than once; the notifiers' CPU per send; and,
apart, each sender's own CPU per notification (this process sending to the stand-ins)."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx
from py_vapid import Vapid02

from bench.table import print_table
from core.connection import redis_client
from core.keys import RedisKeys
from core.models import Game
from core.reducer import versions
from core.settings import KafkaSettings, RedisSettings
from core.store import SnapshotWriter
from feeds.adapters import load
from local.process import cpu_seconds, free_port
from local.redis import redis_server, redis_url
from local.services import scorecast_process, start_broker
from local.standins.run import StandIns
from local.tls import Tls
from notifier.apns import ApnsSender, ProviderToken
from notifier.devices import ApnsDevice, Device, FcmDevice, Platform, Subscription, WebDevice
from notifier.fcm import AccessToken, FcmSender
from notifier.follows import Follows
from notifier.http2 import Http2Client, Http2Pool
from notifier.rules import Alert, AlertKind, decide
from notifier.service import WebSender, trusted
from notifier.settings import NotifierSettings
from notifier.webpush import WebPushSender
from runtime.kafka import ensure_topics

SHARES = {Platform.APNS: 0.60, Platform.FCM: 0.35, Platform.WEB: 0.05}


@dataclass
class NotifyResult:
    followers: int
    expected: int
    told: int
    first_ms: float
    last_ms: float
    sends_per_second: float
    told_twice: int
    gone_left: int
    final_retried: int
    retried: int
    notifier_cpu_us_per_send: float
    apns_cpu_us: float
    fcm_cpu_us: float
    web_cpu_us: float
    by_platform: dict[str, int]


@dataclass
class _Crowd:
    apns: list[str]
    fcm: list[str]
    web: dict[str, dict[str, Any]]
    gone: dict[Platform, list[str]]
    final: list[str]


def _crowd(followers: int) -> tuple[_Crowd, int]:
    count = {platform: round(followers * share) for platform, share in SHARES.items()}
    apns = [secrets.token_hex(32) for _ in range(count[Platform.APNS])]
    fcm = [f"bench{index}:" + secrets.token_urlsafe(110) for index in range(count[Platform.FCM])]
    gone = {
        Platform.APNS: apns[: len(apns) // 100],
        Platform.FCM: fcm[: len(fcm) // 100],
        Platform.WEB: [f"web{index}" for index in range(count[Platform.WEB] // 100)],
    }
    final = fcm[len(fcm) // 100 : len(fcm) // 100 + len(fcm) // 500]
    return _Crowd(apns, fcm, {}, gone, final), count[Platform.WEB]


async def run_notify(followers: int, workers: int, sends_at_once: int, micro: int) -> NotifyResult:
    with tempfile.TemporaryDirectory(prefix="scorecast-bench-") as tmp:
        run_dir = Path(tmp)
        port = free_port()
        with redis_server(port, run_dir):
            broker, broker_port = start_broker(run_dir)
            try:
                return await _run(run_dir, port, broker_port, followers, workers,
                                  sends_at_once, micro)  # fmt: skip
            finally:
                broker.stop()


async def _run(
    run_dir: Path,
    port: int,
    broker_port: int,
    followers: int,
    workers: int,
    sends_at_once: int,
    micro: int,
) -> NotifyResult:
    crowd, web_count = _crowd(followers)
    standins = StandIns(
        run_dir,
        unregistered_apns=crowd.gone[Platform.APNS],
        unregistered_fcm=crowd.gone[Platform.FCM],
        final_fcm=crowd.final,
        gone_web=crowd.gone[Platform.WEB],
        subscriptions=web_count,
    )
    with standins.process():
        crowd.web = json.loads(standins.subscriptions_file.read_text())
        redis_settings = RedisSettings(redis_url=redis_url(port), redis_prefix="bench")
        redis = redis_client(redis_settings)
        keys = RedisKeys("bench")
        store = SnapshotWriter(redis, keys, 10_000)
        before, event = _game()
        async with redis:
            await store.write(before)
            ids = await _register(redis, keys, crowd, event.game_id)
            kafka = KafkaSettings(kafka_bootstrap=f"127.0.0.1:{broker_port}")
            settings = NotifierSettings(
                **kafka.model_dump(),
                **standins.notifier_settings(),
                redis_url=redis_url(port),
                redis_prefix="bench",
                sends_at_once=sends_at_once,
            )
            await asyncio.to_thread(ensure_topics, settings, (settings.topic,))
            notifiers = [
                scorecast_process(
                    "notifier",
                    {**settings.model_dump(), "consumer": f"n{index}", "metrics_port": free_port()},
                    run_dir,
                    f"notifier-{index}",
                )
                for index in range(workers)
            ]
            for process in notifiers:
                await asyncio.to_thread(process.start)
            try:
                await asyncio.sleep(8)  # the consumer group settles before the score
                cpu_before = cpu_seconds([p.pid for p in notifiers])
                started = time.time()
                await store.write(event)
                expected = followers - sum(map(len, crowd.gone.values())) - len(crowd.final)
                stats = await _until_told(standins.stats_url, expected, started + 120)
                cpu = cpu_seconds([p.pid for p in notifiers]) - cpu_before
                await asyncio.sleep(2)
                stats = await _stats(standins.stats_url)
                gone_left = await _still_registered(redis, keys, ids, crowd)
            finally:
                for process in notifiers:
                    process.stop()
        micro_cpu = await _sender_cpu(settings, crowd, standins.tls, micro)
    return _result(followers, expected, stats, started, cpu, gone_left, crowd, micro_cpu)


def _game() -> tuple[Game, Game]:
    """A recorded NBA game: its first version, and its first change of lead (a notification)."""
    path = Path(os.environ.get("SCORECAST_DATA_DIR") or _data_dir()) / "basketball"
    feed = load(path / "nba-cdn-livedata_0022000001.json")
    written = versions(None, feed.events).versions
    first = written[0]
    alerting = next(game for game in written[1:] if decide(None, game) is not None)
    return first, alerting


def _data_dir() -> Path:
    from local.stack import default_data_dir

    return default_data_dir()


async def _register(redis: Any, keys: RedisKeys, crowd: _Crowd, game_id: str) -> dict[str, str]:
    """Every follower registered (as the API would, many at once): address → device id."""
    follows = Follows(redis, keys, 16, 64)
    devices: list[Device] = [ApnsDevice(platform=Platform.APNS, token=t) for t in crowd.apns]
    devices += [FcmDevice(platform=Platform.FCM, token=t) for t in crowd.fcm]
    web = {name: _browser(info) for name, info in crowd.web.items()}
    devices += list(web.values())
    made = await follows.register_many(devices, [game_id])
    addresses = [*crowd.apns, *crowd.fcm, *web]
    return {
        address: registered.device_id for address, registered in zip(addresses, made, strict=True)
    }


async def _stats(url: str) -> dict[str, Any]:
    async with httpx.AsyncClient(timeout=30) as http:
        found: dict[str, Any] = (await http.get(url)).json()
        return found


async def _until_told(url: str, expected: int, deadline: float) -> dict[str, Any]:
    while True:
        stats = await _stats(url)
        told = sum(stats[p]["devices"] for p in ("apns", "fcm", "webpush"))
        if told >= expected or time.time() > deadline:
            return stats
        await asyncio.sleep(0.5)


async def _still_registered(redis: Any, keys: RedisKeys, ids: dict[str, str], crowd: _Crowd) -> int:
    gone = [address for addresses in crowd.gone.values() for address in addresses]
    left = 0
    for address in gone:
        left += int(await redis.exists(keys.device(ids[address], 16)))
    return left


async def _sender_cpu(
    settings: NotifierSettings, crowd: _Crowd, tls: Tls, count: int
) -> dict[str, float]:
    """Each sender's own CPU per notification: this process sends ``count`` alerts per platform
    to the stand-ins (another process), ``sends_at_once`` in flight."""
    alert = Alert("0022000001", 99, AlertKind.SCORE, "GSW 20 – 22 BKN", "Nets lead, period 1.")
    context = trusted(str(tls.ca))
    apns_client = Http2Client(settings.apns_host, settings.apns_port, 2, context)
    apns = ApnsSender(
        apns_client,
        ProviderToken(
            settings.apns_private_key.get_secret_value(),
            settings.apns_key_id,
            settings.apns_team_id,
        ),
        settings.apns_topic,
    )
    access = AccessToken(json.loads(settings.fcm_service_account.get_secret_value()), str(tls.ca))
    fcm_client = Http2Client("127.0.0.1", int(settings.fcm_url.rsplit(":", 1)[1]), 2, context)
    pool = Http2Pool(context)
    try:
        fcm = FcmSender(fcm_client, access)
        vapid = Vapid02.from_pem(settings.vapid_private_key.get_secret_value().encode())
        webpush = WebSender(WebPushSender(vapid, settings.vapid_subject, pool), settings.game_url)
        live = [name for name in crowd.web if name not in crowd.gone[Platform.WEB]]
        browsers = (live * (count // max(len(live), 1) + 1))[:count]
        phones = [ApnsDevice(platform=Platform.APNS, token=t) for t in crowd.apns[-count:]]
        androids = [FcmDevice(platform=Platform.FCM, token=t) for t in crowd.fcm[-count:]]
        targets: dict[str, tuple[Any, list[Device]]] = {
            "apns": (apns, list(phones)),
            "fcm": (fcm, list(androids)),
            "web": (webpush, [_browser(crowd.web[name]) for name in browsers]),
        }
        found: dict[str, float] = {}
        for name, (sender, devices) in targets.items():
            await sender.send(devices[0], alert)  # connections and tokens made first
            gate = asyncio.Semaphore(settings.sends_at_once)

            async def one_send(device: Device, sender: Any = sender, gate: Any = gate) -> None:
                async with gate:
                    await sender.send(device, alert)

            cpu = time.process_time()
            await asyncio.gather(*(one_send(device) for device in devices))
            found[name] = (time.process_time() - cpu) / len(devices) * 1e6
    finally:
        await apns_client.aclose()
        await fcm_client.aclose()
        await pool.aclose()
        access.close()
    return found


def _browser(info: dict[str, Any]) -> WebDevice:
    return WebDevice(platform=Platform.WEB, subscription=Subscription.model_validate(info))


def _result(
    followers: int,
    expected: int,
    stats: dict[str, Any],
    started: float,
    cpu: float,
    gone_left: int,
    crowd: _Crowd,
    micro: dict[str, float],
) -> NotifyResult:
    platforms = ("apns", "fcm", "webpush")
    told = sum(stats[p]["devices"] for p in platforms)
    firsts = [stats[p]["first"] for p in platforms if stats[p]["first"]]
    lasts = [stats[p]["last"] for p in platforms if stats[p]["last"]]
    first_ms = (min(firsts) - started) * 1000 if firsts else float("nan")
    last_ms = (max(lasts) - started) * 1000 if lasts else float("nan")
    messages = sum(stats[p]["messages"] for p in platforms)
    final = set(crowd.final)
    return NotifyResult(
        followers=followers,
        expected=expected,
        told=told,
        first_ms=round(first_ms, 0),
        last_ms=round(last_ms, 0),
        sends_per_second=round(messages / max(max(lasts) - min(firsts), 1e-3), 0) if lasts else 0,
        told_twice=sum(len(stats[p]["twice"]) for p in platforms),
        gone_left=gone_left,
        final_retried=len(final & set(stats["fcm"]["retried"])),
        retried=sum(len(stats[p]["retried"]) for p in platforms),
        notifier_cpu_us_per_send=round(cpu / max(messages, 1) * 1e6, 0),
        apns_cpu_us=round(micro["apns"], 0),
        fcm_cpu_us=round(micro["fcm"], 0),
        web_cpu_us=round(micro["web"], 0),
        by_platform={p: stats[p]["devices"] for p in platforms},
    )


def main(
    followers: list[int], workers: int, sends_at_once: int, micro: int, json_path: Path | None
) -> int:
    runs = [asyncio.run(run_notify(count, workers, sends_at_once, micro)) for count in followers]
    print_table(
        [
            ("followers (60% iOS, 35% Android, 5% web)", lambda r: f"{r.followers:,}"),
            ("to be told (less gone and refused)", lambda r: f"{r.expected:,}"),
            ("told", lambda r: f"{r.told:,}"),
            ("score → first / last taken", lambda r: f"{r.first_ms:,.0f} / {r.last_ms:,.0f} ms"),
            ("sends per second", lambda r: f"{r.sends_per_second:,.0f}"),
            ("devices told twice", lambda r: str(r.told_twice)),
            ("gone tokens still registered", lambda r: str(r.gone_left)),
            ("final errors retried / any retried", lambda r: f"{r.final_retried} / {r.retried}"),
            ("notifiers' CPU per send", lambda r: f"{r.notifier_cpu_us_per_send:.0f} µs"),
            ("sender CPU per send: APNs", lambda r: f"{r.apns_cpu_us:.0f} µs"),
            ("sender CPU per send: FCM", lambda r: f"{r.fcm_cpu_us:.0f} µs"),
            ("sender CPU per send: Web Push", lambda r: f"{r.web_cpu_us:.0f} µs"),
        ],
        runs,
        22,
    )
    if json_path is not None:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps([asdict(run) for run in runs], indent=2))
    ok = all(
        run.told == run.expected and run.told_twice == 0 and run.gone_left == 0
        and run.final_retried == 0
        for run in runs
    )  # fmt: skip
    return 0 if ok else 1
