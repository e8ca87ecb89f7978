"""Provider formats → canonical events. One pure module per format, each with ``FORMAT``,
``matches(payload)`` and ``parse(payload, source)`` (``source``: the file's name, for formats
that leave the game id out of the payload)."""

from __future__ import annotations

from feeds.adapters import (
    espn_summary,
    nba_livedata,
    nba_stats,
    nhl_apiweb,
    statsbomb,
    statsperform_ma3,
)
from feeds.adapters.feed import Feed
from feeds.formats import Formats, decode

__all__ = ["FORMATS", "Feed", "decode", "detect", "load", "parse"]


_FEEDS: Formats[Feed] = Formats(
    "feed",
    [nba_livedata, nba_stats, nhl_apiweb, espn_summary, statsperform_ma3, statsbomb],
)
FORMATS = _FEEDS.by_name
detect = _FEEDS.detect
parse = _FEEDS.parse
load = _FEEDS.load
