"""Purge the self-hosted edge: Varnish with xkey, by an authenticated ``PURGE`` request.

The edge VCL (``edge/varnish/scorecast.vcl``) accepts ``PURGE`` only from its purge ACL and
with the right ``Purge-Token``, and soft-purges every key listed in ``xkey-softpurge``.
"""

from __future__ import annotations

from collections.abc import Sequence

import httpx

from core.settings import PurgerSettings
from purger.backends import PurgeError, reason_for


class VarnishBackend:
    name = "varnish"
    # Keeps the request header well under Varnish's default 8 KB header limit.
    max_keys = 64

    def __init__(self, settings: PurgerSettings) -> None:
        self._token = settings.purge_token
        self._client = httpx.AsyncClient(
            base_url=settings.varnish_url, timeout=settings.http_timeout
        )

    async def purge(self, keys: Sequence[str]) -> None:
        headers = {
            "xkey-softpurge": " ".join(keys),
            "Purge-Token": self._token.get_secret_value(),
        }
        try:
            response = await self._client.request("PURGE", "/", headers=headers)
        except httpx.HTTPError as exc:
            raise PurgeError(f"varnish unreachable: {type(exc).__name__}", "unreachable") from exc
        if response.status_code != 200:
            status = response.status_code
            raise PurgeError(f"varnish answered {status} to PURGE", reason_for(status))

    async def aclose(self) -> None:
        await self._client.aclose()
