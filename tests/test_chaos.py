"""Chaos during a live game: each component is killed with SIGKILL mid-game and restarted.

Polling and SSE fans watch through the edge throughout. Afterwards the game must equal a clean
run's; per fault, no event may be lost or applied twice and no fan may see a version go back;
fans get no error unless the edge itself was down (it serves its stale copy while the origin or
Redis is); the purger catches up. :mod:`tests.chaos` measures and prints the report per fault.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from core.models import BoxScore, GameStatus
from core.reducer import fold
from feeds.adapters import Feed, load
from harness.fans import PollingFan
from local.stack import LocalStack
from tests.chaos import ChaosRun, Fault, _report, play_with_faults, purger_caught_up
from tests.factories import short_game

#: Starts real services or processes of its own (see ``SERVICE_FIXTURES`` in conftest).
pytestmark = pytest.mark.stack


def _check_fans(run: ChaosRun) -> None:
    for fan in run.fans:
        assert fan.went_back == 0
        assert fan.last is not None
        assert fan.last.status is GameStatus.FINAL
    for listener in run.sse:
        assert listener.final, "an SSE fan never got the final"
        assert listener.went_back_at == []
        assert listener.ids[-1] == run.final.version


async def test_killing_each_component_mid_game_loses_nothing(
    stack: LocalStack, nba_file: Path
) -> None:
    feed = load(nba_file)
    clean = fold(feed.events)
    assert clean is not None
    faults = [
        Fault("broker"),  # keeps nothing: the provider re-sends the game
        Fault("publisher"),
        Fault("purger"),
        Fault("origin"),
        Fault("holder"),
        Fault("varnish"),
        Fault("publisher", how="term"),  # a deploy: drain, commit, leave
    ]
    run = await play_with_faults(stack, feed, faults, speed=150)
    assert stack.dead() == []
    final = run.final
    assert (final.home.score, final.away.score, final.status) == (125, 99, GameStatus.FINAL)
    assert final.sequence == clean.sequence
    async with httpx.AsyncClient(base_url=stack.origin_url) as http:
        box = (await http.get(f"/v1/games/{feed.game_id}/boxscore")).json()["box"]
    assert BoxScore.model_validate(box) == clean.box  # no stat counted twice or missed
    _check_fans(run)
    for fault, report in zip(faults, run.reports, strict=True):
        assert report.events_lost == 0, report
        assert report.duplicates_applied == 0, report
        assert report.regressions == 0, report
        if fault.name == "varnish":
            # With the edge itself down fans get errors; once it is back, none.
            assert all(t < fault.restarted + 1.0 for fan in run.fans for t in fan.errors_at), report
        else:
            assert report.fan_errors == 0, report  # the edge answered, stale if need be
    assert await purger_caught_up(stack)
    # The SIGTERM'd publisher drained its batch and committed before leaving.
    assert "publisher stopped:" in (stack.run_dir / "publisher.log").read_text()


async def test_losing_redis_mid_game_is_rebuilt_from_the_feed(
    stack: LocalStack, data_dir: Path
) -> None:
    feed = load(data_dir / "hockey/nhl-apiweb-pbp_2023020001.json")
    run = await play_with_faults(stack, feed, [Fault("redis")], speed=100)
    assert stack.dead() == []
    final = run.final
    assert (final.home.score, final.away.score, final.status) == (5, 3, GameStatus.FINAL)
    assert final.sequence == feed.events[-1].sequence
    # While the rebuild catches up the origin serves versions older than the edge has; the
    # edge keeps its newer copy (see the VCL), so no fan sees one.
    _check_fans(run)
    [report] = run.reports
    assert report.fan_errors == 0  # stale copies while Redis was down
    assert report.events_lost == 0
    assert report.duplicates_applied == 0
    assert report.regressions == 0
    assert await purger_caught_up(stack)


def test_the_report_counts_lost_and_doubled_events_and_staleness(tmp_path: Path) -> None:
    """The report's own arithmetic, on made-up evidence, so that it can fail."""
    events = short_game()
    feed = Feed("test", "g1", events)
    now = time.time()
    fault = Fault("publisher", started=now, restarted=now + 2, ended=now + 10)
    log = tmp_path / "publisher.log"
    log.write_text("x game g1: gave up waiting for sequences [4, 5]\n")
    fault.log_span = (0, log.stat().st_size)
    # A version applying a basket twice, one missing a basket, one right; all inside the window.
    right = fold(events[:4])
    assert right is not None
    doubled = right.model_copy(
        update={"home": right.home.model_copy(update={"score": right.home.score + 2})}
    )
    missing = right.model_copy(
        update={"away": right.away.model_copy(update={"score": right.away.score - 2})}
    )
    stamp = datetime.fromtimestamp(now + 1, UTC)
    versions = {
        n: game.model_copy(update={"ingested_at": stamp, "version": n})
        for n, game in ((4, right), (5, doubled), (6, missing))
    }
    # Every event was produced before the fault; a fan showed v1 for 3 s, then the newest.
    produced = {event.sequence: now - 5 for event in events}
    fan = PollingFan("/v1/games/g1")
    fan.answers = [(now + 0.5, 1), (now + 3.5, 1), (now + 3.5, events[-1].sequence + 1)]
    fan.went_back_at = [now + 1]
    fan.errors_at = [now + 1, now + 11]  # the second is outside the window
    report = _report(fault, [fan], [], versions, feed, produced, log)
    assert report.duplicates_applied == 1
    assert report.events_lost == 1 + 2
    assert report.regressions == 1
    assert report.fan_errors == 1
    assert report.stale_seconds == pytest.approx(3.0)
    assert report.recovery_seconds == pytest.approx(3.5)
