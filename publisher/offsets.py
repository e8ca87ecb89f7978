"""Which offsets are safe to commit.

An offset is committed only once everything before it is written or dead-lettered. Events still
held for reordering pin their partition's commit at their own offset, so a crash re-reads them.
"""

from __future__ import annotations

from collections import Counter

Position = tuple[str, int, int]  # topic, partition, offset
Partition = tuple[str, int]


class OffsetTracker:
    def __init__(self) -> None:
        self._next: dict[Partition, int] = {}
        self._held: dict[Partition, Counter[int]] = {}
        self._committed: dict[Partition, int] = {}
        #: The first offset read per partition (what counts as committed before any commit).
        self._first: dict[Partition, int] = {}

    def consumed(self, position: Position) -> None:
        topic, partition, offset = position
        key = (topic, partition)
        self._first.setdefault(key, offset)
        self._next[key] = max(self._next.get(key, 0), offset + 1)

    def hold(self, position: Position) -> None:
        topic, partition, offset = position
        held = self._held.get((topic, partition))
        if held is None:  # not setdefault: that builds a Counter for every event
            held = self._held[(topic, partition)] = Counter()
        held[offset] += 1

    def release(self, position: Position) -> None:
        topic, partition, offset = position
        held = self._held.get((topic, partition))
        if held is None or held[offset] <= 0:
            return
        held[offset] -= 1
        if held[offset] == 0:
            del held[offset]

    def to_commit(self) -> dict[Partition, int]:
        """Offsets to commit now (next offset to read per partition), only where they moved."""
        out: dict[Partition, int] = {}
        for key, following in self._next.items():
            held = self._held.get(key)
            safe = min(held) if held else following
            if self._committed.get(key) != safe:
                out[key] = safe
        return out

    def committed(self, offsets: dict[Partition, int]) -> None:
        self._committed.update(offsets)

    def lag(self) -> dict[Partition, int]:
        """Per partition, offsets read and not committed yet."""
        return {
            key: following - self._committed.get(key, self._first.get(key, following))
            for key, following in self._next.items()
        }

    def forget(self, partitions: list[Partition]) -> None:
        for key in partitions:
            self._first.pop(key, None)
            self._next.pop(key, None)
            self._held.pop(key, None)
            self._committed.pop(key, None)
