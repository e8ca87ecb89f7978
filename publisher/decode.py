"""Kafka message bytes → a canonical event, or a clear reason why not."""

from __future__ import annotations

from pydantic import ValidationError

from core.errors import EventError
from core.models import GameEvent


class InvalidEventError(EventError):
    """A message that is not a valid event; its text is the dead-letter reason."""


def decode(value: bytes | None, key: bytes | None, max_bytes: int) -> GameEvent:
    if value is None:
        raise InvalidEventError("empty message")
    if len(value) > max_bytes:
        raise InvalidEventError(f"oversized: {len(value)} bytes, limit {max_bytes}")
    try:
        event = GameEvent.model_validate_json(value)
    except ValidationError as exc:
        raise InvalidEventError(f"invalid event: {_summary(exc)}") from exc
    if key is not None and key != event.game_id.encode():
        raise InvalidEventError(
            f"message key {key[:64]!r} does not match game_id {event.game_id!r}"
        )
    return event


def _summary(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors()[:3]:
        where = ".".join(str(part) for part in error["loc"]) or "message"
        parts.append(f"{where}: {error['msg']}")
    more = exc.error_count() - len(parts)
    return "; ".join(parts) + (f" (+{more} more)" if more > 0 else "")
