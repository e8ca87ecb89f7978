"""The child processes the local stack runs: launched together and ready together, stopped
together with one SIGTERM each."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

from core.errors import ServiceError
from local.process import ManagedProcess

pytestmark = pytest.mark.stack

#: A child that says when it is up, and on SIGTERM writes when it heard it, takes half a
#: second to finish (as a service draining its work would), and writes when it exits.
_CHILD = """
import signal, sys, time
heard = []
def on_term(signum, frame):
    heard.append(time.time())
    print(f"term {len(heard)} {time.time()}", flush=True)
signal.signal(signal.SIGTERM, on_term)
print("up", flush=True)
while not heard:
    time.sleep(0.01)
time.sleep(0.5)
print(f"heard {len(heard)}", flush=True)
print(f"exit {time.time()}", flush=True)
"""


def _child(tmp_path: Path, name: str, code: str = _CHILD) -> ManagedProcess:
    log = tmp_path / f"{name}.log"
    return ManagedProcess(
        name, [sys.executable, "-c", code], log, lambda: "up" in _read(log), timeout=10
    )


def _read(log: Path) -> str:
    return log.read_text() if log.exists() else ""


def _until_logged(log: Path, words: str, seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while words not in _read(log):
        assert time.monotonic() < deadline, "not within the time"
        time.sleep(0.01)


def _stamp(log: Path, word: str) -> float:
    lines = _read(log).splitlines()
    return next(float(line.split()[-1]) for line in lines if line.startswith(word))


def test_processes_terminated_first_stop_together_each_hearing_one_sigterm(
    tmp_path: Path,
) -> None:
    children = [_child(tmp_path, f"child-{n}") for n in range(3)]
    for child in children:
        child.launch()
    for child in children:
        child.wait_until_ready()
    for child in children:
        child.terminate()
    for child in children:
        # Once it heard the first (signals pending together are handled as one), a second
        # call sends nothing.
        _until_logged(child.log, "term 1")
        child.terminate()
    assert [child.stop() for child in children] == [0, 0, 0]
    logs = [child.log for child in children]
    assert all("heard 1" in _read(log) for log in logs)
    # Every child heard its SIGTERM before the first of them had finished.
    assert max(_stamp(log, "term") for log in logs) < min(_stamp(log, "exit") for log in logs)


def test_a_launched_process_that_exits_fails_its_wait_with_its_last_words(
    tmp_path: Path,
) -> None:
    child = _child(tmp_path, "broken", "print('bad setting: port'); raise SystemExit(3)")
    child.launch()
    with pytest.raises(ServiceError, match=r"(?s)broken exited with 3;.*bad setting: port"):
        child.wait_until_ready()
    assert not child.alive()


def test_waiting_for_a_process_never_launched_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ServiceError, match="was not launched"):
        _child(tmp_path, "idle").wait_until_ready()
