"""The one interface the publisher pushes through, whatever holds the streams: a GRIP proxy
(Pushpin, Fastly Fanout; :mod:`publisher.grip`) or Nchan (:mod:`publisher.nchan`)."""

from __future__ import annotations

from typing import Protocol

from core.errors import ScorecastError
from core.store import Written


class PushError(ScorecastError):
    """The stream holder did not take a publish."""


class Pusher(Protocol):
    async def publish(self, written: Written, previous_version: int) -> None:
        """Hand one new version of a game (and its scoreboard row) to the holder;
        ``previous_version`` is the game's version pushed before it (0: none)."""
        ...

    async def keep_alive(self) -> None:
        """Called between batches: a holder that sends no keep-alives of its own gets them
        here (GRIP holders send theirs, as ``Grip-Keep-Alive`` asks)."""
        ...

    async def aclose(self) -> None: ...
