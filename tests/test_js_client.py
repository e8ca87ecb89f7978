"""The JavaScript client (clients/js): its own tests under Node's test runner, then a follow of
a real replayed game through the local edge with its streams cut mid-game."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from feeds.adapters import Feed, load
from feeds.replay import ReplaySettings, replay
from harness.fans import schedule
from local.stack import LocalStack

#: Starts real services or processes of its own (see ``SERVICE_FIXTURES`` in conftest).
pytestmark = pytest.mark.stack

CLIENT = Path(__file__).parent.parent / "clients" / "js"
NODE = shutil.which("node") or "node"


def test_the_js_clients_own_tests_pass() -> None:
    result = subprocess.run(
        [NODE, "--test", "test/"], cwd=CLIENT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "# fail 0" in result.stdout
    assert "# pass 7" in result.stdout


async def following(edge_url: str, game_id: str) -> asyncio.subprocess.Process:
    """The JS client following a game at ``edge_url`` (clients/js/test/live.test.js) until its
    final; :func:`report` reads what it saw."""
    env = {**os.environ, "SCORECAST_EDGE_URL": edge_url, "SCORECAST_GAME_ID": game_id}
    return await asyncio.create_subprocess_exec(
        NODE, "--test", "--test-reporter=tap", "test/live.test.js",
        cwd=CLIENT, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip


async def report(node: asyncio.subprocess.Process) -> dict[str, Any]:
    """What the client saw (versions, ways used, final score), once it passed."""
    out, err = await asyncio.wait_for(node.communicate(), 120)
    text = out.decode()
    assert node.returncode == 0, text[-3000:] + err.decode()[-2000:]
    found: dict[str, Any] = json.loads(
        next(line[2:] for line in text.splitlines() if line.startswith("# {"))
    )
    return found


async def test_the_js_client_follows_a_game_through_a_stream_cut(
    stack: LocalStack, data_dir: Path
) -> None:
    feed = load(data_dir / "hockey/nhl-apiweb-pbp_2023020001.json")
    await schedule(stack.edge_url, stack.bootstrap, feed)
    node = await following(stack.edge_url, feed.game_id)
    settings = ReplaySettings(kafka_bootstrap=stack.bootstrap)
    half = Feed(feed.format, feed.game_id, feed.events[:150])
    await asyncio.to_thread(replay, half, settings, 0, 0)
    await asyncio.sleep(1.0)
    stack.crash("holder")  # streams and long-polls cut: the client must poll through the cache
    try:
        await asyncio.to_thread(replay, feed, settings, 200, 0.02)
        saw = await report(node)
    finally:
        stack.revive("holder")
    assert saw["final"] == [5, 3]
    assert {"stream", "poll"} <= set(saw["modes"])
