"""What the tests and the benchmarks both drive the stack with: fans that poll and stream as real
clients do (:mod:`harness.fans`, :mod:`harness.sse`), and many games' feeds on one timeline
(:mod:`harness.timeline`). Nothing here is Scorecast itself; everything here talks to it only as
fans and providers do."""
