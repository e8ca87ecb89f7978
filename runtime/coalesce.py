"""Items that many tasks send, gathered into one call: games ready at about the same time share
one Redis pipeline instead of one round trip each.

An item goes with the next call; while one call is under way, the items arriving gather for the
one after (nobody waits for a batch to fill). Each sender waits for its own item's call and
gets that call's error. The calls run as tasks that ``spawn`` starts, in a task group or task
set that the owner keeps: a sender cancelled while its call is under way does not cancel the
call for the others.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class Coalescer(Generic[T]):
    def __init__(
        self,
        send: Callable[[list[T]], Awaitable[None]],
        spawn: Callable[[Coroutine[Any, Any, None]], object],
    ) -> None:
        self._send = send
        self._spawn = spawn
        self._waiting: list[tuple[T, asyncio.Future[None]]] = []
        self._sending = False

    async def add(self, item: T) -> None:
        """Once ``item`` went with a call (raises what the call raised)."""
        sent = asyncio.get_running_loop().create_future()
        self._waiting.append((item, sent))
        if not self._sending:
            run = self._run()
            try:
                self._spawn(run)
            except BaseException:
                run.close()  # never started
                self._waiting.remove((item, sent))
                raise
            self._sending = True
        await sent

    async def _run(self) -> None:
        batch: list[tuple[T, asyncio.Future[None]]] = []
        try:
            while self._waiting:
                batch, self._waiting = self._waiting, []
                try:
                    await self._send([item for item, _ in batch])
                except Exception as exc:
                    for _, sent in batch:
                        if not sent.done():  # a sender cancelled meanwhile waits no more
                            sent.set_exception(exc)
                else:
                    for _, sent in batch:
                        if not sent.done():
                            sent.set_result(None)
        finally:
            self._sending = False
            # The call itself was cancelled (its owner stops): nobody is left waiting.
            for _, sent in [*batch, *self._waiting]:
                if not sent.done():
                    sent.cancel()
            self._waiting = []
