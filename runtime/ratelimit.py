"""A token bucket: at most ``rate`` calls a second on average, ``burst`` at once."""

from __future__ import annotations

import asyncio
import time


class TokenBucket:
    def __init__(self, rate: float, burst: int) -> None:
        self.rate = rate
        self.burst = burst
        self._tokens = float(burst)
        self._stamp = time.monotonic()

    def _refill(self) -> None:
        now = time.monotonic()
        self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now

    async def acquire(self) -> None:
        """Wait until a call is allowed, then take its token."""
        self._refill()
        while self._tokens < 1:
            await asyncio.sleep((1 - self._tokens) / self.rate)
            self._refill()
        self._tokens -= 1

    def pause(self, seconds: float) -> None:
        """The backend said to wait (429): spend the tokens it would refill meanwhile."""
        self._refill()
        self._tokens = min(self._tokens, 0.0) - seconds * self.rate
