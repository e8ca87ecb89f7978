"""Recorded games served the way providers serve them live: as documents that grow and get
corrected. A stand-in for a provider's HTTP endpoint plays a list of steps, one per request."""

from __future__ import annotations

import copy
import json
import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from email.utils import formatdate
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from feeds.adapters import parse
from feeds.ledger import content

Record = Any


@dataclass
class Document:
    """A recorded game as its records, and how to put any list of them back in its format."""

    format: str
    records: list[Record]
    render: Callable[[list[Record]], Any]
    #: A record that counts for the score.
    scores: Callable[[Record], bool]
    #: The same record with one field the adapter reads changed.
    edit: Callable[[Record], Record]
    #: A record the adapter turns into an event (most soccer records are passes it ignores).
    editable: Callable[[Record], bool] = lambda record: True


def document(format: str, payload: Any) -> Document:
    payload = copy.deepcopy(payload)
    if format == "nba-livedata":
        return _listed(
            format,
            payload,
            ("game", "actions"),
            lambda a: a.get("shotResult") == "Made",
            lambda a: {**a, "description": f"{a.get('description', '')} [reviewed]"},
        )
    if format == "nba-stats-playbyplayv2":
        headers = payload["resultSets"][0]["headers"]
        kind, home, away = (
            headers.index(h) for h in ("EVENTMSGTYPE", "HOMEDESCRIPTION", "VISITORDESCRIPTION")
        )

        def reviewed(row: list[Any]) -> list[Any]:
            row = list(row)
            column = home if row[home] else away
            row[column] = f"{row[column] or ''} [reviewed]"
            return row

        return _listed(
            format, payload, ("resultSets", 0, "rowSet"), lambda r: r[kind] == 1, reviewed
        )
    if format == "nhl-apiweb":
        return _listed(
            format,
            payload,
            ("plays",),
            lambda p: p.get("typeDescKey") == "goal",
            lambda p: {**p, "timeRemaining": _later(p.get("timeRemaining", "00:00"))},
        )
    if format == "espn-summary":
        return _espn(payload)
    if format == "statsbomb":
        return Document(
            format,
            payload,
            lambda records: records,
            lambda r: r.get("shot", {}).get("outcome", {}).get("name") == "Goal",
            lambda r: {**r, "second": (r.get("second", 0) + 1) % 60},
            lambda r: r.get("type", {}).get("name") in {"Shot", "Substitution", "Half Start"},
        )
    if format == "statsperform-ma3":
        return _listed(
            format,
            payload,
            ("liveData", "event"),
            lambda e: e.get("typeId") == 16,
            lambda e: {**e, "timeSec": (e.get("timeSec", 0) + 1) % 60},
            lambda e: e.get("typeId") in {16, 17, 18, 19, 30, 32},
        )
    raise ValueError(format)


def _listed(
    format: str,
    payload: Any,
    path: tuple[str | int, ...],
    scores: Callable[[Record], bool],
    edit: Callable[[Record], Record],
    editable: Callable[[Record], bool] = lambda record: True,
) -> Document:
    *parents, last = path
    holder = payload
    for step in parents:
        holder = holder[step]
    records = holder[last]

    def render(chosen: list[Record]) -> Any:
        holder[last] = chosen
        try:
            return copy.deepcopy(payload)
        finally:
            holder[last] = records

    return Document(format, list(records), render, scores, edit, editable)


def _espn(payload: Any) -> Document:
    drives = payload["drives"]["previous"]
    records = [(index, play) for index, drive in enumerate(drives) for play in drive["plays"]]

    def render(chosen: list[Record]) -> Any:
        out = copy.deepcopy({**payload, "drives": {}})
        grouped: dict[int, list[Any]] = {}
        for index, play in chosen:
            grouped.setdefault(index, []).append(play)
        out["drives"] = {
            "previous": [{**drives[i], "plays": plays} for i, plays in sorted(grouped.items())]
        }
        return out

    return Document(
        "espn-summary",
        records,
        render,
        lambda record: bool(record[1].get("scoringPlay")),
        lambda record: (
            record[0],
            {**record[1], "text": f"{record[1].get('text', '')} [reviewed]"},
        ),
    )


def _later(clock: str) -> str:
    minutes, seconds = (int(part) for part in clock.split(":"))
    total = min(minutes * 60 + seconds + 1, 20 * 60)
    return f"{total // 60:02d}:{total % 60:02d}"


@dataclass
class Step:
    payload: Any = None
    status: int = 200
    etag: str | None = None
    last_modified: float | None = None
    #: Seconds to wait before answering (longer than the poller's timeout: a timeout).
    delay: float = 0.0


