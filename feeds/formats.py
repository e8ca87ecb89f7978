"""A set of document formats, one pure adapter module each (``FORMAT``, ``matches``,
``parse``): which one a payload is, and what it reads as. Play-by-play feeds and schedules are
two such sets."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Generic, Protocol, TypeVar

from pydantic import ValidationError

from core.errors import FeedFormatError, NotJsonError

T_co = TypeVar("T_co", covariant=True)
T = TypeVar("T")


class Adapter(Protocol[T_co]):
    FORMAT: str

    def matches(self, payload: Any) -> bool: ...

    def parse(self, payload: Any, source: str | None = None) -> T_co: ...


class Formats(Generic[T]):
    """``kind`` names the set in messages (``feed``, ``schedule``)."""

    def __init__(self, kind: str, adapters: list[Adapter[T]]) -> None:
        self.kind = kind
        self.by_name: dict[str, Adapter[T]] = {adapter.FORMAT: adapter for adapter in adapters}

    def detect(self, payload: Any) -> str:
        """Name the format of a decoded payload."""
        for name, adapter in self.by_name.items():
            if adapter.matches(payload):
                return name
        known = ", ".join(self.by_name)
        raise FeedFormatError(f"unknown {self.kind} format; known formats: {known}")

    def parse(self, payload: Any, format: str | None = None, source: str | None = None) -> T:
        """What a decoded payload holds. What no adapter can read, whatever the reason (the
        model refusing what the document says, a document nested too deep, a matched
        document missing what its format always has), is a :class:`FeedFormatError`."""
        name = format or self.detect(payload)
        if name not in self.by_name:
            known = ", ".join(self.by_name)
            raise FeedFormatError(f"unknown format {name!r}; known formats: {known}")
        try:
            return self.by_name[name].parse(payload, source)
        except ValidationError as exc:
            where = ".".join(str(part) for part in exc.errors()[0]["loc"]) or "the game"
            raise FeedFormatError(f"{name}: {where}: {exc.errors()[0]['msg']}") from None
        except RecursionError:
            raise FeedFormatError(f"{name}: the document is nested too deep") from None

    def load(self, path: Path, format: str | None = None) -> T:
        """Read a document from ``path`` and parse it."""
        try:
            body = path.read_bytes()
        except OSError as exc:
            raise FeedFormatError(f"cannot read {path}: {exc.strerror}") from exc
        try:
            payload = decode(body)
        except FeedFormatError as exc:
            raise FeedFormatError(f"{path}: {exc}") from None
        return self.parse(payload, format, path.stem)


def decode(body: bytes) -> Any:
    """JSON, or a :class:`FeedFormatError` saying why not (a document nested too deep
    included)."""
    try:
        return json.loads(body)
    except RecursionError:
        raise NotJsonError("the document is nested too deep") from None
    except ValueError as exc:
        raise NotJsonError(f"not JSON: {exc}") from None
