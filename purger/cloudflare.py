"""Purge Cloudflare through its official SDK: purge by cache tag, at most 100 tags a call.

Follows Cloudflare's API reference for ``POST /zones/{zone_id}/purge_cache`` (bearer token,
body ``{"tags": [...]}``, 429 with ``Retry-After`` when over the plan's rate). The SDK's own
retries are off: the purger retries, paces and counts every call itself.
"""

from __future__ import annotations

from collections.abc import Sequence

import cloudflare
from cloudflare import AsyncCloudflare

from core.settings import PurgerSettings
from purger.backends import PurgeError, reason_for


class CloudflareBackend:
    name = "cloudflare"
    max_keys = 100

    def __init__(self, settings: PurgerSettings) -> None:
        self._zone_id = settings.cloudflare_zone_id
        self._client = AsyncCloudflare(
            api_token=settings.cloudflare_token.get_secret_value(),
            base_url=settings.cloudflare_api_url,
            max_retries=0,
            timeout=settings.http_timeout,
        )

    async def purge(self, keys: Sequence[str]) -> None:
        try:
            await self._client.cache.purge(zone_id=self._zone_id, tags=list(keys))
        except cloudflare.APIStatusError as exc:
            status = exc.status_code
            wait = exc.response.headers.get("retry-after")
            hint = float(wait) if wait and wait.isdigit() else None
            raise PurgeError(
                f"cloudflare purge answered {status}", reason_for(status), hint
            ) from None
        except cloudflare.APIConnectionError as exc:
            raise PurgeError(
                f"cloudflare purge unreachable: {type(exc).__name__}", "unreachable"
            ) from None

    async def aclose(self) -> None:
        await self._client.close()
