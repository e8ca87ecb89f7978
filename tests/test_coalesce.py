"""The coalescer that lets games ready together share one round trip (announcements, the
stream tier's message ids), without Redis: a call that takes a while, or fails."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

import pytest

from core.errors import StoreUnavailableError
from runtime.coalesce import Coalescer


class _SlowCall:
    """Takes 50 ms a call; ``fail`` makes it refuse."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []
        self.fail = False

    async def send(self, items: list[str]) -> None:
        self.calls.append(items)
        await asyncio.sleep(0.05)
        if self.fail:
            raise StoreUnavailableError("redis: connection refused")


async def test_items_ready_together_go_in_one_call_and_none_waits_for_a_full_batch() -> None:
    call = _SlowCall()
    async with asyncio.TaskGroup() as group:
        together = Coalescer(call.send, group.create_task)
        await asyncio.gather(*(together.add(f"g{n}") for n in range(5)))
        assert call.calls == [["g0", "g1", "g2", "g3", "g4"]]
        # One arrives while a call is under way: it goes in the next, not after all.
        first = asyncio.create_task(together.add("a"))
        await asyncio.sleep(0.01)
        second = asyncio.create_task(together.add("b"))
        third = asyncio.create_task(together.add("c"))
        await asyncio.wait_for(asyncio.gather(first, second, third), 1)
    assert call.calls[1:] == [["a"], ["b", "c"]]


async def test_a_failed_call_fails_each_sender_and_spares_one_cancelled() -> None:
    call = _SlowCall()
    call.fail = True

    async def batch() -> None:
        async with asyncio.TaskGroup() as group:
            together = Coalescer(call.send, group.create_task)
            waiting = [group.create_task(together.add(f"g{n}")) for n in range(3)]
            await asyncio.sleep(0.01)
            waiting[0].cancel()  # a sender cancelled while its call is under way

    with pytest.raises(ExceptionGroup) as raised:
        await batch()
    failed = list(raised.value.exceptions)
    assert len(failed) == 2
    assert all(isinstance(error, StoreUnavailableError) for error in failed), failed
    assert call.calls == [["g0", "g1", "g2"]]


async def test_senders_waiting_when_the_call_itself_is_cancelled_are_cancelled_too() -> None:
    """The owner stopping (its task set cancelled) leaves no sender waiting for ever."""
    call = _SlowCall()
    started: list[asyncio.Task[None]] = []

    def spawn(work: Coroutine[Any, Any, None]) -> None:
        started.append(asyncio.create_task(work))

    together = Coalescer(call.send, spawn)
    first = asyncio.create_task(together.add("a"))
    await asyncio.sleep(0.01)
    second = asyncio.create_task(together.add("b"))
    await asyncio.sleep(0)
    started[0].cancel()
    for sender in (first, second):
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(sender, 1)


async def test_a_call_that_cannot_start_fails_its_sender_and_the_next_can_go() -> None:
    """An owner that stopped taking tasks (a task group shutting down) refuses the call: that
    sender gets the error, and the coalescer is not left waiting on a call that never ran."""
    call = _SlowCall()
    refusing = True

    def spawn(work: Coroutine[Any, Any, None]) -> None:
        if refusing:
            raise RuntimeError("TaskGroup is shutting down")
        asyncio.get_running_loop().create_task(work)

    together = Coalescer(call.send, spawn)
    with pytest.raises(RuntimeError, match="shutting down"):
        await together.add("a")
    refusing = False
    await asyncio.wait_for(together.add("b"), 1)
    assert call.calls == [["b"]]
