"""Comparing a provider's document with what was produced from it before (pure)."""

from __future__ import annotations

from pathlib import Path

from core.models import GameEvent, Revision, Scoring
from core.reducer import fold
from feeds.adapters import load
from feeds.ledger import MOST_REMOVED, Changes, compare, remembered
from tests.factories import short_game


def known_after(*steps: Changes) -> dict[str, GameEvent]:
    known: dict[str, GameEvent] = {}
    for step in steps:
        for event in step.events:
            known[event.event_id] = remembered(event)
    return known


def test_a_growing_document_adds_only_its_new_records() -> None:
    game = short_game()
    first = compare({}, 0, game[:4])
    assert [e.sequence for e in first.events] == [0, 1, 2, 3]
    second = compare(known_after(first), 4, game)
    assert [e.event_id for e in second.events] == [e.event_id for e in game[4:]]
    assert [e.sequence for e in second.events] == [4, 5, 6, 7]
    assert (second.added, second.unchanged, second.edited, second.removed) == (4, 4, 0, 0)
    assert fold(first.events + second.events) == fold(game)


def test_records_repeated_in_a_document_or_sent_again_change_nothing() -> None:
    game = short_game()
    first = compare({}, 0, game + game[2:5])
    assert len(first.events) == len(game)
    assert compare(known_after(first), len(game), game).events == []


def test_an_edit_and_a_removal_are_numbered_after_everything_else() -> None:
    game = short_game()
    first = compare({}, 0, game)
    three = game[2]
    two = three.model_copy(update={"scoring": Scoring(kind="2pt"), "sequence": 99})
    document = [two if e.event_id == three.event_id else e for e in game if e is not game[3]]
    second = compare(known_after(first), 8, document)
    edit, removal = second.events
    assert (edit.sequence, edit.revision, edit.event_id) == (8, Revision.EDITED, three.event_id)
    assert edit.previous is not None
    assert edit.previous.scoring == three.scoring
    assert (removal.sequence, removal.revision, removal.event_id) == (
        9,
        Revision.REMOVED,
        game[3].event_id,
    )
    after = fold(first.events + second.events)
    assert after is not None
    assert (after.home.score, after.away.score) == (4, 1)
    # The ledger keeps the edited record where it first stood, and the removed one as removed.
    known = known_after(first, second)
    assert known[three.event_id].sequence == three.sequence
    assert known[game[3].event_id].revision is Revision.REMOVED
    restored = compare(known, 10, game)
    assert [e.revision for e in restored.events] == [Revision.EDITED, Revision.RESTORED]
    final = fold(first.events + second.events + restored.events)
    assert final is not None
    assert (final.home.score, final.away.score) == (5, 3)


def test_an_older_copy_of_the_document_is_ignored_whole() -> None:
    game = short_game()
    first = compare({}, 0, game)
    stale = compare(known_after(first), 8, game[:5])
    assert stale.stale
    assert stale.events == []


def test_a_partial_push_removes_nothing() -> None:
    game = short_game()
    first = compare({}, 0, game[:5])
    push = compare(known_after(first), 5, game[5:], complete=False)
    assert [e.sequence for e in push.events] == [5, 6, 7]
    assert push.removed == 0


def test_a_partial_push_never_edits_the_schedule() -> None:
    game = short_game()
    first = compare({}, 0, game[:5])
    moved = game[0].model_copy(update={"description": "derived from other records"})
    push = compare(known_after(first), 5, [moved, *game[5:]], complete=False)
    assert [e.revision for e in push.events] == [None, None, None]
    whole = compare(known_after(first, push), 8, [moved, *game[1:]])
    assert [e.revision for e in whole.events] == [Revision.EDITED]  # a whole document may


def test_a_cut_off_complete_document_removes_nothing(nba_file: Path) -> None:
    """A "complete" document with its newest records but most of the rest missing (a cut-off
    or paginated answer) is no mass removal: one such push took a live game to 0-0."""
    events = load(nba_file).events
    first = compare({}, 0, events[:300])
    known = known_after(first)
    cut = compare(known, 300, [events[0], *events[280:310]], complete=True)
    assert cut.truncated
    assert cut.removed == 0
    assert cut.added == 10
    before = fold(first.events)
    after = fold(first.events + cut.events)
    assert before is not None
    assert after is not None
    assert after.home.score >= before.home.score
    assert after.away.score >= before.away.score
    # A real correction takes back a record or two: still read as complete.
    corrected = compare(known, 300, [e for e in events[:300] if e not in events[100:102]])
    assert (corrected.truncated, corrected.removed) == (False, 2)
    # One record more than a correction takes back, the newest kept: cut off.
    cut_inside = [e for e in events[:300] if e not in events[100 : 101 + MOST_REMOVED]]
    assert compare(known, 300, cut_inside).truncated
    # The newest missing and nothing new: an older copy, as before (stale, not cut off).
    older = compare(known, 300, events[: 300 - MOST_REMOVED - 1])
    assert (older.stale, older.truncated) == (True, False)
