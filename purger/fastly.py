"""Purge Fastly through its official SDK: one bulk call for up to 256 surrogate keys, soft.

Follows Fastly's API reference for ``POST /service/{service_id}/purge`` (``Fastly-Key``,
``Fastly-Soft-Purge: 1``, a JSON body ``{"surrogate_keys": [...]}``) and its rate-limit headers
(``Fastly-RateLimit-Reset``, epoch seconds). The SDK is synchronous: calls run in a worker
thread, one at a time per backend.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from fastly.api.purge_api import PurgeApi
from fastly.model.purge_response import PurgeResponse

from purger.backends import PurgeError, reason_for
from runtime.fastly import ERRORS, FastlySettings, describe, fastly_client


class FastlyBackend:
    name = "fastly"
    max_keys = 256

    def __init__(self, settings: FastlySettings, timeout: float) -> None:
        self._service_id = settings.fastly_service_id
        self._client = fastly_client(settings)
        self._api = PurgeApi(self._client)
        self._timeout = timeout

    async def purge(self, keys: Sequence[str]) -> None:
        await asyncio.to_thread(self._purge, list(keys))

    def _purge(self, keys: list[str]) -> None:
        try:
            self._api.bulk_purge_tag(
                service_id=self._service_id,
                fastly_soft_purge=1,
                purge_response=PurgeResponse(surrogate_keys=keys),
                _request_timeout=self._timeout,
            )
        except ERRORS as exc:
            failure = describe(exc, "fastly purge")
            reason = reason_for(failure.status) if failure.status else "unreachable"
            raise PurgeError(failure.message, reason, failure.retry_after) from None

    async def aclose(self) -> None:
        await asyncio.to_thread(self._client.close)
