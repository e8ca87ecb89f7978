"""The README's run command: ``scorecast up`` starts everything, replays, stops cleanly."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from local.process import descendants

#: Starts real services or processes of its own (see ``SERVICE_FIXTURES`` in conftest).
pytestmark = pytest.mark.stack


def _alive(pid: int) -> bool:
    try:
        state = (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _running(command: str, pids: list[int]) -> list[int]:
    """Those of ``pids`` alive and running ``python -m COMMAND``."""
    found = []
    for pid in pids:
        try:
            argv = (Path("/proc") / str(pid) / "cmdline").read_bytes().rstrip(b"\0").split(b"\0")
        except OSError:
            continue
        if b" ".join(argv).decode(errors="replace").endswith(f"-m {command}") and _alive(pid):
            found.append(pid)
    return found


def test_up_replays_the_sample_game_restarts_a_crash_and_stops_on_ctrl_c(
    tmp_path: Path, data_dir: Path
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCORECAST_")}
    env |= {"SCORECAST_RUN_DIR": str(tmp_path), "SCORECAST_DATA_DIR": str(data_dir)}
    up = subprocess.Popen(
        [sys.executable, "-m", "scorecast", "up", "--speed", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    lines: list[str] = []
    final = None
    try:
        assert up.stdout is not None
        deadline = time.monotonic() + 120
        for line in up.stdout:
            lines.append(line)
            if line.startswith("final: "):
                final = json.loads(line.removeprefix("final: "))
                break
            assert time.monotonic() < deadline, "".join(lines)
        assert final is not None, "".join(lines)
        children = [pid for pid in descendants(up.pid) if _alive(pid)]
        # redis, broker, origin, the stream tier, varnish, publisher, purger, prometheus, probe,
        # the device API, the notifier and the platforms' stand-ins
        assert len(children) >= 12
        assert _running("scorecast devices", children)
        assert _running("scorecast notifier", children)
        assert any(
            b"-m\0local.standins\0" in (Path("/proc") / str(pid) / "cmdline").read_bytes()
            for pid in children
            if _alive(pid)
        )
        assert any(
            (Path("/proc") / str(pid) / "exe").resolve().name == "prometheus" for pid in children
        )
        assert _running("scorecast probe", children)
        # A crashed service is restarted, as a supervisor would in a deployment.
        [purger] = _running("scorecast purger", children)
        os.kill(purger, signal.SIGKILL)
        for line in up.stdout:
            lines.append(line)
            if "purger exited; restarting it" in line:
                break
            assert time.monotonic() < deadline, "".join(lines)
        for _ in range(100):
            restarted = _running("scorecast purger", descendants(up.pid))
            if restarted and restarted != [purger]:
                break
            time.sleep(0.1)
        assert restarted
        assert purger not in restarted
        children += restarted
        up.send_signal(signal.SIGINT)
        rest, _ = up.communicate(timeout=60)
    finally:
        if up.poll() is None:  # a failed check: still stop everything it started
            up.send_signal(signal.SIGINT)
            try:
                up.communicate(timeout=60)
            except subprocess.TimeoutExpired:
                up.kill()
                up.communicate()
    output = "".join(lines) + rest
    assert up.returncode == 0, output
    assert "edge:       http://127.0.0.1:" in output
    assert "prometheus: http://127.0.0.1:" in output
    assert "notify:     POST http://127.0.0.1:" in output
    assert (final["home"]["score"], final["away"]["score"], final["status"]) == (125, 99, "FINAL")
    assert not [pid for pid in children if _alive(pid)]
