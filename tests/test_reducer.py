from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from core.errors import UnknownGameError
from core.models import (
    BoxLine,
    EventType,
    GameEvent,
    GameStatus,
    Revision,
    Scoring,
    built,
    replaced,
)
from core.reducer import apply, fold
from feeds.replay import timeline
from tests.factories import basket, event, scheduled, short_game


def test_scheduled_event_creates_the_game() -> None:
    game = apply(None, scheduled())
    assert game.status is GameStatus.SCHEDULED
    assert (game.home.code, game.away.code) == ("HOM", "AWY")
    assert (game.home.score, game.away.score, game.sequence) == (0, 0, 0)


def test_event_for_unscheduled_game_is_refused() -> None:
    with pytest.raises(UnknownGameError, match="no GAME_SCHEDULED"):
        apply(None, basket(1, "h"))


def test_short_game_folds_to_the_final_score() -> None:
    game = fold(short_game())
    assert game is not None
    assert (game.home.score, game.away.score) == (5, 3)
    assert game.status is GameStatus.FINAL
    assert game.last_event is not None
    assert game.last_event.event_type is EventType.GAME_END
    assert game.sequence == 7


def test_first_play_makes_the_game_live_and_sets_clock_and_period() -> None:
    game = fold([scheduled(), event(1, EventType.PERIOD_START, period=2)])
    assert game is not None
    assert game.status is GameStatus.LIVE
    assert (game.period, game.clock_seconds) == (2, 599.0)


def test_applying_an_event_twice_changes_nothing() -> None:
    game = fold(short_game()[:4])
    assert game is not None
    again = apply(game, short_game()[3])
    assert again is game


def test_event_at_or_below_the_applied_sequence_is_ignored() -> None:
    game = fold(short_game()[:5])
    assert game is not None
    assert apply(game, basket(2, "a", "3pt")) is game
    assert apply(game, basket(4, "a", "3pt")) is game


def test_league_points_override_the_sport_rule() -> None:
    game = fold([scheduled()])
    worth_two = basket(1, "a", "freethrow").model_copy(
        update={"scoring": Scoring(kind="freethrow", points=2)}
    )
    game = apply(game, worth_two)
    assert game.away.score == 2


def test_a_late_record_counts_but_never_reopens_a_final_game() -> None:
    game = fold(short_game())
    assert game is not None
    late = apply(game, basket(8, "a", "3pt"))
    assert late.status is GameStatus.FINAL
    assert (late.home.score, late.away.score) == (5, 6)
    assert (late.period, late.clock_seconds, late.last_event) == (
        game.period,
        game.clock_seconds,
        game.last_event,
    )
    assert late.sequence == 8


def corrected(sequence: int, record: GameEvent, revision: Revision, **now: object) -> GameEvent:
    """The provider's correction of ``record``, sent as event ``sequence``."""
    if revision is Revision.REMOVED:
        return record.model_copy(update={"sequence": sequence, "revision": revision})
    return record.model_copy(
        update={"sequence": sequence, "revision": revision, "previous": record, **now}
    )


def test_an_edited_basket_moves_the_score_down_and_says_so() -> None:
    game = fold(short_game()[:5])  # home 5, away 2
    assert game is not None
    three = short_game()[2]
    two = corrected(5, three, Revision.EDITED, scoring=Scoring(kind="2pt"), description="now a two")
    after = apply(game, two)
    assert (after.home.score, after.away.score) == (4, 2)
    assert after.sequence == 5
    assert after.correction is not None
    assert (after.correction.event_id, after.correction.revision) == ("g1:2", Revision.EDITED)
    assert after.correction.description == "now a two"
    assert after.box.teams["h"].stats["pts"] == 4
    assert after.box.teams["h"].stats.get("fg3m") == 0
    assert after.last_event == game.last_event  # the clock follows the newest record
    assert after.status is GameStatus.LIVE
    nothing_new = apply(after, basket(6, "a", "freethrow"))
    assert nothing_new.correction is None  # a correction is said once, by its version


