from __future__ import annotations

import pytest

from core.versions import etag
from origin.caching import live_headers, not_modified
from origin.settings import CachePolicy


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ('"v7"', True),
        ('W/"v7"', True),
        ('"v6", "v7"', True),
        ("*", True),
        ('"v6"', False),
        ('"v70"', False),
        ("v7", False),
        ("", False),
        (None, False),
        ('"' + "x" * 5000 + '"', False),
        ("\x00garbage,,,", False),
    ],
)
def test_if_none_match(header: str | None, expected: bool) -> None:
    assert not_modified(header, etag(7)) is expected


def test_live_headers_split_browser_and_edge_lifetimes() -> None:
    headers = live_headers(CachePolicy(), ["game-1", "scoreboard"], 3)
    assert headers["ETag"] == '"v3"'
    assert headers["Cache-Control"] == (
        "public, max-age=1, stale-while-revalidate=5, stale-if-error=86400"
    )
    assert headers["Surrogate-Control"].startswith("max-age=3600")
    assert headers["CDN-Cache-Control"] == headers["Surrogate-Control"]
    assert headers["Surrogate-Key"] == "game-1 scoreboard"
