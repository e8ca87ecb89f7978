"""The freshness probe: polls the edge like a fan and exports how long after its newest event
each version reached the edge (the figure a freshness SLO is written in)."""
