"""A real game through the whole stack: broker → publisher → Redis → origin → Varnish → fans.

Every part is a real process started by :class:`LocalStack`, as ``scorecast up`` starts them.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.e2e import run_e2e
from local.stack import LocalStack

#: Starts real services or processes of its own (see ``SERVICE_FIXTURES`` in conftest).
pytestmark = pytest.mark.stack


async def test_a_replayed_game_reaches_polling_fans_through_the_edge(
    stack: LocalStack, nba_file: Path
) -> None:
    # About 20 s of play: the game's real gaps, 500× faster, none above 0.1 s.
    result = await run_e2e(stack, nba_file, fans=20, speed=500, max_gap=0.1)
    print(f"\n{result}")
    assert result.final == "BKN 125 - 99 GSW FINAL"
    assert result.regressions == 0
    assert result.errors == 0
    assert result.versions > 50
    assert stack.dead() == []
    # Conditional polling through the edge: most answers are 304s carrying the ETag.
    assert result.not_modified_share > 0.05
    # Origin load follows the versions, not the fans: each version costs the origin about one
    # request (the background refresh after its purge), whatever the number of fans.
    assert result.origin_requests <= result.versions * 1.5 + 5
    assert result.edge_requests >= 5 * result.origin_requests
    # A generous bound: shared CI machines are noisy; `scorecast bench e2e` reports the figures.
    assert result.fresh_p99_ms < 5000
