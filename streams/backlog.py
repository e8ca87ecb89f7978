"""The publisher's queue in front of the stream tier: each game's versions reach the tier once,
in order, with no gap, whatever the tier does meanwhile.

A version is claimed first (:meth:`PushRecords.claim`: never one older than a version the tier
already has), then queued behind the game's versions the tier has not taken yet. A failure stops
that game's queue at the version that failed; :meth:`PushBacklog.retry` tries again a second
later, oldest first, so streams resuming at the tier find no gap. A client further behind than
the versions kept resumes from a full snapshot anyway.
"""

from __future__ import annotations

import logging
import time

from core.store import Written
from streams.records import PushRecords
from streams.tier import PushError, StreamTier

logger = logging.getLogger("scorecast.streams")

#: Versions a down tier missed that are kept per game for when it is back.
KEPT = 64
RETRY_SECONDS = 1.0


class PushBacklog:
    def __init__(self, tier: StreamTier, records: PushRecords) -> None:
        self.tier = tier
        self.records = records
        #: Publishes the tier refused (each retried until it takes it).
        self.failures = 0
        #: Per game, versions claimed for pushing that the tier has not taken yet.
        self._waiting: dict[str, list[tuple[Written, int]]] = {}
        self._retry_at = 0.0

    async def push(self, written: Written) -> bool:
        """Claim ``written`` and hand it over after the game's older ones; False when a newer
        version of the game was pushed already (it is not pushed then)."""
        game_id = written.game.game_id
        previous = await self.records.claim(game_id, written.game.version)
        if previous is None:
            return False
        self._waiting.setdefault(game_id, []).append((written, previous))
        await self._hand_over(game_id)
        return True

    async def retry(self) -> None:
        """Hand over what the tier missed, once the retry time has come."""
        if self._waiting and time.monotonic() >= self._retry_at:
            for game_id in list(self._waiting):
                await self._hand_over(game_id)
        await self.tier.keep_alive()

    def __len__(self) -> int:
        return sum(len(waiting) for waiting in self._waiting.values())

    async def _hand_over(self, game_id: str) -> None:
        waiting = self._waiting.get(game_id, [])
        while waiting:
            written, previous = waiting[0]
            try:
                await self.tier.publish(written, previous)
            except PushError as exc:
                self.failures += 1
                logger.warning("game %s v%d: %s", game_id, written.game.version, exc)
                del waiting[:-KEPT]
                self._retry_at = time.monotonic() + RETRY_SECONDS
                return
            waiting.pop(0)
        self._waiting.pop(game_id, None)
