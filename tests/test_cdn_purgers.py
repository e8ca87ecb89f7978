"""Fastly and Cloudflare purges through their official SDKs, against the local API stand-in."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from redis.asyncio import Redis

from core.store import SnapshotWriter
from local.process import free_port
from local.services import child_env
from purger.cloudflare import CloudflareBackend
from purger.fastly import FastlyBackend
from purger.service import Purger
from purger.settings import VARNISH_CALLS_PER_SECOND, PurgerSettings
from tests.cdn_standin import CdnStandIn
from tests.factories import changed_keys, numbered_game
from tests.helpers import eventually, running

#: Starts real services or processes of its own (see ``SERVICE_FIXTURES`` in conftest).
pytestmark = pytest.mark.stack

CDN = tuple[CdnStandIn, str]


def _settings(
    cdn: CDN, redis_url: str, prefix: str, backend: str, **extra: object
) -> PurgerSettings:
    standin, url = cdn
    values: dict[str, object] = {
        "redis_url": redis_url,
        "redis_prefix": prefix,
        "backend": backend,
        "fastly_api_url": url,
        "fastly_token": standin.fastly_token,
        "fastly_service_id": standin.fastly_service_id,
        "cloudflare_api_url": f"{url}/client/v4",
        "cloudflare_token": standin.cloudflare_token,
        "cloudflare_zone_id": standin.cloudflare_zone_id,
        "cloudflare_plan": "business",
        "retry_initial_seconds": 0.05,
        "retry_max_seconds": 0.5,
        **extra,
    }
    return PurgerSettings(**values)  # type: ignore[arg-type]


async def _all_acknowledged(redis: Redis, store: SnapshotWriter, group: str) -> bool:
    for entry in await redis.xinfo_groups(store.keys.change_streams[0]):
        if entry["name"] in (group, group.encode()):
            return int(entry["pending"]) == 0 and int(entry["lag"] or 0) == 0
    return False


async def test_a_thousand_changes_across_fifty_games_take_a_few_bulk_fastly_calls(
    cdn: CDN, redis: Redis, redis_service: str, prefix: str, store: SnapshotWriter
) -> None:
    standin, _ = cdn
    settings = _settings(cdn, redis_service, prefix, "fastly", window_seconds=0.1)
    purger = Purger(settings)
    assert isinstance(purger.backend, FastlyBackend)
    started = time.monotonic()
    async with running(purger):
        for version in range(1, 21):
            for game in range(50):
                await store.write(numbered_game(f"g{game}", version))
        published_in = time.monotonic() - started
        await eventually(lambda: _all_acknowledged(redis, store, settings.group))
    calls = standin.fastly_calls
    keys = {key for game in range(50) for key in changed_keys(f"g{game}")}
    assert purger.purged == 1000
    assert {key for call in calls for key in call} == keys
    assert all(len(call) <= 256 for call in calls)
    assert all(standin.soft)
    # One bulk call per window of announcements (51 keys < 256), not one call per change.
    windows = published_in / settings.window_seconds + 2
    assert len(calls) <= windows
    assert len(calls) < 1000 / 10
    print(f"\n1000 changes in {published_in:.2f} s → {len(calls)} Fastly calls")


async def test_no_purge_is_lost_while_cloudflare_answers_429(
    cdn: CDN, redis: Redis, redis_service: str, prefix: str, store: SnapshotWriter
) -> None:
    standin, _ = cdn
    settings = _settings(cdn, redis_service, prefix, "cloudflare", calls_per_second=5, burst=1)
    purger = Purger(settings)
    assert isinstance(purger.backend, CloudflareBackend)
    standin.rate_limit_for(2.0)
    async with running(purger):
        for game in range(10):
            await store.write(numbered_game(f"g{game}", 1))
        await eventually(lambda: _all_acknowledged(redis, store, settings.group))
    purged = {tag for call in standin.cloudflare_calls for tag in call}
    assert purged == {key for g in range(10) for key in changed_keys(f"g{g}")}
    assert all(len(call) <= 100 for call in standin.cloudflare_calls)
    assert purger.metrics.failure_counts().get("rate_limited", 0) >= 1
    assert purger.abandoned == 0
    assert purger.purged == 10
    # The lag is reported: the changes waited out the rate limit.
    assert max(purger.lags_ms) >= 1000
    assert b"scorecast_purge_lag_seconds_count 10.0" in purger.metrics.text()


async def test_past_the_retry_budget_a_failure_is_reported_and_counted(
    cdn: CDN, redis: Redis, redis_service: str, prefix: str, store: SnapshotWriter
) -> None:
    standin, _ = cdn
    settings = _settings(cdn, redis_service, prefix, "fastly", retry_budget_seconds=0.5)
    purger = Purger(settings)
    standin.fail_next(1000)
    async with running(purger):
        await store.write(numbered_game("g1", 1))
        await eventually(lambda: purger.abandoned >= 1)
    assert purger.metrics.failure_counts()["server_error"] >= 2
    assert standin.fastly_calls == []


def _purger_process(
    cdn: CDN, redis_url: str, prefix: str, log: Path, **extra: object
) -> subprocess.Popen[bytes]:
    standin, url = cdn
    settings: dict[str, object] = {
        "redis_url": redis_url,
        "redis_prefix": prefix,
        "backend": "fastly",
        "fastly_api_url": url,
        "fastly_token": standin.fastly_token,
        "fastly_service_id": standin.fastly_service_id,
        # Small batches at 20 calls a second: 200 changes take a couple of seconds, long
        # enough to kill the purger in the middle.
        "calls_per_second": 20,
        "burst": 1,
        "batch_size": 5,
        "window_seconds": 0,
        **extra,
    }
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "scorecast", "purger"],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=child_env("purger", settings),
            start_new_session=True,
        )


async def test_a_purger_killed_mid_stream_loses_nothing(
    cdn: CDN, redis: Redis, redis_service: str, prefix: str, store: SnapshotWriter, tmp_path: Path
) -> None:
    standin, _ = cdn
    log = tmp_path / "purger.log"
    metrics_port = free_port()
    first = _purger_process(cdn, redis_service, prefix, log, metrics_port=metrics_port)
    try:
        for game in range(200):
            await store.write(numbered_game(f"g{game}", 1))
        await eventually(lambda: len(standin.fastly_calls) >= 5)
        async with httpx.AsyncClient() as http:
            metrics = (await http.get(f"http://127.0.0.1:{metrics_port}/metrics")).text
        assert 'scorecast_purge_calls_total{backend="fastly"}' in metrics
        assert "scorecast_purge_queue_depth" in metrics
    finally:
        os.killpg(first.pid, signal.SIGKILL)  # mid-stream, as a crash would
        first.wait()
    assert len(standin.fastly_calls) < 200  # it really was cut off before the end
    for game in range(200, 220):
        await store.write(numbered_game(f"g{game}", 1))
    second = _purger_process(cdn, redis_service, prefix, log)
    try:
        await eventually(lambda: _all_acknowledged(redis, store, "scorecast-purger"), 60)
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(10)
    purged = {key for call in standin.fastly_calls for key in call}
    assert {f"game-g{game}" for game in range(220)} <= purged
    assert standin.fastly_token not in log.read_text()


async def test_a_wrong_token_is_refused_and_never_logged(
    cdn: CDN, redis_service: str, prefix: str, store: SnapshotWriter, tmp_path: Path
) -> None:
    standin, _ = cdn
    log = tmp_path / "purger.log"
    wrong = "W" * 32
    process = _purger_process(cdn, redis_service, prefix, log, fastly_token=wrong)
    try:
        await store.write(numbered_game("g1", 1))
        await eventually(lambda: "answered 401" in log.read_text(), 30)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(10)
    text = log.read_text()
    assert "unauthorized" in text or "401" in text
    assert wrong not in text
    assert standin.fastly_token not in text


@pytest.mark.parametrize(
    ("plan", "extra", "rate", "burst"),
    [
        ("free", {}, 5 / 60, 25),
        ("pro", {}, 5.0, 25),
        ("business", {}, 10.0, 50),
        ("enterprise", {}, 50.0, 500),
        ("business", {"calls_per_second": 2, "burst": 5}, 2.0, 5),  # may be lowered
        ("pro", {"calls_per_second": 50, "burst": 100}, 5.0, 25),  # never raised past the plan
    ],
)
def test_cloudflare_purges_at_the_rate_the_plan_allows(
    cdn: CDN, plan: str, extra: dict[str, object], rate: float, burst: int
) -> None:
    settings = _settings(
        cdn, "redis://127.0.0.1:1/0", "p", "cloudflare", cloudflare_plan=plan, **extra
    )
    assert settings.purge_rate() == (rate, burst)


def test_our_own_varnish_is_purged_at_its_pace_unless_a_rate_is_set() -> None:
    token = "t" * 16
    assert PurgerSettings(purge_token=token).purge_rate() == (VARNISH_CALLS_PER_SECOND, 10)
    chosen = PurgerSettings(purge_token=token, calls_per_second=20)
    assert chosen.purge_rate() == (20.0, 10)
    fastly = PurgerSettings(backend="fastly", fastly_token=token, fastly_service_id="svc12345")
    assert fastly.purge_rate() == (50.0, 10)
