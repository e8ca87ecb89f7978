"""PNG plots of the benchmarks: the spike lab's latency CDFs and origin load against fan count;
the match day's freshness by game count and memory over the run."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure


class SpikeRun(Protocol):
    """What the plots read of one spike run."""

    @property
    def fans(self) -> int: ...
    @property
    def sse_fans(self) -> int: ...
    @property
    def fresh_ms(self) -> list[float]: ...
    @property
    def sse_ms(self) -> list[float]: ...
    @property
    def origin_requests_per_change(self) -> float: ...
    @property
    def origin_requests_per_score_change(self) -> float: ...


def plot_spike(results: Sequence[SpikeRun], directory: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")  # files only, no screen
    import matplotlib.pyplot as plt

    directory.mkdir(parents=True, exist_ok=True)
    written = []

    figure, axes = plt.subplots(figsize=(8, 4.5))
    for result in results:
        curves = (
            (result.fresh_ms, f"ingest → edge-fresh, {result.fans} polling fans"),
            (result.sse_ms, f"push → SSE fan, {result.sse_fans} SSE + {result.fans} polling"),
        )
        for values, label in curves:
            if values:
                ordered = sorted(values)
                shares = [(i + 1) / len(ordered) for i in range(len(ordered))]
                axes.plot(ordered, shares, label=label)
    axes.set_xlabel("milliseconds (log scale)")
    axes.set_ylabel("share of versions / deliveries")
    axes.set_title("Freshness under a synchronized spike")
    written.append(_save(figure, axes, directory / "latency-cdf.png"))

    figure, axes = plt.subplots(figsize=(8, 4.5))
    fans = [r.fans for r in results]
    axes.plot(fans, [r.origin_requests_per_change for r in results], "o-", label="per change")
    axes.plot(
        fans, [r.origin_requests_per_score_change for r in results], "s-", label="per score change"
    )
    axes.set_xlabel("polling fans (log scale)")
    axes.set_ylabel("origin snapshot requests")
    axes.set_ylim(bottom=0)
    axes.set_title("Origin requests per change as fans grow")
    written.append(_save(figure, axes, directory / "origin-vs-fans.png"))
    return written


class MatchdayRun(Protocol):
    """What the plots read of one match day run."""

    @property
    def games(self) -> int: ...
    @property
    def fresh_ms(self) -> list[float]: ...
    @property
    def memory_timeline(self) -> list[tuple[float, float, float]]: ...


def plot_matchday(results: Sequence[MatchdayRun], directory: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    directory.mkdir(parents=True, exist_ok=True)
    written = []
    figure, axes = plt.subplots(figsize=(8, 4.5))
    for result in results:
        if result.fresh_ms:
            ordered = sorted(result.fresh_ms)
            shares = [(i + 1) / len(ordered) for i in range(len(ordered))]
            axes.plot(ordered, shares, label=f"{result.games} games")
    axes.set_xlabel("ingest → edge-fresh, milliseconds (log scale)")
    axes.set_ylabel("share of versions")
    axes.set_title("Freshness on a match day")
    written.append(_save(figure, axes, directory / "fresh-cdf.png"))

    figure, axes = plt.subplots(figsize=(8, 4.5))
    for result in results:
        seconds = [at for at, _, _ in result.memory_timeline]
        axes.plot(
            seconds,
            [rss for _, rss, _ in result.memory_timeline],
            label=f"publishers, {result.games} games",
        )
        axes.plot(
            seconds,
            [used for _, _, used in result.memory_timeline],
            "--",
            label=f"Redis, {result.games} games",
        )
    axes.set_xlabel("seconds into the replay")
    axes.set_ylabel("MB")
    axes.set_ylim(bottom=0)
    axes.set_title("Memory over a match day")
    written.append(_save(figure, axes, directory / "memory.png", log=False))
    return written


def _save(figure: Figure, axes: Axes, path: Path, log: bool = True) -> Path:
    """Log x axis (unless ``log`` is false), grid and legend, written as PNG."""
    import matplotlib.pyplot as plt

    if log:
        axes.set_xscale("log")
    axes.grid(True, which="both", alpha=0.3)
    axes.legend()
    figure.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(figure)
    return path
