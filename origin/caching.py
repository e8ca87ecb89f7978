"""Caching headers: what browsers and the edge may keep, and conditional requests.

Browsers get a short ``Cache-Control`` with stale-while-revalidate and stale-if-error (RFC 5861).
The edge gets a long TTL through ``Surrogate-Control`` and ``CDN-Cache-Control`` (RFC 9213):
purges keep it fresh, the TTL only bounds staleness if a purge is lost. ``Surrogate-Key`` names
every key the body depends on (from :mod:`core.keys`).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from core.keys import BOARDS_KEY, board_surrogate_key
from core.store import Board
from core.versions import etag
from origin.settings import CachePolicy, OriginSettings

IMMUTABLE = "public, max-age=31536000, immutable"


def live_headers(
    policy: CachePolicy, keys: list[str], version: int, edge_ttl: int | None = None
) -> dict[str, str]:
    """Headers of a resource that changes with every version (latest snapshot, scoreboard);
    ``edge_ttl`` for one that no purge keeps fresh."""
    ttl = policy.edge_ttl if edge_ttl is None else edge_ttl
    edge = (
        f"max-age={ttl}, stale-while-revalidate={policy.edge_stale_while_revalidate}"
        f", stale-if-error={policy.stale_if_error}"
    )
    return {
        "Cache-Control": (
            f"public, max-age={policy.browser_max_age}"
            f", stale-while-revalidate={policy.browser_stale_while_revalidate}"
            f", stale-if-error={policy.stale_if_error}"
        ),
        "Surrogate-Control": edge,
        "CDN-Cache-Control": edge,
        **tag_headers(keys),
        "ETag": etag(version),
    }


def season_etag(season: str, version: int) -> str:
    """A season's table's ETag: a new season starts again from version 1, so the season is
    part of what a validator names (a league's current table moves from one to the next)."""
    return f'"{season}-v{version}"'


def tag_headers(keys: list[str]) -> dict[str, str]:
    """The keys for Fastly and Varnish (``Surrogate-Key``) and for Cloudflare (``Cache-Tag``)."""
    return {"Surrogate-Key": " ".join(keys), "Cache-Tag": ",".join(keys)}


def immutable_headers(keys: list[str], version: int) -> dict[str, str]:
    return {
        "Cache-Control": IMMUTABLE,
        "Surrogate-Control": "max-age=31536000",
        "CDN-Cache-Control": "max-age=31536000",
        **tag_headers(keys),
        "ETag": etag(version),
    }


def missing_headers(policy: CachePolicy, keys: list[str]) -> dict[str, str]:
    """A 404 for something that may appear soon: cached briefly, purged when it appears."""
    edge = f"max-age={policy.edge_missing_ttl}"
    return {
        "Cache-Control": "no-cache",
        "Surrogate-Control": edge,
        "CDN-Cache-Control": edge,
        **tag_headers(keys),
    }


def not_modified(if_none_match: str | None, current: str) -> bool:
    """RFC 9110 §13.1.2: does ``If-None-Match`` match ``current`` (weak comparison)?

    A malformed header never matches, so the client simply gets the full answer.
    """
    if not if_none_match or len(if_none_match) > 4096:
        return False
    value = if_none_match.strip()
    if value == "*":
        return True
    wanted = current.removeprefix("W/")
    for candidate in value.split(","):
        tag = candidate.strip().removeprefix("W/")
        if tag == wanted:
            return True
    return False


#: Board parts whose keys one response names at most (each key up to ~60 bytes).
MOST_PART_KEYS = 100


def board_headers(
    settings: OriginSettings, board: Board, composed: bool, until: int | None = None
) -> dict[str, str]:
    """Headers of a view of board parts (the API's or a page's); ``until``: seconds the view
    is right for at most (a "today" until the day changes)."""
    # Tagged with every part it shows: a change purges its own part and every view of it. A
    # view composed of parts also goes when a part first appears. One of more parts than a
    # response header may name (Varnish's 8 KB) lives briefly at the edge instead.
    if len(board.parts) > MOST_PART_KEYS:
        ttl = min(settings.edge_composed_ttl, until or settings.edge_composed_ttl)
        return live_headers(settings, [BOARDS_KEY], board.version, ttl)
    keys = [board_surrogate_key(part) for part in board.parts]
    if composed:
        keys.append(BOARDS_KEY)
    edge_ttl = min(settings.edge_ttl, until) if until is not None else None
    return live_headers(settings, keys, board.version, edge_ttl)


def answer(
    request: Request, body: bytes, headers: dict[str, str], media_type: str = "application/json"
) -> Response:
    """The body, or a 304 where the request holds its ETag. A 304 carries the same caching
    headers as the 200 would (RFC 9110 §15.4.5)."""
    if not_modified(request.headers.get("if-none-match"), headers["ETag"]):
        return Response(status_code=304, headers=headers)
    return Response(body, media_type=media_type, headers=headers)
