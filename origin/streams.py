"""Push endpoints: SSE streams and long-polls.

Behind a GRIP proxy (the request carries a valid ``Grip-Sig``) the origin only answers with
hold instructions and what the client has missed; the proxy holds the connection and the
publisher publishes each new version to it once. Without one, the origin holds the stream
itself, fed by its :class:`~origin.hub.Hub`.
"""

from __future__ import annotations

import asyncio
import random
import re
from collections.abc import AsyncIterator, Awaitable, Callable

import jwt
from sse_starlette import EventSourceResponse
from starlette.requests import Request
from starlette.responses import Response

from core import sse
from core.store import Snapshot
from origin import caching
from origin.hub import Push, SlowSubscriberError, Subscription, change_of
from origin.state import OriginState
from runtime.http_errors import ApiError

_EVENT_ID = re.compile(r"^[0-9]{1,12}$")
# Streams pass the edge untouched (piped), so they carry their own CORS header.
_NO_STORE = {"Cache-Control": "no-store", "Access-Control-Allow-Origin": "*"}
STREAM_TYPE = "text/event-stream"


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


def last_event_id(request: Request) -> int | None:
    """``Last-Event-ID`` (header, or ``?lastEventId=`` for clients that reconnect by hand)."""
    raw = request.headers.get("last-event-id") or request.query_params.get("lastEventId")
    if raw is None or raw == "":
        return None
    if not _EVENT_ID.match(raw):
        raise ApiError(400, "bad_last_event_id", "Last-Event-ID must be a version number")
    return int(raw)


Missed = Callable[[], Awaitable[list[tuple[int, bytes]]]]


async def game_stream(request: Request, game_id: str) -> Response:
    state: OriginState = request.state.origin
    last = last_event_id(request)
    latest = await _latest_or_404(state, game_id)
    if behind_grip_proxy(request, state):
        missed = await _missed(state, game_id, latest, last)
        return _grip_stream(state, sse.game_channel(game_id), missed)

    async def since() -> list[tuple[int, bytes]]:
        current = await state.store.latest(game_id)
        return await _missed(state, game_id, current or latest, last)

    return _direct_stream(state, sse.game_channel(game_id), last, since)


async def scoreboard_stream(request: Request) -> Response:
    state: OriginState = request.state.origin
    last = last_event_id(request)

    async def since() -> list[tuple[int, bytes]]:
        board = await state.store.scoreboard()
        if last == board.version:
            return []
        return [(board.version, sse.event(board.version, "scoreboard", board.body))]

    if behind_grip_proxy(request, state):
        return _grip_stream(state, sse.SCOREBOARD_CHANNEL, await since())
    return _direct_stream(state, sse.SCOREBOARD_CHANNEL, last, since)


async def long_poll(request: Request, game_id: str, raw_after: str) -> Response:
    """``?after=N``: answer as soon as a version above N exists, or 204 after a while."""
    state: OriginState = request.state.origin
    if not _EVENT_ID.match(raw_after):
        raise ApiError(400, "bad_after", "after must be a version number")
    after = int(raw_after)
    # Deadlines are jittered so that clients polling together drift apart.
    timeout = state.settings.long_poll_seconds * random.uniform(0.8, 1.0)
    if behind_grip_proxy(request, state):
        latest = await _latest_or_404(state, game_id)
        if latest.version > after:
            return _snapshot(latest)
        headers = {
            "Grip-Hold": "response",
            "Grip-Channel": f"{sse.game_channel(game_id)}; prev-id={latest.version}",
            "Grip-Timeout": str(max(1, int(timeout))),
            **_NO_STORE,
        }
        return Response(status_code=204, headers=headers)
    with state.hub.subscribe(sse.game_channel(game_id)) as subscription:
        latest = await _latest_or_404(state, game_id)
        if latest.version > after:
            return _snapshot(latest)
        push = await _next_within(subscription, timeout)
        if push is None:
            return Response(status_code=204, headers=_NO_STORE)
        return _snapshot(Snapshot(push.event_id, push.body))


async def _next_within(subscription: Subscription, seconds: float) -> Push | None:
    try:
        return await asyncio.wait_for(subscription.next(), seconds)
    except (TimeoutError, SlowSubscriberError):
        return None


def _snapshot(snapshot: Snapshot) -> Response:
    headers = {"ETag": caching.etag(snapshot.version), **_NO_STORE}
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
    if last is not None and last >= latest.version:
        return []
    if last is None or latest.version - last > state.settings.resume_max_versions:
        return [(latest.version, sse.event(latest.version, change_of(latest.body), latest.body))]
    found = await state.store.versions(game_id, last + 1, latest.version)
    return [(number, sse.event(number, change_of(body), body)) for number, body in found]


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


def _direct_stream(state: OriginState, channel: str, last: int | None, missed: Missed) -> Response:
    async def events() -> AsyncIterator[bytes]:
        # Subscribed before reading what was missed, so nothing published in between is lost;
        # ids already sent are skipped.
        with state.hub.subscribe(channel) as subscription:
            sent = -1 if last is None else last
            yield sse.retry()
            for event_id, event in await missed():
                yield event
                sent = max(sent, event_id)
            while True:
                try:
                    push = await subscription.next()
                except SlowSubscriberError:
                    return  # too slow: cut off; it resumes from its Last-Event-ID
                if push.event_id > sent:
                    yield push.event
                    sent = push.event_id

    # Heartbeats jittered per stream, so that idle clients' timers do not line up.
    heartbeat = state.settings.heartbeat_seconds * random.uniform(0.7, 1.0)
    return EventSourceResponse(
        events(), ping=heartbeat, send_timeout=2 * heartbeat, headers=_NO_STORE
    )
