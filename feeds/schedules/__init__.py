"""Provider schedules and scoreboards → the GAME_SCHEDULED records a schedule states. One pure
module per format, each with ``FORMAT``, ``matches(payload)`` and ``parse(payload, source)``,
like the play-by-play adapters beside them; their games enter through the same intake."""

from __future__ import annotations

from feeds.formats import Formats
from feeds.schedules import (
    espn_scoreboard,
    nba_schedule,
    nba_scoreboard,
    nba_stats_scoreboard,
    nhl_schedule,
    statsbomb_matches,
    statsperform_ma1,
)
from feeds.schedules.schedule import Schedule

__all__ = ["FORMATS", "Schedule", "detect", "load", "parse"]


_SCHEDULES: Formats[Schedule] = Formats(
    "schedule",
    [
        nba_schedule,
        nba_scoreboard,
        nba_stats_scoreboard,
        nhl_schedule,
        espn_scoreboard,
        statsbomb_matches,
        statsperform_ma1,
    ],
)
FORMATS = _SCHEDULES.by_name
detect = _SCHEDULES.detect
parse = _SCHEDULES.parse
load = _SCHEDULES.load
