"""A service process sets the cyclic collector once started (:mod:`runtime.collector`): what it
took to start is frozen, and a cycle it makes later still goes without anyone asking."""

from __future__ import annotations

import asyncio
import gc
import weakref
from collections.abc import Iterator

import pytest

from runtime import collector
from runtime.lifecycle import Service, serve


class _Node:
    other: _Node | None = None


@pytest.fixture
def restored_collector() -> Iterator[None]:
    """``serve`` sets the collector for the whole process: this one is pytest's."""
    threshold = gc.get_threshold()
    try:
        yield
    finally:
        gc.unfreeze()
        gc.set_threshold(*threshold)


class _Looking(Service):
    """Looks at the collector from inside ``run``, as any service's work would run."""

    def __init__(self) -> None:
        self.frozen = 0
        self.threshold: tuple[int, ...] = ()
        self.cycle_collected = False

    async def run(self, stop: asyncio.Event) -> None:
        self.frozen = gc.get_freeze_count()
        self.threshold = gc.get_threshold()
        first, second = _Node(), _Node()
        first.other, second.other = second, first
        gone = weakref.ref(first)
        del first, second
        # Kept alive, as a batch's objects are: the count that triggers a collection rises.
        kept = [[n] for n in range(3 * collector.YOUNG)]
        self.cycle_collected = gone() is None
        del kept


@pytest.mark.usefixtures("restored_collector")
def test_a_served_service_runs_with_its_start_frozen_and_its_cycles_still_collected() -> None:
    service = _Looking()
    serve(service)
    assert service.frozen > 1000  # modules, classes, the service itself
    assert service.threshold[0] == collector.YOUNG
    assert service.cycle_collected, "a cycle made while running was never collected"


@pytest.mark.usefixtures("restored_collector")
def test_without_serve_nothing_is_frozen() -> None:
    """Tests and benches that run a service in their own process keep its collector as is
    (a bench calls :func:`runtime.collector.settle` itself, where ``serve`` would)."""
    gc.unfreeze()

    async def main() -> int:
        async with _Looking():
            return gc.get_freeze_count()

    assert asyncio.run(main()) == 0
