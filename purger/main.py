"""``scorecast purger``: purge the edge for every announced change until SIGTERM."""

from __future__ import annotations

import logging

from purger.service import Purger
from purger.settings import PurgerSettings
from runtime.lifecycle import serve

logger = logging.getLogger("scorecast.purger")


def main(settings: PurgerSettings) -> None:
    purger = Purger(settings)
    serve(purger)
    logger.info(
        "purger stopped: %d changes purged (%d taken over) in %d calls, %d abandoned, failures %s",
        purger.purged,
        purger.claimed,
        purger.calls,
        purger.abandoned,
        purger.metrics.failure_counts(),
    )
