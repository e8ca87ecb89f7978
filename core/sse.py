"""Server-sent events: one format for the origin's own streams and for what GRIP proxies relay.

Each event's ``id`` is a version (a game's, or the scoreboard's), its ``event`` what changed
(``score``, ``state``, ``final``) and its ``data`` one line of JSON. A client that reconnects
sends the last id back (``Last-Event-ID``) and gets only what it missed.
"""

from __future__ import annotations

#: Reconnect delay suggested to browsers. Clients add their own jitter (see the README).
RETRY_MS = 3000


def event(event_id: int, kind: str, data: bytes) -> bytes:
    return b"id: %d\nevent: %s\ndata: %s\n\n" % (event_id, kind.encode(), data)


def row_event(kind: str, data: bytes) -> bytes:
    """An event with no ``id``: a client's last id stays the one of the whole it holds (the
    scoreboard), so a reconnect asks for what changed since that."""
    return b"event: %s\ndata: %s\n\n" % (kind.encode(), data)


def retry(milliseconds: int = RETRY_MS) -> bytes:
    return b"retry: %d\n\n" % milliseconds
