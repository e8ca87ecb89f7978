"""Purge Cloudflare through its official SDK: purge by cache tag, at most 100 tags a call.

Follows Cloudflare's API reference for ``POST /zones/{zone_id}/purge_cache`` (bearer token,
body ``{"tags": [...]}``, 429 with ``Retry-After`` when over the plan's rate). The SDK's own
retries are off: the purger retries, paces and counts every call itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import cloudflare
from cloudflare import AsyncCloudflare
from pydantic import Field, SecretStr, field_validator

from core.settings import ScorecastSettings, check_token
from purger.backends import PurgeError, reason_for

#: Cloudflare's purge limits per account (calls a second, bucket size), by plan, as its cache
#: documentation ("Purge cache", rate limits) states them; at most 100 tags a call.
PURGE_LIMITS = {
    "free": (5 / 60, 25),
    "pro": (5.0, 25),
    "business": (10.0, 50),
    "enterprise": (50.0, 500),
}


class CloudflareSettings(ScorecastSettings):
    """Cloudflare's API (``SCORECAST_CLOUDFLARE_*``)."""

    cloudflare_api_url: str = Field(
        default="https://api.cloudflare.com/client/v4",
        validation_alias="SCORECAST_CLOUDFLARE_API_URL",
    )
    cloudflare_token: SecretStr = Field(
        default=SecretStr(""), validation_alias="SCORECAST_CLOUDFLARE_TOKEN"
    )
    cloudflare_zone_id: str = Field(
        default="", pattern=r"^([0-9a-f]{32})?$", validation_alias="SCORECAST_CLOUDFLARE_ZONE_ID"
    )
    #: The Cloudflare plan of the account (required with that backend): its purge limits apply.
    cloudflare_plan: Literal["", "free", "pro", "business", "enterprise"] = Field(
        default="", validation_alias="SCORECAST_CLOUDFLARE_PLAN"
    )

    _cloudflare_token = field_validator("cloudflare_token")(check_token)


class CloudflareBackend:
    name = "cloudflare"
    max_keys = 100

    def __init__(self, settings: CloudflareSettings, timeout: float) -> None:
        self._zone_id = settings.cloudflare_zone_id
        self._client = AsyncCloudflare(
            api_token=settings.cloudflare_token.get_secret_value(),
            base_url=settings.cloudflare_api_url,
            max_retries=0,
            timeout=timeout,
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
