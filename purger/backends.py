"""The interface every purge backend implements (Varnish here; Fastly and Cloudflare plug in)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol


class PurgeError(Exception):
    """A purge that did not happen. ``retry_after`` is the backend's hint in seconds, if any."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class PurgeBackend(Protocol):
    #: Most keys one call may carry.
    max_keys: int

    async def purge(self, keys: Sequence[str]) -> None:
        """Soft-purge every object tagged with any of ``keys``; raise PurgeError on failure."""
        ...

    async def aclose(self) -> None: ...
