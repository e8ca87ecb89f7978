"""Follow a game: ``async for snapshot in AsyncFollower(url, game).snapshots()``, or the same
with :class:`Follower` from synchronous code. Breaking out of the loop stops it cleanly."""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
import time
from collections.abc import AsyncGenerator, AsyncIterator, Iterator
from typing import Any

import httpx

from scorecast_client.policy import EventStream, Follow, Mode, Settings


class ClientError(Exception):
    """An answer retrying cannot fix (a malformed game id): the caller's to handle."""


class _Retry(Exception):
    """This attempt failed; wait (at least ``wait`` s) and try again."""

    def __init__(self, reason: str, wait: float = 0.0) -> None:
        super().__init__(reason)
        self.wait = wait


class AsyncFollower:
    def __init__(
        self,
        base_url: str,
        game_id: str,
        settings: Settings | None = None,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.game_id = game_id
        self.state = Follow(settings or Settings())
        self._client = client
        #: How each snapshot arrived, for those who want to know (tests, metrics).
        self.modes_used: list[Mode] = []

    @property
    def _path(self) -> str:
        return f"{self.base_url}/v1/games/{self.game_id}"

    async def snapshots(self) -> AsyncGenerator[dict[str, Any], None]:
        """Every newer snapshot of the game, oldest first, until the caller stops."""
        # Redirects followed: an edge sends streams and long-polls to its stream tier.
        client = self._client or httpx.AsyncClient(
            timeout=self.state.settings.timeout, follow_redirects=True
        )
        try:
            while True:
                self.state.maybe_back_to_stream(time.monotonic())
                mode = self.state.mode
                try:
                    async for snapshot in self._attempt(client, mode):
                        if self.state.accept(snapshot):
                            self.state.succeeded()
                            self.modes_used.append(mode)
                            yield snapshot
                    if mode is Mode.POLL:
                        await asyncio.sleep(self.state.poll_wait())
                    elif mode is Mode.STREAM:
                        raise _Retry("the stream ended")
                except (httpx.HTTPError, _Retry) as exc:
                    wait = self.state.failed(time.monotonic())
                    floor = exc.wait if isinstance(exc, _Retry) else 0.0
                    await asyncio.sleep(max(wait, floor))
        finally:
            if self._client is None:
                await client.aclose()

    async def _attempt(
        self, client: httpx.AsyncClient, mode: Mode
    ) -> AsyncIterator[dict[str, Any]]:
        if mode is Mode.STREAM:
            async with client.stream(
                "GET", f"{self._path}/stream", headers=self.state.stream_headers()
            ) as response:
                _check(response)
                parser = EventStream()
                async for line in response.aiter_lines():
                    snapshot = parser.feed(line.rstrip("\r"))
                    if snapshot is not None:
                        yield snapshot
            return
        if mode is Mode.LONG_POLL:
            response = await client.get(self._path, params={"after": self.state.version})
        else:
            response = await client.get(self._path, headers=self.state.poll_headers())
        _check(response)
        if response.status_code == 304:
            self.state.not_modified += 1
        elif response.status_code == 200:
            yield response.json()


def _check(response: httpx.Response) -> None:
    status = response.status_code
    if status in (200, 204, 304):
        return
    if status == 429 or status >= 500 or status == 404:
        # 404: the game may not be scheduled yet; 429 and 5xx: the edge asks us to wait.
        retry_after = response.headers.get("retry-after", "")
        raise _Retry(f"answered {status}", float(retry_after) if retry_after.isdigit() else 0.0)
    raise ClientError(f"{response.request.url} answered {status}")


class Follower:
    """The same from synchronous code: the async follower runs on a thread of its own."""

    def __init__(self, base_url: str, game_id: str, settings: Settings | None = None) -> None:
        self._follower = AsyncFollower(base_url, game_id, settings)

    @property
    def state(self) -> Follow:
        return self._follower.state

    def snapshots(self) -> Iterator[dict[str, Any]]:
        handoff: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=64)
        loop = asyncio.new_event_loop()
        task: asyncio.Task[None] | None = None

        async def pump() -> None:
            # aclosing: a cancelled pump closes the follower (and its connections) at once.
            try:
                async with contextlib.aclosing(self._follower.snapshots()) as snapshots:
                    async for snapshot in snapshots:
                        await asyncio.to_thread(handoff.put, ("snapshot", snapshot))
            except ClientError as exc:
                handoff.put(("error", exc))

        def run() -> None:
            nonlocal task
            task = loop.create_task(pump())
            with contextlib.suppress(asyncio.CancelledError):
                loop.run_until_complete(task)
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

        thread = threading.Thread(target=run, name=f"follow {self._follower.game_id}", daemon=True)
        thread.start()
        try:
            while True:
                kind, value = handoff.get()
                if kind == "error":
                    raise value
                yield value
        finally:
            while task is None and thread.is_alive():
                time.sleep(0.01)
            if task is not None and not loop.is_closed():
                loop.call_soon_threadsafe(task.cancel)
            while thread.is_alive():
                with contextlib.suppress(queue.Empty):  # a pump blocked on a full queue
                    handoff.get_nowait()
                thread.join(0.05)
