"""Versions are a pure function of the feed (architecture invariant 1): whatever the batching,
a version number that exists has the same bytes, and no version hides a score change."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.errors import VersionOrderError
from core.models import ChangeKind, GameEvent
from core.reducer import fold, versions
from core.store import snapshot_body
from core.versions import etag, newer
from feeds.adapters import load
from tests.factories import basket, event, scheduled, short_game
from tests.test_adapters import FILES


def _batches(events: list[GameEvent], sizes: Iterator[int]) -> Iterator[list[GameEvent]]:
    start = 0
    while start < len(events):
        size = next(sizes)
        yield events[start : start + size]
        start += size


def _publish_all(events: list[GameEvent], sizes: Iterator[int]) -> dict[int, bytes]:
    """Fold the events batch by batch as the publisher does; every version's bytes by number."""
    published = None
    written: dict[int, bytes] = {}
    for batch in _batches(events, sizes):
        folded = versions(published, batch)
        assert folded.rejected == []
        for version in folded.versions:
            assert version.version not in written  # never reused
            written[version.version] = snapshot_body(version)
            published = version
    return written


def _sizes(seed: int) -> Iterator[int]:
    draw = random.Random(seed)
    while True:
        yield draw.choice([1, 2, 3, 7, 50, 500])


def _constant(size: int) -> Iterator[int]:
    while True:
        yield size


@pytest.mark.parametrize("file", FILES)
def test_every_batching_of_a_real_game_writes_the_same_bytes_per_version(
    data_dir: Path, file: str
) -> None:
    events = load(data_dir / file).events
    runs = [
        _publish_all(events, _constant(1)),
        _publish_all(events, _constant(len(events))),
        _publish_all(events, _sizes(1)),
        _publish_all(events, _sizes(2)),
    ]
    one_by_one = runs[0]
    for run in runs[1:]:
        assert set(run) <= set(one_by_one)
        for number, body in run.items():
            assert body == one_by_one[number], f"version {number} differs"
        # The newest version of every batching is the whole game.
        assert max(run) == max(one_by_one)


@pytest.mark.parametrize("file", FILES)
def test_a_version_that_changed_the_score_says_so_whatever_the_batching(
    data_dir: Path, file: str
) -> None:
    events = load(data_dir / file).events
    published = None
    for batch in _batches(events, _sizes(3)):
        for version in versions(published, batch).versions:
            if published is not None:
                scores = (version.home.score, version.away.score)
                if scores != (published.home.score, published.away.score):
                    assert version.change is not ChangeKind.STATE
            published = version
    assert published == versions(None, events).versions[-1]


def test_a_batch_is_cut_after_each_score_and_after_its_last_event() -> None:
    game = short_game()  # scheduled, then baskets and other events, then the end
    folded = versions(None, game)
    cuts = [version.sequence for version in folded.versions]
    scoring = [e.sequence for e in game if e.event_type.value in ("SCORE", "GAME_END")]
    assert set(scoring) <= set(cuts)
    assert cuts[-1] == game[-1].sequence
    assert [v.version for v in folded.versions] == [c + 1 for c in cuts]
    final = fold(game)
    assert final is not None
    assert folded.versions[-1].model_dump(exclude={"version", "change"}) == final.model_dump(
        exclude={"version", "change"}
    )


def test_an_event_that_cannot_apply_is_rejected_and_the_rest_fold() -> None:
    orphan = basket(1, "h", game_id="other")
    folded = versions(None, [orphan, scheduled(), event(1)])
    assert [r.index for r in folded.rejected] == [0]
    assert [v.sequence for v in folded.versions] == [0, 1]


def test_a_version_at_or_below_the_published_one_is_refused() -> None:
    published = versions(None, [scheduled(), event(1), event(2)]).versions[-1]
    tampered = published.model_copy(update={"version": 10})
    with pytest.raises(VersionOrderError):
        versions(tampered, [event(3)])


@pytest.mark.parametrize(
    ("candidate", "held", "expected"),
    [(5, None, True), (5, 4, True), (5, 5, False), (5, 6, False), (1, 0, True)],
)
def test_the_one_monotonic_rule(candidate: int, held: int | None, expected: bool) -> None:
    assert newer(candidate, held) is expected


def test_the_etag_is_the_version() -> None:
    assert etag(611) == '"v611"'
