"""PNG plots of the spike lab: latency CDFs and origin load against fan count."""

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


def _save(figure: Figure, axes: Axes, path: Path) -> Path:
    """Log x axis, grid and legend, written as PNG."""
    import matplotlib.pyplot as plt

    axes.set_xscale("log")
    axes.grid(True, which="both", alpha=0.3)
    axes.legend()
    figure.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(figure)
    return path