@dataclass
class Plan:
    steps: list[Step]
    #: How many corrections (edits, removals, and their reverts) the plan injects.
    corrections: int


def plan(doc: Document, rng: random.Random, growth: int = 24) -> Plan:
    """Grow the document in ``growth`` steps with repeats, stale copies, errors, a timeout and
    corrections (each undone by a later step), ending on the whole document."""
    records = doc.records
    n = len(records)
    start = time.time() - 3600
    steps: list[Step] = []
    corrections = 0

    def serve(chosen: list[Record], at: int, **extra: Any) -> None:
        steps.append(
            Step(doc.render(chosen), etag=f'"{len(steps)}"', last_modified=start + at, **extra)
        )

    for i in range(1, growth + 1):
        prefix = records[: max(2, n * i // growth)]
        if 8 <= i <= growth - 2 and i % 2 == 0:
            # A correction of a record served before, undone by the next step's document.
            seen = n * (i - 1) // growth
            candidates = [r for r in prefix[: seen - 5] if doc.scores(r)] if i % 4 == 0 else []
            if candidates:
                gone = rng.choice(candidates)
                serve([r for r in prefix if r is not gone], i)
            else:
                serve(_edited(doc, prefix, seen, rng), i)
            corrections += 2
            continue
        serve(prefix, i)
        if i == 3:
            steps.append(copy.copy(steps[-1]))  # the same document again: a 304
        elif i == 4:
            serve(prefix + prefix[-5:] + prefix[:3], i)  # records repeated inside it
        elif i == 5:
            steps.append(Step(status=503))
            steps.append(Step(delay=2.0))
        elif i == 6:
            older = records[: n * 2 // growth]
            serve(older, 2)  # an older copy, and it says so
            serve(older, i)  # an older copy that claims to be new
    serve(records, growth + 1)
    return Plan(steps, corrections)


def _edited(doc: Document, prefix: list[Record], seen: int, rng: random.Random) -> list[Record]:
    """``prefix`` with one of its first ``seen`` records edited in a way the adapter sees."""
    before = _contents(doc, prefix)
    candidates = [i for i, record in enumerate(prefix[:seen]) if doc.editable(record)]
    for index in rng.sample(candidates, min(60, len(candidates))):
        changed = [*prefix[:index], doc.edit(prefix[index]), *prefix[index + 1 :]]
        if _contents(doc, changed) != before:
            return changed
    raise AssertionError(f"no record of {doc.format} could be edited visibly")


def _contents(doc: Document, records: list[Record]) -> dict[str, Any]:
    """What the ledger compares: each event's content by its provider id."""
    return {e.event_id: content(e) for e in parse(doc.render(records), doc.format).events}


class FeedStandIn:
    """Answers each GET with the next step (the last one for ever), honouring If-None-Match."""

    def __init__(self, steps: list[Step]) -> None:
        self.steps = steps
        self.served = 0
        self._lock = threading.Lock()
        self.app = Starlette(routes=[Route("/feed/{name}", self._feed)])

    @property
    def finished(self) -> bool:
        return self.served >= len(self.steps)

    async def _feed(self, request: Request) -> Response:
        import asyncio
        import json

        with self._lock:
            step = self.steps[min(self.served, len(self.steps) - 1)]
            self.served += 1
        if step.delay:
            await asyncio.sleep(step.delay)
        if step.status != 200:
            return Response(status_code=step.status)
        headers = {}
        if step.etag:
            headers["ETag"] = step.etag
            if request.headers.get("if-none-match") == step.etag:
                return Response(status_code=304, headers=headers)
        if step.last_modified is not None:
            headers["Last-Modified"] = formatdate(step.last_modified, usegmt=True)
        return Response(json.dumps(step.payload), media_type="application/json", headers=headers)


class LiveDocuments:
    """A provider serving the NBA's live play-by-play of any game id (one recorded game's, its
    id rewritten), counting the requests per game; ``started`` False: before tip-off, no play
    yet."""

    def __init__(self, document: dict[str, Any], started: bool = True) -> None:
        self.document = document
        self.started = started
        self.requests: Counter[str] = Counter()
        self.app = Starlette(routes=[Route("/pbp/{game_id}.json", self.serve)])

    async def serve(self, request: Request) -> Response:
        game_id = request.path_params["game_id"]
        self.requests[game_id] += 1
        body = copy.deepcopy(self.document)
        body["game"]["gameId"] = game_id
        if not self.started:
            body["game"]["actions"] = []
        return Response(json.dumps(body), media_type="application/json")
