"""The interface every purge backend implements: Varnish, Fastly, Cloudflare."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from core.errors import ScorecastError


class PurgeError(ScorecastError):
    """A purge that did not happen.

    ``reason`` labels the failure in metrics (``rate_limited``, ``unauthorized``, ``rejected``,
    ``server_error``, ``unreachable``); ``retry_after`` is the backend's own hint in seconds.
    Messages never carry a token.
    """

    def __init__(self, message: str, reason: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.reason = reason
        self.retry_after = retry_after


def reason_for(status: int) -> str:
    if status == 429:
        return "rate_limited"
    if status in (401, 403):
        return "unauthorized"
    if status >= 500:
        return "server_error"
    return "rejected"


class PurgeBackend(Protocol):
    name: str
    #: Most keys one call may carry.
    max_keys: int

    async def purge(self, keys: Sequence[str]) -> None:
        """Soft-purge every object tagged with any of ``keys``; raise PurgeError on failure."""
        ...

    async def aclose(self) -> None: ...
