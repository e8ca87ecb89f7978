"""``scorecast validate``: replay a recorded game offline and check our fold against the feed."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from core.errors import FeedFormatError
from core.models import Game
from core.reducer import apply
from feeds.adapters import Feed
from feeds.schedules import Schedule
from feeds.schedules.schedule import final


@dataclass(frozen=True)
class Validation:
    feed: Feed
    game: Game
    #: Events after which our score differs from the feed's own running score.
    mismatches: int
    first_mismatches: list[str]
    #: Events that carried a running score to compare with (0: nothing could be checked).
    checked: int

    @property
    def final_agrees(self) -> bool | None:
        """Our final against the final the feed states apart from its records (None: none)."""
        if self.feed.final is None:
            return None
        return self.feed.final == (self.game.home.score, self.game.away.score)

    @property
    def ok(self) -> bool:
        """No event left our score different from the feed's own, and our final is the one
        the feed states: the exit code's meaning."""
        return (
            self.mismatches == 0
            and self.final_agrees is not False
            and not self.feed.unreadable_scoring
        )

    def summary(self) -> dict[str, Any]:
        game = self.game
        return {
            "format": self.feed.format,
            "game_id": game.game_id,
            "sport": game.sport.value,
            "events": len(self.feed.events),
            "unrecognized": self.feed.unrecognized,
            "unreadable_scoring": self.feed.unreadable_scoring,
            "home": {"code": game.home.code, "name": game.home.name, "score": game.home.score},
            "away": {"code": game.away.code, "name": game.away.name, "score": game.away.score},
            "status": game.status.value,
            "periods": game.period,
            "checked": self.checked,
            "mismatches": self.mismatches,
            "stated_final": list(self.feed.final) if self.feed.final else None,
            "final_agrees": self.final_agrees,
            "problems": len(self.feed.problems),
            "ok": self.ok,
        }

    def text(self) -> str:
        game, feed = self.game, self.feed
        lines = [
            f"{feed.format}: game {game.game_id} ({game.sport.value}, {game.league})",
            f"  {game.home.name} ({game.home.code}) {game.home.score} – "
            f"{game.away.score} {game.away.name} ({game.away.code}), {game.status.value}, "
            f"{game.period} periods",
            f"  {len(feed.events)} events, {feed.unrecognized} unrecognized, "
            f"{feed.ignored} ignored, {self.mismatches} score mismatches in {self.checked}"
            " events with the feed's own running score",
        ]
        if self.feed.final is not None:
            agrees = "agrees" if self.final_agrees else "DIFFERS from ours"
            lines.append(
                f"  the feed's stated final {self.feed.final[0]}-{self.feed.final[1]} {agrees}"
            )
        if not self.checked and self.feed.final is None:
            lines.append(
                "  not checked: this feed carries no running score and states no final to "
                "compare with (only the known result can tell)"
            )
        for kind, count in sorted(self.feed.unreadable_scoring.items()):
            lines.append(f"  UNREADABLE scoring records: {count} × {kind} (the score may be off)")
        lines += [f"  mismatch: {item}" for item in self.first_mismatches]
        lines += [f"  feed problem: {problem}" for problem in feed.problems[:10]]
        return "\n".join(lines)


def against(feed: Feed, schedule: Schedule) -> Feed:
    """``feed`` to be checked against the final ``schedule`` states for its game as well: where
    the feed states none (StatsBomb's events, a cut-off document) the schedule's is the one
    checked; where both state one and differ, that is a problem of the provider's documents."""
    listed = next((event for event in schedule.games if event.game_id == feed.game_id), None)
    stated = final(listed) if listed is not None else None
    if listed is None:
        note = f"{schedule.format} does not list game {feed.game_id}"
        return replace(feed, problems=[*feed.problems, note])
    if stated is None:
        return feed
    if feed.final is None:
        note = f"final {stated[0]}-{stated[1]} as {schedule.format} states it"
        return replace(feed, final=stated, problems=[*feed.problems, note])
    if feed.final != stated:
        note = (
            f"the feed states {feed.final[0]}-{feed.final[1]}, {schedule.format} "
            f"{stated[0]}-{stated[1]}"
        )
        return replace(feed, problems=[*feed.problems, note])
    return feed


def validate(feed: Feed) -> Validation:
    game: Game | None = None
    mismatches = checked = 0
    first: list[str] = []
    for event in feed.events:
        game = apply(game, event)
        if event.home_score is None or event.away_score is None:
            continue
        checked += 1
        ours = (game.home.score, game.away.score)
        if ours != (event.home_score, event.away_score):
            mismatches += 1
            if len(first) < 5:
                first.append(
                    f"after {event.event_id}: ours {ours[0]}-{ours[1]}, "
                    f"feed {event.home_score}-{event.away_score}"
                )
    if game is None:
        raise FeedFormatError(f"{feed.format} feed of game {feed.game_id} has no events")
    return Validation(feed, game, mismatches, first, checked)
