"""Purge Fastly through its official SDK: one bulk call for up to 256 surrogate keys, soft.

Follows Fastly's API reference for ``POST /service/{service_id}/purge`` (``Fastly-Key``,
``Fastly-Soft-Purge: 1``, a JSON body ``{"surrogate_keys": [...]}``) and its rate-limit headers
(``Fastly-RateLimit-Reset``, epoch seconds). The SDK is synchronous: calls run in a worker
thread, one at a time per backend.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence

import fastly
from fastly.api.purge_api import PurgeApi
from fastly.model.purge_response import PurgeResponse
from urllib3.exceptions import HTTPError as TransportError

from purger.backends import PurgeError, reason_for
from scorecast.settings import FastlySettings


def fastly_client(settings: FastlySettings) -> fastly.ApiClient:
    configuration = fastly.Configuration(host=settings.fastly_api_url)
    configuration.api_token = settings.fastly_token.get_secret_value()
    return fastly.ApiClient(configuration)


def retry_after(headers: object) -> float | None:
    """Seconds to wait, from ``Retry-After`` or Fastly's ``Fastly-RateLimit-Reset``."""
    get = getattr(headers, "get", None)
    if get is None:
        return None
    for name in ("Retry-After", "retry-after"):
        value = get(name)
        if value and str(value).isdigit():
            return float(value)
    reset = get("Fastly-RateLimit-Reset") or get("fastly-ratelimit-reset")
    if reset and str(reset).isdigit():
        return max(0.0, float(reset) - time.time())
    return None


def translate(exc: Exception, what: str) -> PurgeError:
    """An SDK or transport error as our own, without the request (which holds the token)."""
    if isinstance(exc, fastly.ApiException):
        status = int(exc.status or 0)
        return PurgeError(f"{what} answered {status}", reason_for(status), retry_after(exc.headers))
    return PurgeError(f"{what} unreachable: {type(exc).__name__}", "unreachable")


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
        except (fastly.ApiException, fastly.ApiValueError, TransportError) as exc:
            raise translate(exc, "fastly purge") from None

    async def aclose(self) -> None:
        await asyncio.to_thread(self._client.close)
