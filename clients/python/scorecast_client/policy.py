"""What every Scorecast client does, whatever its I/O: the rules, no I/O here.

- Never hand the application a version at or below the one it holds.
- Prefer the stream (SSE), fall back to long-poll, then to conditional polling, when a way
  keeps failing; go back to the stream after a while.
- Wait between attempts with exponential backoff and full jitter, so a crowd that lost its
  connection at the same moment does not come back at the same moment.
- Poll at an interval with jitter, with ``If-None-Match``.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Mode(StrEnum):
    STREAM = "stream"
    LONG_POLL = "long-poll"
    POLL = "poll"


_FALLBACK = {Mode.STREAM: Mode.LONG_POLL, Mode.LONG_POLL: Mode.POLL, Mode.POLL: Mode.POLL}


@dataclass
class Settings:
    #: Seconds between conditional polls (jittered by ``jitter``).
    poll_interval: float = 2.0
    jitter: float = 0.2
    backoff_initial: float = 0.5
    backoff_max: float = 30.0
    #: Failures in a row after which a way is given up for the next one.
    failures_before_fallback: int = 3
    #: After this many seconds on a fallback, the stream is tried again.
    retry_stream_after: float = 60.0
    timeout: float = 30.0
    #: The first way to try (and the one to come back to): ``POLL`` never holds a connection.
    prefer: Mode = Mode.STREAM


@dataclass
class Follow:
    """One game followed: the version held, the way in use, the failures so far."""

    settings: Settings = field(default_factory=Settings)
    rng: random.Random = field(default_factory=random.Random)
    version: int = 0
    etag: str | None = None
    mode: Mode = Mode.STREAM
    failures: int = 0
    #: Conditional polls answered 304 (nothing newer): the cheap answer the edge prefers.
    not_modified: int = 0
    #: When (monotonic seconds) the current fallback began.
    fell_back_at: float | None = None

    def __post_init__(self) -> None:
        self.mode = self.settings.prefer

    def accept(self, snapshot: dict[str, Any]) -> bool:
        """Take ``snapshot`` if it is newer than the one held; False: drop it."""
        version = snapshot.get("version")
        if not isinstance(version, int) or version <= self.version:
            return False
        self.version = version
        self.etag = f'"v{version}"'
        return True

    def succeeded(self) -> None:
        self.failures = 0

    def failed(self, now: float) -> float:
        """Count a failure of the current way; returns how long to wait before the next try
        (full jitter: uniform up to the exponential bound)."""
        self.failures += 1
        if self.failures >= self.settings.failures_before_fallback and self.mode is not Mode.POLL:
            self.mode = _FALLBACK[self.mode]
            self.failures = 0
            self.fell_back_at = now
        bound = min(
            self.settings.backoff_max,
            self.settings.backoff_initial * 2 ** min(self.failures, 20),
        )
        return self.rng.uniform(0, bound)

    def maybe_back_to_stream(self, now: float) -> None:
        if (
            self.fell_back_at is not None
            and now - self.fell_back_at >= self.settings.retry_stream_after
        ):
            self.mode = Mode.STREAM
            self.failures = 0
            self.fell_back_at = None

    def poll_wait(self) -> float:
        spread = self.settings.jitter
        return self.settings.poll_interval * (1 + self.rng.uniform(-spread, spread))

    def stream_headers(self) -> dict[str, str]:
        headers = {"Accept": "text/event-stream"}
        if self.version:
            headers["Last-Event-ID"] = str(self.version)
        return headers

    def poll_headers(self) -> dict[str, str]:
        return {"If-None-Match": self.etag} if self.etag else {}


class EventStream:
    """Server-sent events, fed line by line; yields each event's data as JSON."""

    def __init__(self) -> None:
        self._data: list[str] = []

    def feed(self, line: str) -> dict[str, Any] | None:
        if line == "":
            if not self._data:
                return None
            data, self._data = "\n".join(self._data), []
            try:
                decoded = json.loads(data)
            except ValueError:
                return None
            return decoded if isinstance(decoded, dict) else None
        if line.startswith(":"):
            return None  # a heartbeat
        name, _, value = line.partition(":")
        if name == "data":
            self._data.append(value.removeprefix(" "))
        return None
