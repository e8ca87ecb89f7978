"""The shapes of what travels in URLs, Redis keys, surrogate keys and channel names. The models,
the origin's checks and the OpenAPI document all read them from here.

Python must check them with ``fullmatch``: its ``$`` also matches before a final newline, so
``re.match`` would let ``g1\n`` through (pydantic's and JavaScript's ``$`` end the input)."""

from __future__ import annotations

#: A game, team or player id: 1-64 letters, digits, '.', '_' or '-', not starting with a sign.
ID = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
#: A league key as :func:`core.keys.league_key` makes it (``nba``, ``2-bundesliga``).
LEAGUE = r"^[a-z0-9][a-z0-9-]{0,31}$"
#: A version in a path: versions start at 1.
VERSION = r"^[1-9][0-9]{0,11}$"
#: A version a client says it holds (``?after=``, ``Last-Event-ID``): 0 means none yet.
HELD_VERSION = r"^[0-9]{1,12}$"
#: A scoreboard day: a date in UTC (``2024-01-05``), or ``undated`` for games with no start.
DAY = r"^([0-9]{4}-[0-9]{2}-[0-9]{2}|undated)$"
#: A season as :func:`core.keys.season_key` makes it (``2023-24``, ``2018-2019``), or
#: ``unspecified`` for games no document names a season of.
SEASON = r"^[a-z0-9][a-z0-9-]{0,15}$"
