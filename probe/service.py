"""``scorecast probe``: ask the edge for each followed game as a fan's app would (conditional
GETs on the public hostname) and record, for every new version seen, how long after its newest
event entered the pipeline it was there (``ingested_at`` in the snapshot).

The figure includes the probe's own interval (a version is seen up to ``interval_seconds``
after it arrived): the SLO is written with it in. A version older than one seen before is
counted as ``went_back`` (the edge must never do that), a game the edge does not know as
``not_found``. Without a list of games the probe follows every game not final on the boards of
today and yesterday (UTC) and the undated one, read again every ``board_seconds``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from datetime import UTC, datetime, timedelta

import httpx
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from probe.settings import ProbeSettings
from runtime.lifecycle import Service
from runtime.metrics import exporting

logger = logging.getLogger("scorecast.probe")

#: Seconds from ingest to the edge; 2.0 is the SLO's bound (monitoring/alerts.yml).
BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0)


class Probe(Service):
    """``async with Probe(settings) as probe: await probe.run(stop)``."""

    def __init__(self, settings: ProbeSettings) -> None:
        self.settings = settings
        self.drain_seconds = settings.drain_seconds
        self.registry = CollectorRegistry()
        self.fresh = Histogram(
            "scorecast_probe_fresh_seconds",
            "From a version's newest event entering the pipeline to it seen at the edge.",
            buckets=BUCKETS,
            registry=self.registry,
        )
        self.errors = Counter(
            "scorecast_probe_errors",
            "Answers of the edge that a fan should never get, by reason.",
            ["reason"],
            registry=self.registry,
        )
        self.games = Gauge(
            "scorecast_probe_games", "Games the probe follows.", registry=self.registry
        )
        #: Per game: the newest version seen and its ETag.
        self._seen: dict[str, tuple[int, str]] = {}
        #: When the probe last finished a round (monotonic); ``None`` before the first.
        self._round: float | None = None

    async def start(self, resources: contextlib.AsyncExitStack) -> None:
        self._http = await resources.enter_async_context(
            httpx.AsyncClient(
                base_url=self.settings.edge_url.rstrip("/"),
                timeout=self.settings.timeout_seconds,
                headers={"User-Agent": "scorecast-probe"},
            )
        )
        await resources.enter_async_context(exporting(self.registry, self.settings, self.ready))

    async def ready(self) -> str | None:
        if self._round is None:
            return "no round done yet"
        behind = time.monotonic() - self._round
        if behind > max(30.0, 10 * self.settings.interval_seconds):
            return f"no round for {behind:.0f} s"
        return None

    async def run(self, stop: asyncio.Event) -> None:
        games = list(self.settings.games)
        next_board = 0.0
        gate = asyncio.Semaphore(self.settings.concurrency)
        while not stop.is_set():
            if not self.settings.games and time.monotonic() >= next_board:
                games = await self._board() or games
                next_board = time.monotonic() + self.settings.board_seconds
            self.games.set(len(games))
            await asyncio.gather(*(self._look(game, gate) for game in games))
            self._round = time.monotonic()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.settings.interval_seconds)

    async def _board(self) -> list[str]:
        today = datetime.now(UTC).date()
        days = [str(today - timedelta(days=1)), str(today), "undated"]
        games: list[str] = []
        for day in days:
            board = await self._get(f"/v1/scoreboard/{day}")
            if board is None:
                continue
            try:
                rows = board.json()["games"]
                games += [row["game_id"] for row in rows if row.get("status") != "FINAL"]
            except (ValueError, KeyError, TypeError):
                self.errors.labels("unreadable").inc()
        return sorted(set(games))

    async def _get(self, path: str, etag: str = "") -> httpx.Response | None:
        """The 200 answer to ``path``; ``None`` for a 304 or a failure (counted)."""
        headers = {"If-None-Match": etag} if etag else {}
        try:
            response = await self._http.get(path, headers=headers)
        except httpx.HTTPError as exc:
            self.errors.labels("unreachable").inc()
            logger.warning("%s: %s", path, type(exc).__name__)
            return None
        if response.status_code == 304:
            return None
        if response.status_code == 404:
            self.errors.labels("not_found").inc()
            return None
        if response.status_code != 200:
            self.errors.labels(f"status_{response.status_code // 100}xx").inc()
            return None
        return response

    async def _look(self, game_id: str, gate: asyncio.Semaphore) -> None:
        seen_version, etag = self._seen.get(game_id, (0, ""))
        async with gate:
            answer = await self._get(f"/v1/games/{game_id}", etag)
        if answer is None:
            return
        now = datetime.now(UTC)
        try:
            game = answer.json()
            version = int(game["version"])
            ingested = game.get("ingested_at")
            ingested_at = datetime.fromisoformat(ingested) if ingested else None
        except (ValueError, KeyError, TypeError):
            self.errors.labels("unreadable").inc()
            return
        if version < seen_version:
            self.errors.labels("went_back").inc()
            return
        self._seen[game_id] = (version, answer.headers.get("etag", ""))
        # The first look at a game finds whatever it was: not a version that just arrived.
        if seen_version and version > seen_version and ingested_at is not None:
            self.fresh.observe(max(0.0, (now - ingested_at).total_seconds()))
