"""Provider formats → canonical events. One pure module per format."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

from scorecast.adapters import nba_livedata
from scorecast.adapters.feed import Feed
from scorecast.errors import FeedFormatError

__all__ = ["FORMATS", "Feed", "detect", "load", "parse"]

FORMATS: dict[str, ModuleType] = {nba_livedata.FORMAT: nba_livedata}


def detect(payload: Any) -> str:
    """Name the format of a decoded payload."""
    for name, module in FORMATS.items():
        matches: Callable[[Any], bool] = module.matches
        if matches(payload):
            return name
    raise FeedFormatError(f"unknown feed format; known formats: {', '.join(FORMATS)}")


def parse(payload: Any, format: str | None = None) -> Feed:
    name = format or detect(payload)
    if name not in FORMATS:
        raise FeedFormatError(f"unknown format {name!r}; known formats: {', '.join(FORMATS)}")
    parser: Callable[[Any], Feed] = FORMATS[name].parse
    return parser(payload)


def load(path: Path, format: str | None = None) -> Feed:
    """Read a recorded game from ``path`` and normalize it."""
    try:
        payload = json.loads(path.read_bytes())
    except OSError as exc:
        raise FeedFormatError(f"cannot read {path}: {exc.strerror}") from exc
    except ValueError as exc:
        raise FeedFormatError(f"{path} is not JSON: {exc}") from exc
    return parse(payload, format)
