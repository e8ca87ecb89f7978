"""Errors of the shared ground. Every error a Scorecast component raises on purpose derives
from :class:`ScorecastError`; third-party errors are translated where they enter.

ScorecastError
├── EventError               an event that cannot be applied (goes to the dead-letter topic)
│   └── UnknownGameError     an event for a game that was never scheduled
├── FeedFormatError          a recorded or pushed feed that no adapter can read
│   └── NotJsonError         not even JSON (or nested too deep to read)
├── VersionOrderError        a version that is not above the one before it (a bug, never data)
├── StoreError               the score store (Redis)
│   ├── StoreUnavailableError    it did not answer, or answered with an error
│   └── VersionConflictError     another writer already published this or a newer version
└── ServiceError             a service or dependency that would not start or answer

Components add their own branches under the root: ``PurgeError`` (purger),
``PublisherError`` (publisher), ``PushError`` and ``SlowSubscriberError`` (the stream tier).
"""


class ScorecastError(Exception):
    """Root of every error Scorecast raises on purpose."""


class EventError(ScorecastError):
    """An event that cannot be applied."""


class UnknownGameError(EventError):
    """An event for a game that has no GAME_SCHEDULED event before it."""


class GameRetiredError(EventError):
    """The game finished and retired (its feed ledger is gone): no feed may add to it."""


class FeedFormatError(ScorecastError):
    """A feed file or payload that no adapter can read."""


class NotJsonError(FeedFormatError):
    """A payload that is not JSON, or nested too deep to read."""


class VersionOrderError(ScorecastError):
    """A version numbered at or below the one before it."""


class StoreError(ScorecastError):
    """The score store failed or refused a write."""


class StoreUnavailableError(StoreError):
    """Redis did not answer, or answered with an error (translated from redis-py's errors)."""


class VersionConflictError(StoreError):
    """Another writer already published this or a newer version of the game."""

    def __init__(self, game_id: str, current: int) -> None:
        super().__init__(f"game {game_id} is already at version {current}")
        self.current = current


class ServiceError(ScorecastError):
    """A service or dependency failed to start or to answer."""
