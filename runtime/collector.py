"""The cyclic garbage collector, set for a long-running service process.

Nearly everything a service frees goes by reference counting; the cyclic collector only looks
for cycles. With CPython's defaults it runs after every 700 new container objects (less those
freed), and what is alive at that moment (a poll batch's states, a request's parsed bodies) is
promoted and scanned again in the older generations' collections, with everything the process
took at start. A publisher folding a match day makes a few hundred thousand such objects a
second.

So, once a service has started, what it took (modules, classes, schemas, clients) is frozen:
never scanned again. And the youngest generation is collected after :data:`YOUNG` new objects:
most of a batch's objects are gone by then, so fewer are promoted. A cycle made later still
goes, a moment later. ``scripts/bench publish --games 300``, alternating four times: 473 µs of
CPU a version against 539 with the defaults.
"""

from __future__ import annotations

import gc

#: New container objects (less those freed) before the youngest generation is collected.
YOUNG = 10_000
#: CPython's own: youngest-generation collections before the middle one's, and its before the
#: oldest's.
_MIDDLE = 10
_OLD = 10


def settle() -> None:
    """Freeze what the process holds now and collect its youngest objects less often. Called
    once, after a service has started (:func:`runtime.lifecycle.serve`): what a service process
    holds at that point, it holds until it exits."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG, _MIDDLE, _OLD)
