"""Chaos runs: a replayed game, polling and SSE fans at the edge, components killed in turn.

What each fault did is measured from what the fans saw and what the publisher wrote, in the
window from that fault to the next:

- *stale seconds*: time during which fans were shown a version that lacked an event produced
  more than ``STALE_AFTER`` seconds before (the pipeline's own delay is not staleness);
- *recovery*: from the kill to the first fresh answer after the restart;
- *events lost* / *duplicates applied*: versions whose score is below / above what a clean fold
  of the feed gives at the same sequence, plus sequences the publisher gave up waiting for;
- *regressions*: answers or SSE events older than what that fan already had;
- *fan errors*: failed polls (the edge itself down is the only fault allowed to cause them).
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import itertools
import re
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from redis.asyncio import Redis
from redis.exceptions import ResponseError

from core.errors import ServiceError
from core.models import Game
from core.reducer import apply
from feeds.adapters import Feed
from feeds.replay import ReplaySettings, replay
from harness.fans import PollingFan, published_versions, stored_versions, until_final
from harness.sse import ResumingFan
from local.stack import LocalStack

#: Seconds the pipeline may take before a fan being shown an older version counts as stale.
STALE_AFTER = 1.0
#: How long a killed component stays down before it is restarted.
DOWN_SECONDS = 1.5


@dataclass
class Fault:
    name: str
    #: "kill" (SIGKILL, a crash) or "term" (SIGTERM, a deploy that must drain).
    how: str = "kill"
    started: float = 0.0
    restarted: float = 0.0
    ended: float = 0.0
    #: The publisher log's size when the fault started and when its window ended.
    log_span: tuple[int, int] = (0, 0)


@dataclass(frozen=True)
class FaultReport:
    fault: str
    restart_seconds: float
    recovery_seconds: float
    stale_seconds: float
    fan_errors: int
    regressions: int
    events_lost: int
    duplicates_applied: int

    def line(self) -> str:
        return (
            f"{self.fault:<15} restart {self.restart_seconds:4.1f} s  recovery "
            f"{self.recovery_seconds:4.1f} s  stale {self.stale_seconds:4.1f} s  fan errors "
            f"{self.fan_errors:3d}  regressions {self.regressions}  events lost "
            f"{self.events_lost}  duplicates applied {self.duplicates_applied}"
        )


@dataclass
class ChaosRun:
    fans: list[PollingFan]
    sse: list[ResumingFan]
    final: Game
    reports: list[FaultReport] = field(default_factory=list)


class _ReplayCut(Exception):
    """The provider's connection dropped with the broker."""


class _Feed:
    """The provider: sends the game, can be cut off, and then sends again what it had sent
    (at once) before going on at the game's pace. Records when each event was first sent."""

    def __init__(self, feed: Feed, settings: ReplaySettings, speed: float) -> None:
        self.feed, self.settings, self.speed = feed, settings, speed
        self.cut_off = threading.Event()
        self.task: asyncio.Task[None] | None = None
        self.sent = 0
        #: Sequence → when it was first produced (epoch seconds).
        self.produced: dict[int, float] = {}

    def start(self) -> None:
        self.cut_off = threading.Event()
        self.task = asyncio.create_task(asyncio.to_thread(self._send, self.cut_off))

    def _send(self, cut_off: threading.Event) -> None:
        again = self.sent
        events = self.feed.events

        def sent(done: int, total: int, offset: int) -> None:
            event = events[offset + done - 1]
            self.produced.setdefault(event.sequence, time.time())
            self.sent = max(self.sent, offset + done)
            if cut_off.is_set():
                raise _ReplayCut

        with contextlib.suppress(_ReplayCut):
            if again:
                history = Feed(self.feed.format, self.feed.game_id, events[:again])
                replay(history, self.settings, 0, 0, lambda d, t: sent(d, t, 0))
            rest = Feed(self.feed.format, self.feed.game_id, events[again:])
            # The game's real gaps, faster, none above 0.1 s.
            replay(rest, self.settings, self.speed, 0.1, lambda d, t: sent(d, t, again))

    async def cut(self) -> None:
        self.cut_off.set()
        if self.task is not None:
            with contextlib.suppress(ServiceError):
                await self.task

    async def finished(self) -> None:
        if self.task is not None:
            await self.task


async def purger_caught_up(stack: LocalStack) -> bool:
    async with Redis.from_url(stack.redis_url) as redis:
        for stream in stack.keys.change_streams:
            if not await _group_caught_up(redis, stream, "scorecast-purger"):
                return False
    return True


async def _group_caught_up(redis: Redis, stream: str, name: str) -> bool:
    try:
        groups = await redis.xinfo_groups(stream)
    except ResponseError:  # no stream yet: nothing announced since Redis came back
        return False
    for group in groups:
        if group["name"] in (name, name.encode()):
            return int(group["pending"]) == 0 and int(group["lag"] or 0) == 0
    return False


