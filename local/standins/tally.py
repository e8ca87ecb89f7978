"""What a stand-in took and was asked, per device: for the tests and the notify benchmark."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Tally:
    #: Messages taken, per device address.
    taken: Counter[str] = field(default_factory=Counter)
    #: Requests for each device address, taken or not.
    attempts: Counter[str] = field(default_factory=Counter)
    first: float | None = None
    last: float | None = None

    def attempt(self, device: str) -> None:
        self.attempts[device] += 1

    def take(self, device: str) -> None:
        now = time.time()
        self.taken[device] += 1
        self.first = now if self.first is None else self.first
        self.last = now

    def summary(self) -> dict[str, Any]:
        """The figures, with the devices told more than once and those asked more than once
        (a retry) by name."""
        return {
            "devices": len(self.taken),
            "messages": sum(self.taken.values()),
            "twice": sorted(device for device, count in self.taken.items() if count > 1),
            "retried": sorted(device for device, count in self.attempts.items() if count > 1),
            "first": self.first,
            "last": self.last,
        }
