"""What every adapter returns."""

from __future__ import annotations

from dataclasses import dataclass, field

from core.models import GameEvent


@dataclass(frozen=True)
class Feed:
    """A provider payload turned into canonical events, in provider order.

    ``unrecognized`` counts records the adapter could not read; they are reported, not dropped
    silently, and never stop the rest of the feed.
    """

    format: str
    game_id: str
    events: list[GameEvent]
    unrecognized: int = 0
    #: Of those, the ones that look like scoring, by kind: the score may be wrong without them.
    unreadable_scoring: dict[str, int] = field(default_factory=dict)
    #: Why, for the first few of them (``feeds.adapters.common.REASONS_KEPT``).
    refused: list[str] = field(default_factory=list)
    #: Records understood but of no interest to a score service (passes, carries…).
    ignored: int = 0
    #: Disagreements inside the feed, e.g. a scoring flag the running score contradicts.
    problems: list[str] = field(default_factory=list)
    #: The final score the feed states apart from its records (home, away), where it does.
    final: tuple[int, int] | None = None
