from __future__ import annotations

from publisher.reorder import ReorderBuffer
from tests.factories import basket, event, scheduled


def _sequences(released: list) -> list[int]:  # type: ignore[type-arg]
    return [held.event.sequence for held in released]


def test_in_order_events_are_released_at_once() -> None:
    buffer: ReorderBuffer[int] = ReorderBuffer(hold=5.0)
    for seq in range(3):
        buffer.add(event(seq) if seq else scheduled(), seq, now=0.0)
    assert _sequences(buffer.release(applied=-1, now=0.0).held) == [0, 1, 2]
    assert len(buffer) == 0


def test_an_early_event_waits_for_the_gap_to_fill() -> None:
    buffer: ReorderBuffer[int] = ReorderBuffer(hold=5.0)
    buffer.add(event(3), 3, now=0.0)
    assert buffer.release(applied=1, now=1.0).held == []
    buffer.add(event(2), 2, now=1.0)
    assert _sequences(buffer.release(applied=1, now=1.0).held) == [2, 3]


def test_a_gap_is_given_up_after_the_hold_and_reported() -> None:
    buffer: ReorderBuffer[int] = ReorderBuffer(hold=5.0)
    buffer.add(event(4), 4, now=0.0)
    buffer.add(event(6), 6, now=0.0)
    assert buffer.release(applied=1, now=4.9).held == []
    released = buffer.release(applied=1, now=5.0)
    assert _sequences(released.held) == [4, 6]
    assert released.skipped == [2, 3, 5]


def test_a_second_copy_of_a_held_sequence_is_refused() -> None:
    buffer: ReorderBuffer[str] = ReorderBuffer(hold=1.0)
    assert buffer.add(basket(2, "h"), "first", now=0.0)
    assert not buffer.add(basket(2, "a"), "second", now=0.0)
    assert buffer.tags() == ["first"]


def test_events_already_applied_are_handed_back_for_release() -> None:
    buffer: ReorderBuffer[int] = ReorderBuffer(hold=1.0)
    buffer.add(event(2), 2, now=0.0)
    buffer.add(event(5), 5, now=0.0)
    released = buffer.release(applied=4, now=0.0)
    assert _sequences(released.held) == [2, 5]
    assert released.skipped == []
