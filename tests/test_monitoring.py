"""The operators' eyes: the alert rules and their unit tests pass ``promtool``, every dashboard
query is valid PromQL, and a real Prometheus scraping the local stack (every component: origin,
publisher, purger, ingest, a poller, the freshness probe) sees each figure move when its cause
happens — a dead letter, a publisher that stalls and lags, a purge that fails, a refused push."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from confluent_kafka import Producer
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from feeds.adapters import Feed, load
from feeds.replay import ReplaySettings, replay
from harness.fans import schedule, until_served
from ingest.signature import sign
from local.process import free_port
from local.stack import LocalStack
from runtime.kafka import producer_config
from tests.conftest import ThreadedServer
from tests.helpers import eventually

#: Starts real services or processes of its own (see ``SERVICE_FIXTURES`` in conftest).
pytestmark = pytest.mark.stack

MONITORING = Path(__file__).resolve().parent.parent / "monitoring"
SECRET = secrets.token_urlsafe(32)


def _promtool(*args: str) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("promtool")
    assert binary is not None, "promtool not found: run scripts/install"
    return subprocess.run(
        [binary, *args], capture_output=True, text=True, timeout=120, cwd=MONITORING
    )


def test_the_alert_rules_are_valid_and_pass_their_unit_tests() -> None:
    checked = _promtool("check", "rules", "alerts.yml")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    tested = _promtool("test", "rules", "alerts_test.yml")
    assert tested.returncode == 0, tested.stdout + tested.stderr
    # Every alert is exercised by the unit tests: one that fires it, one that keeps it quiet.
    rules = (MONITORING / "alerts.yml").read_text()
    tests = (MONITORING / "alerts_test.yml").read_text()
    alerts = [line.split(":", 1)[1].strip() for line in rules.splitlines() if "- alert:" in line]
    assert len(alerts) >= 10
    for alert in alerts:
        firing = tests.count(f"alertname: {alert}\n        exp_alerts:\n          - exp_labels")
        named = tests.count(f"alertname: {alert}\n")
        assert firing >= 1, f"{alert} is never fired by a test"
        assert named > firing, f"{alert} is never kept quiet by a test"


def test_every_dashboard_query_is_valid_promql(tmp_path: Path) -> None:
    dashboard = json.loads((MONITORING / "dashboard.json").read_text())
    exprs = [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]
    assert len(exprs) >= 14
    # promtool parses a rules file's expressions: each query becomes a recording rule.
    rules = {
        "groups": [
            {
                "name": "dashboard",
                "rules": [{"record": f"dashboard:q{i}", "expr": e} for i, e in enumerate(exprs)],
            }
        ]
    }
    path = tmp_path / "dashboard-queries.yml"
    path.write_text(json.dumps(rules))
    checked = _promtool("check", "rules", str(path))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    # A broken query is caught the same way (the check can fail).
    path.write_text(
        json.dumps({"groups": [{"name": "x", "rules": [{"record": "x:y", "expr": "sum("}]}]})
    )
    assert _promtool("check", "rules", str(path)).returncode != 0


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    with LocalStack(tmp_path_factory.mktemp("stack"), prometheus=True) as local:
        yield local


async def _figure(stack: LocalStack, expr: str) -> float:
    """The sum of an instant query's values (0 when it finds no series)."""
    async with httpx.AsyncClient(base_url=stack.prometheus_url, timeout=5) as http:
        answer = (await http.get("/api/v1/query", params={"query": expr})).json()
    assert answer["status"] == "success", answer
    return sum(float(item["value"][1]) for item in answer["data"]["result"])


async def _moves(stack: LocalStack, expr: str, above: float = 0.0, limit: float = 60.0) -> None:
    async def moved() -> bool:
        return await _figure(stack, expr) > above

    try:
        await eventually(moved, limit)
    except AssertionError:
        raise AssertionError(f"{expr} never went above {above}") from None


def _rest(feed: Feed) -> Feed:
    return Feed(feed.format, feed.game_id, feed.events[1:])


@pytest.fixture(scope="module")
def provider(data_dir: Path) -> Iterator[str]:
    """A provider's live document, with validators (the poller's conditional GETs get 304s)."""
    body = (data_dir / "basketball/nba-cdn-livedata_0022000001.json").read_bytes()
    etag = '"doc-1"'

    async def document(request: Request) -> Response:
        if request.headers.get("if-none-match") == etag:
            return Response(status_code=304, headers={"ETag": etag})
        return Response(body, media_type="application/json", headers={"ETag": etag})

    port = free_port()
    app = Starlette(routes=[Route("/game.json", document)])
    with ThreadedServer(app, port) as server:
        yield f"{server.url}/game.json"


