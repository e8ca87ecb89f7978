"""What every sender answers, and the one way each waits before trying again."""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass
from enum import StrEnum

#: The longest ``Retry-After`` a sender honours before trying again.
MAX_RETRY_AFTER = 60


class Outcome(StrEnum):
    #: The platform took it.
    SENT = "sent"
    #: The device's address is gone there: drop it at once.
    GONE = "gone"
    #: Refused for good (or given up): never sent again.
    FAILED = "failed"


@dataclass(frozen=True)
class Sent:
    outcome: Outcome
    status: int
    attempts: int
    reason: str = ""


async def wait_to_retry(
    attempt: int, retry_after: str | None, backoff_seconds: float, rng: random.Random
) -> None:
    """After ``Retry-After`` seconds when the service said so (at most a minute), else a
    jittered exponential backoff (full jitter: no two senders retry in step)."""
    if retry_after is not None and retry_after.strip().isdigit():
        await asyncio.sleep(min(int(retry_after), MAX_RETRY_AFTER))
        return
    await asyncio.sleep(rng.uniform(0, backoff_seconds * 2 ** (attempt - 1)))