async def play_with_faults(
    stack: LocalStack, feed: Feed, faults: list[Fault], speed: float
) -> ChaosRun:
    """Replay ``feed`` with fans watching, injecting ``faults`` 2.5 s apart."""
    path = f"/v1/games/{feed.game_id}"
    fans = [PollingFan(path, interval=(0.02, 0.05)) for _ in range(10)]
    sse = [ResumingFan(stack.edge_url, f"{path}/stream") for _ in range(5)]
    stop = asyncio.Event()
    provider = _Feed(feed, ReplaySettings(kafka_bootstrap=stack.bootstrap), speed)
    log = stack.run_dir / "publisher.log"
    async with httpx.AsyncClient(base_url=stack.edge_url, timeout=10) as http:
        polling = [asyncio.create_task(fan.poll(http, stop)) for fan in fans]
        listening = [asyncio.create_task(fan.listen()) for fan in sse]
        provider.start()
        try:
            for fault in faults:
                await asyncio.sleep(2.5)
                await _inject(stack, fault, provider, log)
            await provider.finished()
            await until_final(fans, seconds=60)
            await asyncio.wait(listening, timeout=30)
        finally:
            stop.set()
            await asyncio.gather(*polling)
            for task in listening:
                task.cancel()
            await asyncio.gather(*listening, return_exceptions=True)
            with contextlib.suppress(_ReplayCut, ServiceError):
                await provider.cut()
        for _ in range(600):
            if await purger_caught_up(stack):
                break
            await asyncio.sleep(0.1)
        final = Game.model_validate_json((await http.get(path)).content)
    ended = time.time()
    for fault, after in zip(faults, [*faults[1:], None], strict=True):
        fault.ended = after.started if after else ended
        fault.log_span = (fault.log_span[0], after.log_span[0] if after else _size(log))
    published = await published_versions(stack.redis_url, feed.game_id)
    versions = await stored_versions(stack.origin_url, feed.game_id, published)
    run = ChaosRun(fans, sse, final)
    run.reports = [
        _report(fault, fans, sse, versions, feed, provider.produced, log) for fault in faults
    ]
    print("\nchaos report:\n  " + "\n  ".join(r.line() for r in run.reports))
    return run


async def _inject(stack: LocalStack, fault: Fault, provider: _Feed, log: Path) -> None:
    fault.started = time.time()
    fault.log_span = (_size(log), 0)
    if fault.name == "broker":
        await provider.cut()  # the provider's connection goes with the broker
    if fault.how == "kill":
        stack.crash(fault.name)
    else:
        await asyncio.to_thread(stack.processes[fault.name].stop)
    await asyncio.sleep(DOWN_SECONDS)
    await asyncio.to_thread(stack.revive, fault.name)
    if fault.name == "broker":
        # The broker kept nothing: the provider sends the game again from its first event.
        provider.start()
    if fault.name == "redis":
        # Everything in Redis is gone. The publisher and purger stopped on the lost
        # connection; the documented recovery rebuilds from the feed.
        for name in ("publisher", "purger"):
            if not stack.processes[name].alive():
                await asyncio.to_thread(stack.revive, name)
        await asyncio.to_thread(stack.rebuild)
    fault.restarted = time.time()


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _clean_scores(feed: Feed) -> dict[int, int]:
    """Sequence → total points after it, folding the feed once, in order, without faults."""
    state: Game | None = None
    totals: dict[int, int] = {}
    for event in sorted(feed.events, key=lambda e: e.sequence):
        state = apply(state, event)
        totals[event.sequence] = state.home.score + state.away.score
    return totals


def _report(
    fault: Fault,
    fans: list[PollingFan],
    sse: list[ResumingFan],
    versions: dict[int, Game],
    feed: Feed,
    produced: dict[int, float],
    log: Path,
) -> FaultReport:
    start, end = fault.started, fault.ended

    def inside(t: float) -> bool:
        return start <= t < end

    # The version that would show every event produced by a given time (a version number is
    # its newest event's sequence + 1).
    entered = sorted((t, sequence + 1) for sequence, t in produced.items())
    times = [t for t, _ in entered]
    newest: list[int] = []
    for _, number in entered:
        newest.append(max(number, newest[-1] if newest else 0))

    def stale(t: float, shown: int) -> bool:
        index = bisect.bisect_right(times, t - STALE_AFTER)
        return index > 0 and newest[index - 1] > shown

    answers = sorted(a for fan in fans for a in fan.answers if start <= a[0] < end)
    stale_seconds = sum(
        next_t - t for (t, shown), (next_t, _) in itertools.pairwise(answers) if stale(t, shown)
    )
    fresh_again = [t for t, shown in answers if t >= fault.restarted and not stale(t, shown)]
    recovery = (fresh_again[0] if fresh_again else end) - start

    clean = _clean_scores(feed)
    lost = duplicated = 0
    for game in versions.values():
        if game.ingested_at is None or not inside(game.ingested_at.timestamp()):
            continue
        shown, expected = game.home.score + game.away.score, clean.get(game.sequence)
        if expected is not None and shown < expected:
            lost += 1
        elif expected is not None and shown > expected:
            duplicated += 1
    with log.open("rb") as file:
        file.seek(fault.log_span[0])
        text = file.read(max(0, fault.log_span[1] - fault.log_span[0])).decode(errors="replace")
    for skipped in re.findall(r"gave up waiting for sequences \[([^\]]*)\]", text):
        lost += len([s for s in skipped.split(",") if s.strip()])

    went_back = sum(1 for fan in fans for t in fan.went_back_at if inside(t))
    went_back += sum(1 for fan in sse for t in fan.went_back_at if inside(t))
    return FaultReport(
        fault=f"{fault.name} ({fault.how})",
        restart_seconds=fault.restarted - start,
        recovery_seconds=recovery,
        stale_seconds=stale_seconds,
        fan_errors=sum(1 for fan in fans for t in fan.errors_at if inside(t)),
        regressions=went_back,
        events_lost=lost,
        duplicates_applied=duplicated,
    )
