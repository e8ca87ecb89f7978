"""The publisher's queue in front of the stream tier, against a tier that takes its time or
refuses (no services: the order and grouping of the calls is the point)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from core.reducer import versions
from core.store import Written
from streams.backlog import BATCH, PushBacklog
from streams.tier import PushError
from tests.factories import short_game


class _Tier:
    """Takes 30 ms a call; refuses the first ``refuse`` calls."""

    def __init__(self, refuse: int = 0) -> None:
        self.calls: list[list[int]] = []
        self.refuse = refuse

    async def publish(self, batch: Sequence[Written]) -> None:
        self.calls.append([w.game.version for w in batch])
        await asyncio.sleep(0.03)
        if self.refuse:
            self.refuse -= 1
            raise PushError("tier down")

    async def keep_alive(self) -> None:
        return None


def _written(count: int) -> list[Written]:
    """``count`` versions of one game, each claimed after the one before."""
    game = versions(None, short_game("g1")).versions[0]
    found = []
    for version in range(1, count + 1):
        numbered = game.model_copy(update={"version": version})
        found.append(Written(numbered, b"{}", b"{}", version - 1))
    return found


async def test_versions_waiting_together_go_in_one_call_in_order() -> None:
    tier = _Tier()
    first, *rest = _written(5)
    async with PushBacklog(tier, drain_seconds=5) as backlog:  # type: ignore[arg-type]
        assert backlog.push(first)
        await asyncio.sleep(0.01)  # its call under way: the rest wait together
        assert all(backlog.push(written) for written in rest)
    assert tier.calls == [[first.game.version], [w.game.version for w in rest]]


async def test_more_versions_waiting_than_one_call_takes_go_in_calls_of_at_most_the_batch() -> None:
    tier = _Tier()
    first, *rest = _written(BATCH + 9)
    async with PushBacklog(tier, drain_seconds=5) as backlog:  # type: ignore[arg-type]
        backlog.push(first)
        await asyncio.sleep(0.01)
        for written in rest:
            backlog.push(written)
    assert [len(call) for call in tier.calls] == [1, BATCH, 8]
    assert [v for call in tier.calls for v in call] == list(range(1, BATCH + 10))


async def test_a_refused_batch_is_handed_over_again_whole() -> None:
    tier = _Tier(refuse=1)
    written = _written(3)
    async with PushBacklog(tier, drain_seconds=5) as backlog:  # type: ignore[arg-type]
        for one in written:
            backlog.push(one)
    every = [w.game.version for w in written]
    assert tier.calls == [every, every]
    assert backlog.failures == 1
