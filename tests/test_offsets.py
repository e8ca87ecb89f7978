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


def test_lag_is_what_was_read_and_not_committed_per_partition() -> None:
    """The consumer lag the publisher exports: its own knowledge, never the broker's end
    offsets (which some Kafka-compatible brokers report wrong)."""
    tracker = OffsetTracker()
    for offset in range(100, 110):  # a member joining at a committed offset of 100
        tracker.consumed(("t", 0, offset))
    tracker.consumed(("t", 1, 0))
    assert tracker.lag() == {("t", 0): 10, ("t", 1): 1}
    tracker.hold(("t", 0, 104))
    tracker.committed(tracker.to_commit())
    assert tracker.lag() == {("t", 0): 6, ("t", 1): 0}  # 104..109 wait behind the held one
    tracker.release(("t", 0, 104))
    tracker.committed(tracker.to_commit())
    assert tracker.lag() == {("t", 0): 0, ("t", 1): 0}
    tracker.forget([("t", 1)])
    assert tracker.lag() == {("t", 0): 0}