@pytest.fixture(scope="module")
def components(stack: LocalStack, provider: str) -> dict[str, str]:
    """Ingest, a poller and the freshness probe beside the stack's own services, each scraped."""
    shared = {**stack.redis_settings(), "kafka_bootstrap": stack.bootstrap}
    ingest_port = free_port()
    ingest = {**shared, "port": ingest_port, "webhook_secret": SECRET}
    stack.start_service("ingest", ingest)
    stack.start_service("poll", {**shared, "url": provider, "interval_seconds": 0.5}, "poller")
    return {"ingest": f"http://127.0.0.1:{ingest_port}"}


async def test_prometheus_scrapes_every_component_and_each_figure_moves_with_its_cause(
    stack: LocalStack, components: dict[str, str], data_dir: Path
) -> None:
    # Every process on the list answers Prometheus's scrapes.
    await _moves(stack, "count(up == 1)", len(stack.metrics_ports) - 0.5)
    feed = load(data_dir / "hockey/nhl-apiweb-pbp_2023020001.json")
    await schedule(stack.edge_url, stack.bootstrap, feed)
    # The freshness probe follows the game at the edge as a fan would.
    stack.start_service(
        "probe",
        {"edge_url": stack.edge_url, "games": json.dumps([feed.game_id]), "interval_seconds": 0.2},
    )
    await _moves(stack, 'up{job="probe"}', 0.5)
    await asyncio.to_thread(
        replay, _rest(feed), ReplaySettings(kafka_bootstrap=stack.bootstrap), 200, 0.05
    )
    await until_served(
        f"{stack.edge_url}/v1/games/{feed.game_id}", lambda game: game["status"] == "FINAL"
    )
    await _moves(stack, "scorecast_publisher_versions_total", 10)
    await _moves(stack, "scorecast_probe_fresh_seconds_count", 5)
    await _moves(stack, "scorecast_purge_changes_total", 5)
    await _moves(stack, 'scorecast_origin_requests_total{route="/v1/games/{game_id}"}', 1)
    await _moves(stack, "scorecast_redis_used_memory_bytes", 1)
    # Consumer lag is exported for every partition the publisher reads.
    await _moves(stack, 'count(scorecast_publisher_consumer_lag{process="publisher"})', 0)
    # The poller polls its provider; the second poll onward is a 304.
    await _moves(stack, "scorecast_poller_polls_total", 2)
    await _moves(stack, "scorecast_poller_not_modified_total", 0)

    # A dead letter: a message the publisher cannot read.
    producer = Producer(producer_config(ReplaySettings(kafka_bootstrap=stack.bootstrap)))
    producer.produce(ReplaySettings().events_topic, key=b"junk", value=b"{not json")
    assert producer.flush(10) == 0
    await _moves(stack, "sum(scorecast_publisher_dead_letters_total)", 0)

    # Ingest: one push accepted, one refused for its signature.
    document = (data_dir / "soccer/statsbomb_15986.json").read_bytes()
    stamp = int(time.time())
    async with httpx.AsyncClient(base_url=components["ingest"], timeout=30) as http:
        headers = {
            "Scorecast-Timestamp": str(stamp),
            "Scorecast-Signature": sign(SECRET, stamp, document),
        }
        assert (
            await http.post("/v1/ingest/auto", content=document, headers=headers)
        ).status_code == 202
        headers["Scorecast-Signature"] = sign("x" * 32, stamp, document)
        assert (
            await http.post("/v1/ingest/auto", content=document, headers=headers)
        ).status_code == 401
    await _moves(stack, 'scorecast_ingest_requests_total{outcome="accepted"}', 0)
    await _moves(stack, 'scorecast_ingest_requests_total{outcome="bad_signature"}', 0)

    # A publisher that stalls: Prometheus sees it down, and once it runs again the versions of
    # the events that waited meanwhile are announced late.
    late_before = await _figure(
        stack,
        "sum(scorecast_publisher_ingest_to_announced_seconds_count)"
        ' - sum(scorecast_publisher_ingest_to_announced_seconds_bucket{le="2.5"})',
    )
    publisher = stack.processes["publisher"]
    os.kill(publisher.pid, signal.SIGSTOP)
    try:
        await _moves(stack, 'count(up{process="publisher"} == 0)', 0.5, 30)
        second = load(data_dir / "basketball/nba-stats-playbyplayv2_0021900001.json")
        await asyncio.to_thread(
            replay, second, ReplaySettings(kafka_bootstrap=stack.bootstrap), 0, 0
        )
        await asyncio.sleep(3)
    finally:
        os.kill(publisher.pid, signal.SIGCONT)
    await _moves(
        stack,
        "sum(scorecast_publisher_ingest_to_announced_seconds_count)"
        ' - sum(scorecast_publisher_ingest_to_announced_seconds_bucket{le="2.5"})',
        late_before,
    )

    # A purge that fails: the edge is down while a game changes.
    stack.crash("varnish")
    try:
        third = load(data_dir / "american_football/espn-cfb-summary_401628358.json")
        await asyncio.to_thread(
            replay, third, ReplaySettings(kafka_bootstrap=stack.bootstrap), 0, 0
        )
        await _moves(stack, "sum(scorecast_purge_failures_total)", 0)
    finally:
        stack.revive("varnish")
