"""The spike lab's parts: its crowd counts what it sees, nginx and wrk run, one small spike.

Figures are the bench's business (``scorecast bench spike``); these tests check that the
measuring is right, on real processes.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import threading
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bench.crowd import CrowdPlan, CrowdReport, _Crowd
from bench.matchday import _REPURGED, MatchdayOptions, _by_window, _cores_by_window, run_matchday
from bench.matchday import summary as matchday_summary
from bench.nginx import compare, parse_wrk
from bench.plots import plot_matchday, plot_spike
from bench.spike import SpikeOptions, run_spike, summary
from feeds.adapters import load
from harness.timeline import matchday_feeds
from local.process import free_port
from local.stack import LocalStack
from tests.conftest import ThreadedServer

#: Starts real services or processes of its own (see ``SERVICE_FIXTURES`` in conftest).
pytestmark = pytest.mark.stack

WRK_OUTPUT = """\
Running 1s test @ http://127.0.0.1:8080/game.json
  2 threads and 64 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   842.00us  300.11us  10.23ms   90.00%
  Latency Distribution
     50%  800.00us
     75%    0.90ms
     90%    1.10ms
     99%    2.50ms
  70123 requests in 1.00s, 80.12MB read
  Non-2xx or 3xx responses: 12
Requests/sec:  70050.25
Transfer/sec:     80.02MB
"""


def test_wrk_summary_is_read() -> None:
    result = parse_wrk("nginx", WRK_OUTPUT)
    assert result.requests_per_second == 70050.25
    assert result.p99_ms == 2.5
    assert result.bad_answers == 12


def _flaky_versions_app() -> Starlette:
    """Serves versions 3, 2, 3, 2… with ETags, as an edge with a stale node behind it might."""
    answers = iter(range(1_000_000))

    async def game(request: Request) -> Response:
        version = 3 if next(answers) % 2 == 0 else 2
        return Response(b"{}", headers={"ETag": f'"v{version}"'}, media_type="application/json")

    return Starlette(routes=[Route("/v1/games/g", game)])


def _crowd_against(url_port: int, pollers: int, seconds: float) -> CrowdReport:
    plan = CrowdPlan(
        host="127.0.0.1",
        port=url_port,
        stream_port=url_port,
        game_paths=("/v1/games/g",),
        stream_path="/v1/games/g/stream",
        pollers=pollers,
        sse=0,
        interval=0.02,
        spread=0.01,
        probe_interval=0.0,
        seconds=seconds,
        seed=1,
    )
    ours, theirs = multiprocessing.Pipe()
    stopper = threading.Timer(seconds / 2, lambda: ours.send(("stop", [2, 3])))
    stopper.start()
    try:
        return asyncio.run(_Crowd(plan, theirs).run())
    finally:
        stopper.cancel()


def test_figures_by_window_are_each_windows_own() -> None:
    samples = [(float(at), float(ms)) for at, ms in ((1, 10), (2, 20), (3, 30), (31, 400), (95, 7))]
    assert _by_window(samples, 30.0, 0.50) == [20, 400, 7]
    assert _by_window(samples, 30.0) == [30, 400, 7]


def test_cores_by_window_are_each_windows_own() -> None:
    # A second a sample; the broker busy half a core for the first 30 s, then a whole one.
    samples = []
    broker = publisher = 0.0
    for second in range(75):
        samples.append((float(second), {"broker": broker, "publisher": publisher}))
        broker += 0.5 if second < 30 else 1.0
        publisher += 0.25
    assert _cores_by_window(samples, 30.0, "broker") == [0.5, 1.0, 1.0]
    assert _cores_by_window(samples, 30.0) == [0.75, 1.25, 1.25]
    assert _cores_by_window(samples[:1], 30.0) == []


def test_the_crowd_counts_versions_going_back() -> None:
    port = free_port()
    with ThreadedServer(_flaky_versions_app(), port):
        report = _crowd_against(port, pollers=5, seconds=2.0)
    assert report.requests > 20
    assert report.errors == 0
    # Answers alternate between 3 and 2: every fan saw 3, then 2 again, more than once.
    assert report.regressions >= 5
    assert max(report.first_seen["/v1/games/g"]) == 3


def test_the_crowd_counts_errors_by_kind() -> None:
    # Nothing listens on this port: every poll fails to connect.
    report = _crowd_against(free_port(), pollers=3, seconds=1.0)
    assert report.requests == 0
    assert report.errors >= 3
    assert set(report.error_kinds) == {"ConnectionRefusedError"}


def test_nginx_and_wrk_measure_the_same_bytes(tmp_path: Path) -> None:
    results = compare(b'{"version": 1}', {}, tmp_path, seconds=1)
    [nginx] = results
    assert nginx.target == "nginx"
    assert nginx.requests_per_second > 100
    assert nginx.bad_answers == 0


async def test_a_small_spike_through_the_stack(
    stack: LocalStack, nba_file: Path, tmp_path: Path
) -> None:
    feed = load(nba_file)
    options = SpikeOptions(speed=300, max_gap=0.2, events=80, sse=20, interval=1.0, workers=2)
    result = await run_spike(stack, feed, 40, options)
    print(f"\n{result}")
    assert result.errors == 0
    assert result.regressions == 0
    assert result.score_changes > 10
    # Every SSE fan connected through the edge and got every version in order.
    assert result.sse_connected == 20
    assert result.sse_complete == 20
    assert result.sse_origin_connects == 20
    # The origin's load follows the changes, not the polls.
    assert 0 < result.origin_requests <= result.versions * 1.5 + 5
    assert result.poll_requests > result.origin_requests
    assert 0 < result.offload < 1
    # The stream holder's memory, measured while the SSE fans were held.
    assert result.holder_rss_mb > result.holder_rss_idle_mb > 0
    assert result.holder_kb_per_stream > 0
    document = summary([result], [])
    wanted = ["offload", "origin_requests_per_change", "fresh_p50_ms", "fresh_p99_ms"]
    wanted += ["sse_p99_ms", "regressions", "errors", "fans"]
    assert set(wanted) <= set(document)
    json.dumps(document, allow_nan=False)  # every figure was measured (no NaN)
    assert document["fans"] == 40
    written = plot_spike([result], tmp_path)
    assert [path.name for path in written] == ["latency-cdf.png", "origin-vs-fans.png"]
    assert all(path.read_bytes().startswith(b"\x89PNG") for path in written)


async def test_a_small_matchday_through_the_stack(
    tmp_path: Path, data_dir: Path, nba_file: Path
) -> None:
    """Four games at once through two publishers and three change streams; the figures the
    issue asks for, each measured."""
    files = [nba_file, data_dir / "hockey/nhl-apiweb-pbp_2023020001.json"]
    feeds = matchday_feeds(files, 4)
    assert len({feed.game_id for feed in feeds}) == 4
    options = MatchdayOptions(
        speed=2000, max_gap=0.01, stagger=1.0, fans=40, interval=0.5, publishers=2, shards=3
    )
    with LocalStack.for_load(tmp_path / "stack", change_shards=options.shards) as stack:
        stack.start_publisher("publisher-2")
        result = await run_matchday(stack, feeds, options)
        # The second look's count is read from the purger's own figure, which it has.
        async with httpx.AsyncClient() as http:
            figures = (await http.get(stack.metrics_url("purger") + "/metrics")).text
        assert f"\n{_REPURGED} " in figures
    print(f"\n{result}")
    assert result.games == 4
    assert [game.game_id for game in result.per_game] == [feed.game_id for feed in feeds]
    assert all(game.versions > 10 for game in result.per_game)
    assert result.events == sum(len(feed.events) - 1 for feed in feeds)
    assert (result.regressions, result.errors, result.events_lost) == (0, 0, 0)
    assert 0 < result.origin_fetches_per_change <= 1.05
    assert set(result.publisher_rss_mb) == {"publisher", "publisher-2"}
    assert result.redis_kb_per_game > 0
    assert result.fresh_p99_ms >= result.fresh_p50_ms > 0
    windows = list(zip(result.fresh_p50_by_30s_ms, result.fresh_p99_by_30s_ms, strict=True))
    assert windows
    assert all(p99 >= p50 > 0 for p50, p99 in windows)
    document = matchday_summary([result])
    json.dumps(document, allow_nan=False)  # every figure was measured (no NaN)
    assert document["games"] == 4
    written = plot_matchday([result], tmp_path)
    assert [path.name for path in written] == ["fresh-cdf.png", "memory.png"]
