"""Push endpoints: SSE streams and long-polls.

Behind a GRIP proxy (the request carries a valid ``Grip-Sig``) the origin only answers with
hold instructions and what the client has missed; the proxy holds the connection and the
publisher publishes each new version to it once. Without one, the origin holds the stream
itself, fed by its :class:`~origin.hub.Hub`.

On every path a client holding version N gets nothing at or below N (:func:`core.versions.newer`):
announcements repeated by a restarted publisher, or interleaved by two during a rebalance,
never take a client backwards.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import random
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import jwt
from sse_starlette import EventSourceResponse
from starlette.requests import Request
from starlette.responses import Response

from core import ids, sse
from core.keys import SCOREBOARD_CHANNEL, game_channel
from core.store import Snapshot
from core.versions import etag, newer
from origin.hub import Push, SlowSubscriberError, Subscription
from origin.state import OriginState
from runtime.http_errors import ApiError

_HELD_VERSION = re.compile(ids.HELD_VERSION)
# Streams pass the edge untouched (piped), so they carry their own CORS header.
_NO_STORE = {"Cache-Control": "no-store", "Access-Control-Allow-Origin": "*"}
STREAM_TYPE = "text/event-stream"

Missed = Callable[[], Awaitable[list[tuple[int, bytes]]]]


def behind_grip_proxy(request: Request, state: OriginState) -> bool:
    """True when ``Grip-Sig`` is a valid, unexpired token signed with our GRIP key."""
    key = state.settings.grip_key.get_secret_value()
    token = request.headers.get("grip-sig")
    if not key or not token:
        return False
    try:
        jwt.decode(token, key, algorithms=["HS256"], options={"require": ["exp"]})
    except jwt.PyJWTError:
        return False  # as if absent (GRIP: an unverifiable signature means no proxy)
    return True


def behind_stream_tier(request: Request, state: OriginState) -> bool:
    """True when the request comes through our Nchan stream tier, which proves itself with
    the same shared key (``Scorecast-Holder``; it overwrites any a client sent)."""
    key = state.settings.grip_key.get_secret_value()
    sent = request.headers.get("scorecast-holder", "")
    return bool(key) and hmac.compare_digest(sent.encode(), key.encode())


def last_event_id(request: Request) -> int | None:
    """``Last-Event-ID`` (header, or ``?lastEventId=`` for clients that reconnect by hand)."""
    raw = request.headers.get("last-event-id") or request.query_params.get("lastEventId")
    if raw is None or raw == "":
        return None
    if not _HELD_VERSION.match(raw):
        raise ApiError(400, "bad_last_event_id", "Last-Event-ID must be a version number")
    return int(raw)


async def game_stream(request: Request, game_id: str) -> Response:
    state: OriginState = request.state.origin
    last = last_event_id(request)
    latest = await _latest_or_404(state, game_id)
    if behind_grip_proxy(request, state):
        missed = await _missed(state, game_id, latest, last)
        return _grip_stream(state, game_channel(game_id), missed)
    if behind_stream_tier(request, state):
        return await _tier_stream(state, game_id, latest, last)

    async def since() -> list[tuple[int, bytes]]:
        current = await state.store.latest(game_id)
        return await _missed(state, game_id, current or latest, last)

    return _direct_stream(state, game_channel(game_id), last, since)


async def scoreboard_stream(request: Request) -> Response:
    state: OriginState = request.state.origin
    last = last_event_id(request)

    async def since() -> list[tuple[int, bytes]]:
        board = await state.store.scoreboard()
        if not newer(board.version, last):
            return []
        return [(board.version, sse.event(board.version, "scoreboard", board.body))]

    if behind_grip_proxy(request, state):
        return _grip_stream(state, SCOREBOARD_CHANNEL, await since())
    return _direct_stream(state, SCOREBOARD_CHANNEL, last, since)


async def long_poll(request: Request, game_id: str, raw_after: str) -> Response:
    """``?after=N``: answer as soon as a version above N exists, or 204 after a while."""
    state: OriginState = request.state.origin
    if not _HELD_VERSION.match(raw_after):
        raise ApiError(400, "bad_after", "after must be a version number")
    after = int(raw_after)
    # Deadlines are jittered so that clients polling together drift apart.
    timeout = state.settings.long_poll_seconds * random.uniform(0.8, 1.0)
    if behind_grip_proxy(request, state):
        latest = await _latest_or_404(state, game_id)
        if newer(latest.version, after):
            return _snapshot(latest)
        headers = {
            "Grip-Hold": "response",
            "Grip-Channel": f"{game_channel(game_id)}; prev-id={latest.version}",
            "Grip-Timeout": str(max(1, int(timeout))),
            **_NO_STORE,
        }
        return Response(status_code=204, headers=headers)
    with state.hub.subscribe(game_channel(game_id)) as subscription:
        latest = await _latest_or_404(state, game_id)
        if newer(latest.version, after):
            return _snapshot(latest)
        push = await _newer_within(subscription, after, timeout)
        if push is None:
            return Response(status_code=204, headers=_NO_STORE)
        return _snapshot(Snapshot(push.event_id, push.body))


async def _newer_within(subscription: Subscription, held: int, seconds: float) -> Push | None:
    """The first push newer than ``held`` within ``seconds``; ``None`` if none came."""
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        try:
            push = await asyncio.wait_for(subscription.next(), left)
        except (TimeoutError, SlowSubscriberError):
            return None
        if push is None or newer(push.event_id, held):
            return push
    return None


def _snapshot(snapshot: Snapshot) -> Response:
    headers = {"ETag": etag(snapshot.version), **_NO_STORE}
    return Response(snapshot.body, media_type="application/json", headers=headers)


async def _latest_or_404(state: OriginState, game_id: str) -> Snapshot:
    latest = await state.store.latest(game_id)
    if latest is None:
        raise ApiError(404, "unknown_game", f"no game {game_id}", _NO_STORE)
    return latest


async def _missed(
    state: OriginState, game_id: str, latest: Snapshot, last: int | None
) -> list[tuple[int, bytes]]:
    """What a client holding version ``last`` lacks: the versions since, or one full
    snapshot when it is too far behind. Never the whole game."""
    if not newer(latest.version, last):
        return []
    if last is None or latest.version - last > state.settings.resume_max_versions:
        found = [(latest.version, latest.body)]
    else:
        found = await state.store.versions(game_id, last + 1, latest.version)
    return [(number, sse.event(number, _stored_change(body), body)) for number, body in found]


def _stored_change(body: bytes) -> str:
    """The SSE event type of a stored version (live pushes take it from the announcement)."""
    return str(json.loads(body).get("change", "state"))


def _grip_stream(state: OriginState, channel: str, missed: list[tuple[int, bytes]]) -> Response:
    # Keep-alives under 10 s: Fastly's default between-bytes timeout.
    heartbeat = max(1, int(state.settings.heartbeat_seconds))
    headers = {
        "Grip-Hold": "stream",
        "Grip-Channel": channel,
        "Grip-Keep-Alive": f":\\n\\n; format=cstring; timeout={heartbeat}",
        **_NO_STORE,
    }
    body = sse.retry() + b"".join(event for _, event in missed)
    return Response(body, media_type=STREAM_TYPE, headers=headers)


async def _tier_stream(
    state: OriginState, game_id: str, latest: Snapshot, last: int | None
) -> Response:
    """Send the stream to Nchan, starting right after the newest version the client holds
    (or, new or too far behind, after the one before the latest). The publisher records Nchan's
    id of each version it pushes after pushing it: when the one wanted is not recorded (yet),
    an older one is used, and the client skips what it already holds."""
    behind = last is not None and latest.version - last <= state.settings.resume_max_versions
    start = last if behind and last is not None else latest.version - 1
    message = await state.store.held_message(game_id, start)
    target = f"/.holder/stream/{game_channel(game_id)}"
    if message is not None:
        target += "?after=" + message
    # Nothing else: the tier sets the stream's own headers (CORS, caching).
    headers = {"X-Accel-Redirect": target, "X-Accel-Buffering": "no"}
    return Response(status_code=200, headers=headers)


def _direct_stream(state: OriginState, channel: str, last: int | None, missed: Missed) -> Response:
    async def events() -> AsyncIterator[bytes]:
        # Subscribed before reading what was missed, so nothing published in between is lost;
        # what the client already holds is skipped.
        with state.hub.subscribe(channel) as subscription:
            held = last
            yield sse.retry()
            for event_id, event in await missed():
                if newer(event_id, held):
                    yield event
                    held = event_id
            while True:
                try:
                    push = await subscription.next()
                except SlowSubscriberError:
                    return  # too slow: cut off; it resumes from its Last-Event-ID
                if push is None:
                    return  # the origin is shutting down; the client reconnects elsewhere
                if newer(push.event_id, held):
                    yield push.event
                    held = push.event_id

    # Heartbeats jittered per stream, so that idle clients' timers do not line up.
    heartbeat = state.settings.heartbeat_seconds * random.uniform(0.7, 1.0)
    return EventSourceResponse(
        events(), ping=heartbeat, send_timeout=2 * heartbeat, headers=_NO_STORE
    )
