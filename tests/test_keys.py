"""Where a game's announcements go: the same stream in every process, games spread evenly."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter

import pytest

from core.keys import RedisKeys


def test_one_shard_keeps_the_single_streams_name() -> None:
    keys = RedisKeys("sc")
    assert keys.change_streams == ["sc:changes"]
    assert keys.change_stream("anything") == "sc:changes"


def test_games_spread_over_the_shards_and_each_stays_on_one() -> None:
    keys = RedisKeys("sc", change_shards=8)
    assert len(set(keys.change_streams)) == 8
    games = [f"0022{n:06d}" for n in range(4000)]
    counts = Counter(keys.change_stream(game) for game in games)
    assert set(counts) == set(keys.change_streams)
    assert max(counts.values()) < 1.2 * 4000 / 8  # no shard takes much more than its share
    assert all(keys.change_stream(game) == keys.change_stream(game) for game in games)


def test_every_process_puts_a_game_on_the_same_stream() -> None:
    """Python's own ``hash`` of a string differs between processes: it must not be used."""
    code = "from core.keys import RedisKeys; print(RedisKeys('sc', 16).change_stream('g42'))"
    runs = {
        subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            check=True,
            env={"PYTHONHASHSEED": str(seed)},
        ).stdout
        for seed in (1, 2, 3)
    }
    assert runs == {RedisKeys("sc", 16).change_stream("g42") + "\n"}


def test_no_shards_is_refused() -> None:
    with pytest.raises(ValueError, match="change_shards"):
        RedisKeys("sc", change_shards=0)
