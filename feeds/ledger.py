"""What a provider's document adds to what was produced from it before.

Providers publish a game as a document that grows and gets corrected. Each record is known by
the provider's own id (the adapter's ``event_id``); comparing a new document with the records
already produced gives new records, edited ones and, for a complete document, removed ones. Each
gets the game's next sequence number, so the events topic carries every change once, in the
order it was learnt, and version numbers keep growing whatever the provider corrects.

The ledger lives in Redis with the game's other keys: the records as last produced, the next
sequence, and an outbox of numbered records Kafka has not acknowledged yet. Numbering and
remembering happen in one transaction; the outbox is produced, then emptied: a crash between
the two produces the same numbered records again, which the publisher ignores by sequence.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import WatchError

from core.connection import translated
from core.errors import GameRetiredError
from core.keys import RedisKeys
from core.models import EventType, GameEvent, Revision

#: What a record's identity and bookkeeping are, not what it says.
_NOT_CONTENT = {"sequence", "ingested_at", "revision", "previous"}


@dataclass(frozen=True)
class Changes:
    """A document compared with the ledger; ``events`` are numbered, ready to produce."""

    events: list[GameEvent] = field(default_factory=list)
    added: int = 0
    edited: int = 0
    removed: int = 0
    restored: int = 0
    unchanged: int = 0
    #: An older copy of the document (a stale cache): it lacks the newest record and brings
    #: nothing new. Ignored whole; nothing in it is taken as a removal or an edit.
    stale: bool = False
    #: A "complete" document missing more records than a provider ever takes back at once
    #: (a cut-off or paginated answer): what it adds or edits counts, nothing is removed.
    truncated: bool = False


#: Records a complete document may remove at once. Providers take back a record or two (a
#: reviewed basket, a goal given to another player); a document missing more than this is
#: read as cut off, not as that many corrections.
MOST_REMOVED = 5


def content(event: GameEvent) -> dict[str, Any]:
    return event.model_dump(exclude=_NOT_CONTENT)


def compare(
    known: Mapping[str, GameEvent],
    next_sequence: int,
    document: Sequence[GameEvent],
    complete: bool = True,
) -> Changes:
    """Number what ``document`` (a game's records in provider order) changes in ``known``.

    ``known`` maps each record id to the record as last produced; a removed record stays in it
    as removed (``revision`` REMOVED), so a stale copy that still has it is not news. A
    ``complete`` document lists every record of the game: a known record missing from it was
    removed. A partial one (a push of some records) removes nothing.
    """
    latest: dict[str, GameEvent] = {}
    for record in document:
        latest[record.event_id] = record  # repeated in the document: its last copy counts
    fresh = [record for record in latest.values() if record.event_id not in known]
    # A schedule's record is not part of a live document: no live document removes it, and
    # a restated fixture after the newest play does not make the next document look stale.
    live = {
        key: record
        for key, record in known.items()
        if record.revision is None and not _listed(record)
    }
    gone = [record for key, record in live.items() if key not in latest] if complete else []
    if gone and not fresh and live:
        newest = max(live.values(), key=lambda record: record.sequence)
        if newest.event_id not in latest:
            return Changes(stale=True)
    truncated = len(gone) > MOST_REMOVED
    if truncated:
        gone = []
    corrections: list[tuple[int, GameEvent]] = []
    unchanged = 0
    for key, record in latest.items():
        before = known.get(key)
        if before is None:
            continue
        if before.revision is Revision.REMOVED:  # the provider put it back: it counts again
            corrections.append((before.sequence, _revised(record, Revision.RESTORED)))
        elif content(before) == content(record) or (
            not complete and record.event_type is EventType.GAME_SCHEDULED and not _listed(record)
        ):
            # A push of some records says nothing new about the schedule, which adapters
            # derive in part from the records a document carries (its first action's time).
            unchanged += 1
        else:
            corrections.append((before.sequence, _edit(before, record)))
    corrections += [(record.sequence, _revised(record, Revision.REMOVED)) for record in gone]
    corrections.sort(key=lambda pair: pair[0])
    numbered: list[GameEvent] = []
    for sequence, event in enumerate(
        [event for _, event in corrections] + [_plain(record) for record in fresh],
        start=next_sequence,
    ):
        numbered.append(event.model_copy(update={"sequence": sequence}))
    revisions = Counter(event.revision for event in numbered)
    return Changes(
        events=numbered,
        added=revisions[None],
        edited=revisions[Revision.EDITED],
        removed=revisions[Revision.REMOVED],
        restored=revisions[Revision.RESTORED],
        unchanged=unchanged,
        truncated=truncated,
    )


def _listed(record: GameEvent) -> bool:
    return record.game is not None and record.game.listed


def _revised(record: GameEvent, revision: Revision) -> GameEvent:
    return record.model_copy(update={"revision": revision, "previous": None})


def _plain(record: GameEvent) -> GameEvent:
    return record.model_copy(update={"revision": None, "previous": None})


def _edit(before: GameEvent, now: GameEvent) -> GameEvent:
    return now.model_copy(update={"revision": Revision.EDITED, "previous": _plain(before)})


def remembered(event: GameEvent) -> GameEvent:
    """What the ledger keeps of a produced event: the record as it now stands, with the
    sequence it was first produced at (its place in the game, which tells a stale copy)."""
    if event.revision is Revision.REMOVED:
        return event
    first = event.previous.sequence if event.previous is not None else event.sequence
    return _plain(event).model_copy(update={"sequence": first})


@dataclass
class Known:
    """One game's ledger, as read from Redis."""

    records: dict[str, GameEvent]
    next_sequence: int
    outbox: list[GameEvent]


class FeedLedger:
    """The ledgers of the games a feed reader (poller or webhook) produces, in Redis."""

    def __init__(self, redis: Redis, keys: RedisKeys) -> None:
        self.redis = redis
        self.keys = keys

    @translated
    async def load(self, game_id: str) -> Known:
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hgetall(self.keys.feed_records(game_id))
            pipe.get(self.keys.feed_next(game_id))
            pipe.lrange(self.keys.feed_outbox(game_id), 0, -1)
            pipe.exists(self.keys.feed_retired(game_id))
            records, next_sequence, outbox, retired = await pipe.execute()
        if retired:
            # Its records are gone: compared with nothing, every record would look new and be
            # counted twice.
            raise GameRetiredError(f"game {game_id} is final and retired; its feed is closed")
        return Known(
            records={
                key.decode(): GameEvent.model_validate_json(value) for key, value in records.items()
            },
            next_sequence=int(next_sequence or 0),
            outbox=[GameEvent.model_validate_json(value) for value in outbox],
        )

    @translated
    async def record(self, game_id: str, expected_next: int, events: list[GameEvent]) -> bool:
        """Remember ``events`` (numbered from ``expected_next``) and queue them in the outbox,
        in one transaction. False: another reader numbered records of this game meanwhile;
        load the ledger again and compare again."""
        next_key = self.keys.feed_next(game_id)
        async with self.redis.pipeline(transaction=True) as pipe:
            try:
                # A game that retires meanwhile makes this fail too: loaded again, it is refused.
                await pipe.watch(next_key, self.keys.feed_retired(game_id))
                if int(await pipe.get(next_key) or 0) != expected_next:
                    return False
                pipe.multi()  # type: ignore[no-untyped-call]
                pipe.hset(
                    self.keys.feed_records(game_id),
                    mapping={event.event_id: _stored(remembered(event)) for event in events},
                )
                pipe.set(next_key, expected_next + len(events))
                pipe.rpush(self.keys.feed_outbox(game_id), *[_stored(event) for event in events])
                await pipe.execute()
            except WatchError:
                return False
        return True

    @translated
    async def delivered(self, game_id: str, events: list[GameEvent]) -> None:
        """Kafka acknowledged ``events``: take them out of the outbox (by value, so a second
        reader's records queued meanwhile stay until that reader's own acknowledgement)."""
        async with self.redis.pipeline(transaction=False) as pipe:
            for event in events:
                pipe.lrem(self.keys.feed_outbox(game_id), 1, _stored(event))
            await pipe.execute()


def _stored(event: GameEvent) -> str:
    return event.model_dump_json(exclude_none=True)
