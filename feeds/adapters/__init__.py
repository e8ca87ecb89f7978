"""Provider formats → canonical events. One pure module per format, each with ``FORMAT``,
``matches(payload)`` and ``parse(payload, source)`` (``source``: the file's name, for formats
that leave the game id out of the payload)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Protocol

from pydantic import ValidationError

from core.errors import FeedFormatError, NotJsonError
from feeds.adapters import (
    espn_summary,
    nba_livedata,
    nba_stats,
    nhl_apiweb,
    statsbomb,
    statsperform_ma3,
)
from feeds.adapters.feed import Feed

__all__ = ["FORMATS", "Feed", "decode", "detect", "load", "parse"]


class Adapter(Protocol):
    FORMAT: str

    def matches(self, payload: Any) -> bool: ...

    def parse(self, payload: Any, source: str | None = None) -> Feed: ...


_ADAPTERS: list[Adapter] = [
    nba_livedata,
    nba_stats,
    nhl_apiweb,
    espn_summary,
    statsperform_ma3,
    statsbomb,
]
FORMATS: dict[str, Adapter] = {adapter.FORMAT: adapter for adapter in _ADAPTERS}


def detect(payload: Any) -> str:
    """Name the format of a decoded payload."""
    for name, adapter in FORMATS.items():
        if adapter.matches(payload):
            return name
    raise FeedFormatError(f"unknown feed format; known formats: {', '.join(FORMATS)}")


def parse(payload: Any, format: str | None = None, source: str | None = None) -> Feed:
    """The feed a decoded payload holds. What no adapter can read, whatever the reason (the
    model refusing what the document says of the game, a document nested too deep), is a
    :class:`FeedFormatError`."""
    name = format or detect(payload)
    if name not in FORMATS:
        raise FeedFormatError(f"unknown format {name!r}; known formats: {', '.join(FORMATS)}")
    try:
        return FORMATS[name].parse(payload, source)
    except ValidationError as exc:
        where = ".".join(str(part) for part in exc.errors()[0]["loc"]) or "the game"
        raise FeedFormatError(f"{name}: {where}: {exc.errors()[0]['msg']}") from None
    except RecursionError:
        raise FeedFormatError(f"{name}: the document is nested too deep") from None


def decode(body: bytes) -> Any:
    """JSON, or a :class:`FeedFormatError` saying why not (a document nested too deep
    included)."""
    try:
        return json.loads(body)
    except RecursionError:
        raise NotJsonError("the document is nested too deep") from None
    except ValueError as exc:
        raise NotJsonError(f"not JSON: {exc}") from None


def load(path: Path, format: str | None = None) -> Feed:
    """Read a recorded game from ``path`` and normalize it."""
    try:
        body = path.read_bytes()
    except OSError as exc:
        raise FeedFormatError(f"cannot read {path}: {exc.strerror}") from exc
    try:
        payload = decode(body)
    except FeedFormatError as exc:
        raise FeedFormatError(f"{path}: {exc}") from None
    return parse(payload, format, path.stem)
