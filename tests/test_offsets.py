from __future__ import annotations

from publisher.offsets import OffsetTracker


def test_commit_follows_the_last_consumed_offset() -> None:
    tracker = OffsetTracker()
    for offset in range(5):
        tracker.consumed(("t", 0, offset))
    assert tracker.to_commit() == {("t", 0): 5}


def test_a_held_event_pins_its_partition() -> None:
    tracker = OffsetTracker()
    for offset in range(5):
        tracker.consumed(("t", 0, offset))
        tracker.consumed(("t", 1, offset))
    tracker.hold(("t", 0, 2))
    tracker.hold(("t", 0, 4))
    assert tracker.to_commit() == {("t", 0): 2, ("t", 1): 5}
    tracker.committed(tracker.to_commit())
    assert tracker.to_commit() == {}
    tracker.release(("t", 0, 2))
    assert tracker.to_commit() == {("t", 0): 4}
    tracker.release(("t", 0, 4))
    assert tracker.to_commit() == {("t", 0): 5}


def test_forgotten_partitions_are_not_committed() -> None:
    tracker = OffsetTracker()
    tracker.consumed(("t", 3, 9))
    tracker.forget([("t", 3)])
    assert tracker.to_commit() == {}
