"""The HTTP server's own behaviour that needs no server: a flood's repeated line is held back."""

from __future__ import annotations

import logging

from runtime.http_server import Repeats


def _record(text: str) -> logging.LogRecord:
    return logging.LogRecord("uvicorn.error", logging.WARNING, __file__, 1, text, (), None)


def test_a_repeated_line_is_let_through_once_per_interval_with_the_count_held_back() -> None:
    now = [100.0]
    repeats = Repeats(frozenset({"Exceeded concurrency limit."}), every=10, clock=lambda: now[0])
    flood = [_record("Exceeded concurrency limit.") for _ in range(1000)]
    passed = [record for record in flood if repeats.filter(record)]
    assert len(passed) == 1
    assert repeats.filter(_record("something else"))  # other lines are never held back
    now[0] += 10
    later = _record("Exceeded concurrency limit.")
    assert repeats.filter(later)
    assert later.getMessage() == "Exceeded concurrency limit. (999 more held back)"
    again = _record("Exceeded concurrency limit.")
    assert not repeats.filter(again)  # the next interval has begun
