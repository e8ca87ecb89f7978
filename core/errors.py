"""Errors of the shared domain package.

ScorecastError
├── EventError            an event that cannot be applied (goes to the dead-letter topic)
│   └── UnknownGameError  an event for a game that was never scheduled
├── FeedFormatError       a recorded or pushed feed that no adapter can read
└── ServiceError          a local service (Redis, broker, Varnish) that would not start
"""


class ScorecastError(Exception):
    """Root of every error Scorecast raises on purpose."""


class EventError(ScorecastError):
    """An event that cannot be applied."""


class UnknownGameError(EventError):
    """An event for a game that has no GAME_SCHEDULED event before it."""


class FeedFormatError(ScorecastError):
    """A feed file or payload that no adapter can read."""


class ServiceError(ScorecastError):
    """A local service failed to start or to answer."""