def test_a_removed_basket_is_taken_back_even_after_the_final() -> None:
    game = fold(short_game())
    assert game is not None
    removed = apply(game, corrected(8, short_game()[3], Revision.REMOVED))
    assert (removed.home.score, removed.away.score) == (5, 1)
    assert removed.status is GameStatus.FINAL
    assert removed.correction is not None
    assert removed.correction.revision is Revision.REMOVED
    assert apply(removed, corrected(8, short_game()[3], Revision.REMOVED)) is removed


def test_edit_then_undo_of_every_event_leaves_a_clean_fold() -> None:
    events = short_game()
    game = fold(events)
    sequence = 7
    for record in events[1:]:  # edit each record to itself: counts nothing twice
        sequence += 1
        game = apply(game, corrected(sequence, record, Revision.EDITED))
    clean = fold(events)
    assert game is not None
    assert clean is not None
    assert (game.home, game.away, game.box) == (clean.home, clean.away, clean.box)


def test_a_correction_must_name_the_same_record() -> None:
    three = short_game()[2]
    with pytest.raises(ValidationError, match="same record"):
        GameEvent.model_validate(
            {**three.model_dump(), "revision": "edited", "previous": short_game()[3].model_dump()}
        )
    with pytest.raises(ValidationError, match="only an edit"):
        GameEvent.model_validate({**three.model_dump(), "revision": "edited"})


def test_score_for_unknown_team_is_not_credited() -> None:
    game = apply(fold([scheduled()]), basket(1, "someone-else"))
    assert (game.home.score, game.away.score) == (0, 0)
    assert game.sequence == 1


def test_sorted_fold_of_duplicated_shuffled_events_matches_clean_fold() -> None:
    clean = fold(short_game())
    rng = random.Random(7)
    noisy = short_game() + rng.sample(short_game(), 4)
    rng.shuffle(noisy)
    assert fold(sorted(noisy, key=lambda e: e.sequence)) == clean


def test_replay_paces_by_wall_clock_or_else_by_game_clock() -> None:
    start = datetime(2024, 1, 1, tzinfo=UTC)
    walled = [e.model_copy(update={"occurred_at": start + timedelta(seconds=10 * i)})
              for i, e in enumerate(short_game()[1:4])]  # fmt: skip
    assert [at for at, _ in timeline(walled, speed=2, max_gap=100)] == [0, 5, 10]
    assert [at for at, _ in timeline(walled, speed=2, max_gap=3)] == [0, 3, 6]
    assert [at for at, _ in timeline(walled, speed=0, max_gap=3)] == [0, 0, 0]
    clocked = short_game()[1:4]  # clocks 599, 598, 597 in one period
    assert [at for at, _ in timeline(clocked, speed=1, max_gap=100)] == [0, 1, 2]


def test_models_built_and_replaced_are_what_pydantic_would_make() -> None:
    """The fold's own constructors (no work per field) against pydantic's: same fields, same
    fields set, same JSON, equal, and still frozen."""
    game = fold(short_game("g1"))
    assert game is not None
    line: dict[str, Any] = {"name": "A. Player", "team_id": "h", "stats": {"pts": 2}, "derived": {}}
    assert built(BoxLine, **line) == BoxLine.model_construct(**line)
    assert (
        built(BoxLine, **line).model_fields_set == BoxLine.model_construct(**line).model_fields_set
    )
    update = {"version": game.version + 1, "period": 9}
    ours, theirs = replaced(game, update), game.model_copy(update=update)
    assert ours == theirs
    assert ours.model_dump_json() == theirs.model_dump_json()
    assert ours.model_fields_set == theirs.model_fields_set
    assert ours.period == 9
    assert game.period != 9  # the original is left as it was
    with pytest.raises(ValidationError):
        ours.period = 1  # type: ignore[misc]
