"""The origin's half of streams and long-polls: the resume rule. What a client lacks is decided
here; who holds its stream is the stream tier's (:mod:`streams`).

On every path a client holding version N gets nothing at or below N (:func:`core.versions.newer`):
announcements repeated by a restarted publisher, or interleaved by two during a rebalance,
never take a client backwards.
"""

from __future__ import annotations

import random
import re
from datetime import UTC, datetime

from starlette.requests import Request
from starlette.responses import Response

from core import calendar, ids, sse
from core.cors import STREAM_HEADERS
from core.keys import SCOREBOARD_CHANNEL, game_channel
from core.store import Snapshot, snapshot_change
from core.versions import newer
from origin import documents
from origin.state import OriginState
from runtime.http_errors import ApiError
from streams.tier import Held, PollHold, StreamHold, StreamTier

_HELD_VERSION = re.compile(ids.HELD_VERSION)


def resume_after(latest: int, held: int | None, max_behind: int) -> int:
    """The version after which a client holding ``held`` is sent every version: the one it
    holds, or, when it holds none or is more than ``max_behind`` behind, the one before the
    latest (it gets one full snapshot, never the whole game)."""
    if held is not None and latest - held <= max_behind:
        return held
    return latest - 1


def last_event_id(request: Request) -> int | None:
    """``Last-Event-ID`` (header, or ``?lastEventId=`` for clients that reconnect by hand)."""
    raw = request.headers.get("last-event-id") or request.query_params.get("lastEventId")
    if raw is None or raw == "":
        return None
    if not _HELD_VERSION.fullmatch(raw):
        raise ApiError(400, "bad_last_event_id", "Last-Event-ID must be a version number")
    return int(raw)


def _holder(request: Request, state: OriginState, resource: Held) -> StreamTier:
    """The configured tier, when it holds ``resource`` and the request came through it; the
    origin's own hub otherwise."""
    tier = state.tier
    if resource in tier.holds and tier.proves(request.headers):
        return tier
    return state.hub


async def game_stream(request: Request, game_id: str) -> Response:
    state: OriginState = request.state.origin
    held = last_event_id(request)
    latest = await _latest_or_404(state, game_id)
    behind = state.settings.resume_max_versions

    async def missed() -> list[tuple[int, bytes]]:
        current = await state.store.latest(game_id) or latest
        if not newer(current.version, held):
            return []
        after = resume_after(current.version, held, behind)
        if after == current.version - 1:
            found = [(current.version, current.body)]  # the latest alone: read already
        else:
            found = await state.store.versions(game_id, after + 1, current.version)
        return [(number, sse.event(number, snapshot_change(body), body)) for number, body in found]

    hold = StreamHold(
        Held.GAME_STREAM,
        game_channel(game_id),
        game_id,
        held,
        resume_after(latest.version, held, behind),
        missed,
    )
    return await _holder(request, state, Held.GAME_STREAM).stream(hold)


async def scoreboard_stream(request: Request) -> Response:
    state: OriginState = request.state.origin
    held = last_event_id(request)

    async def missed() -> list[tuple[int, bytes]]:
        # Today's board, as /v1/scoreboard (then every changed row, whatever its day).
        parts = calendar.today_parts(await state.store.board_parts(), datetime.now(UTC))
        board = documents.scoreboard(await state.store.board(parts))
        # Another board than the one held (a new day's has a lower version): the whole of it
        # again; each row carries its game's version, so a client keeps what is newer.
        if held is not None and board.version == held:
            return []
        return [(board.version, sse.event(board.version, "scoreboard", board.body))]

    hold = StreamHold(Held.SCOREBOARD_STREAM, SCOREBOARD_CHANNEL, None, held, 0, missed)
    return await _holder(request, state, Held.SCOREBOARD_STREAM).stream(hold)


async def long_poll(request: Request, game_id: str, raw_after: str) -> Response:
    """``?after=N``: answer as soon as a version above N exists, or 204 after a while."""
    state: OriginState = request.state.origin
    if not _HELD_VERSION.fullmatch(raw_after):
        raise ApiError(400, "bad_after", "after must be a version number")
    # Deadlines are jittered so that clients polling together drift apart.
    seconds = state.settings.long_poll_seconds * random.uniform(0.8, 1.0)

    async def latest() -> Snapshot:
        return await _latest_or_404(state, game_id)

    hold = PollHold(game_channel(game_id), game_id, int(raw_after), seconds, latest)
    return await _holder(request, state, Held.LONG_POLL).long_poll(hold)


async def _latest_or_404(state: OriginState, game_id: str) -> Snapshot:
    latest = await state.store.latest(game_id)
    if latest is None:
        raise ApiError(404, "unknown_game", f"no game {game_id}", STREAM_HEADERS)
    return latest
