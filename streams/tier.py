"""The one interface of every stream tier, both halves: what the publisher hands it and what the
origin asks it to hold."""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from starlette.datastructures import Headers
from starlette.responses import Response

from core.cors import STREAM_HEADERS
from core.errors import ScorecastError
from core.store import Snapshot, Written
from core.versions import etag


class PushError(ScorecastError):
    """The stream tier did not take a publish."""


class Held(enum.Enum):
    """What a tier may hold for fans."""

    GAME_STREAM = "game stream"
    SCOREBOARD_STREAM = "scoreboard stream"
    LONG_POLL = "long-poll"


#: What a client lacks, as (version, SSE event) pairs, read when called.
Missed = Callable[[], Awaitable[list[tuple[int, bytes]]]]


@dataclass(frozen=True)
class StreamHold:
    """A stream to hold, as the origin's resume rule decided it."""

    resource: Held
    channel: str
    #: The game streamed (``None``: the scoreboard).
    game_id: str | None
    #: The version the client holds (``None``: nothing yet); it is never sent that or older.
    held: int | None
    #: The client is sent every version above this one (a game's stream; the resume rule).
    after: int
    #: What the client lacks. A tier that subscribes before reading calls it after subscribing,
    #: so that nothing published in between is lost.
    missed: Missed


@dataclass(frozen=True)
class PollHold:
    """A long-poll to hold: answer as soon as a version above ``after`` exists."""

    channel: str
    game_id: str
    after: int
    #: How long to wait (already jittered per request).
    seconds: float
    #: The game's latest version (raises the origin's 404 for an unknown game).
    latest: Callable[[], Awaitable[Snapshot]]


class StreamTier(Protocol):
    """A stream tier. The origin's half: :attr:`holds`, :meth:`proves`, :meth:`stream`,
    :meth:`long_poll`; the publisher's half: :meth:`publish`, :meth:`keep_alive`."""

    name: str
    #: What this tier holds; the origin's hub holds the rest.
    holds: frozenset[Held]

    def proves(self, headers: Headers) -> bool:
        """True when the request came through this tier (it can then hold it)."""
        ...

    async def stream(self, hold: StreamHold) -> Response: ...

    async def long_poll(self, hold: PollHold) -> Response: ...

    async def publish(self, batch: Sequence[Written]) -> None:
        """Hand new versions of one game (and their scoreboard rows) to the tier, oldest first,
        in one call: each names the version published before it (``previous_pushed``)."""
        ...

    async def keep_alive(self) -> None:
        """Called between the publisher's batches: a tier that sends no keep-alives of its own
        gets them here."""
        ...

    async def aclose(self) -> None: ...


def snapshot_response(snapshot: Snapshot) -> Response:
    """A long-poll's answer: the version itself, never cached."""
    headers = {"ETag": etag(snapshot.version), **STREAM_HEADERS}
    return Response(snapshot.body, media_type="application/json", headers=headers)


def no_newer_version() -> Response:
    """A long-poll that waited in vain."""
    return Response(status_code=204, headers=STREAM_HEADERS)
