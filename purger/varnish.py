"""Purge the self-hosted edge: Varnish with xkey, by an authenticated ``PURGE`` request.

The edge VCL (``edge/varnish/scorecast.vcl``) accepts ``PURGE`` only from its purge ACL and
with the right ``Purge-Token``, and soft-purges every key listed in ``xkey-softpurge``.

With two tiers (edge nodes in front of a shield) every node is purged, in the order
``SCORECAST_VARNISH_URL`` lists them: shields first, so that the refresh an edge node starts
after its purge finds the shield already purged, not the old copy.
"""

from __future__ import annotations

from collections.abc import Sequence

import httpx

from purger.backends import PurgeError, reason_for
from purger.settings import PurgerSettings


class VarnishBackend:
    name = "varnish"
    # Keeps the request header well under Varnish's default 8 KB header limit.
    max_keys = 64

    def __init__(self, settings: PurgerSettings) -> None:
        self._token = settings.purge_token
        self._nodes = [url.strip() for url in settings.varnish_url.split(",") if url.strip()]
        self._client = httpx.AsyncClient(timeout=settings.http_timeout)

    async def purge(self, keys: Sequence[str]) -> None:
        """Every node, in order; a failure fails the whole purge, retried whole (a soft purge
        twice is the same as once)."""
        headers = {
            "xkey-softpurge": " ".join(keys),
            "Purge-Token": self._token.get_secret_value(),
        }
        for node in self._nodes:
            try:
                response = await self._client.request("PURGE", f"{node}/", headers=headers)
            except httpx.HTTPError as exc:
                raise PurgeError(
                    f"varnish {node} unreachable: {type(exc).__name__}", "unreachable"
                ) from exc
            if response.status_code != 200:
                status = response.status_code
                raise PurgeError(f"varnish {node} answered {status} to PURGE", reason_for(status))

    async def aclose(self) -> None:
        await self._client.aclose()
