"""The benchmarks' printed tables: one row a figure, one column a run."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

R = TypeVar("R")


def print_table(
    rows: Sequence[tuple[str, Callable[[R], str]]], runs: Sequence[R], width: int
) -> None:
    label = max(len(name) for name, _ in rows)
    for name, cell in rows:
        print(f"{name:<{label}}  " + "  ".join(f"{cell(run):>{width}}" for run in runs))


def ms(*values: float) -> str:
    return " / ".join(f"{v:.0f}" for v in values) + " ms"


def kinds(counts: dict[str, int]) -> str:
    return ", ".join(f"{kind} {n}" for kind, n in counts.items()) or "-"


def busiest(seconds: dict[str, float], count: int, letters: int, skip: int = 0) -> str:
    """The services that used the most CPU seconds, from the ``skip``-th on, ``count`` of them,
    names cut to ``letters``."""
    ordered = sorted(seconds.items(), key=lambda item: -item[1])[skip : skip + count]
    return " ".join(f"{name[:letters]} {value:.0f}" for name, value in ordered)
