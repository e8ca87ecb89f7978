"""Purge the self-hosted edge: Varnish with xkey, by an authenticated ``PURGE`` request.

The edge VCL (``edge/varnish/scorecast.vcl``) accepts ``PURGE`` only from its purge ACL and
with the right ``Purge-Token``, and soft-purges every key listed in ``xkey-softpurge``.

With two tiers (edge nodes in front of a shield) every node is purged, in the order
``SCORECAST_VARNISH_URL`` lists them: shields first, so that the refresh an edge node starts
after its purge finds the shield already purged, not the old copy.

A soft-purged copy is served once more while the request that finds it refreshes it
(stale-while-revalidate): the first fan to ask after a score would get the previous version.
So, after a purge, each node is asked for the purged games' pages with a ``HEAD`` marked
``Scorecast-Refresh``: what a node holds starts refreshing at once, and what it does not hold
(nobody read it) is not fetched for it (``SCORECAST_PURGER_REFRESH``). Only the page fans poll
after a score: each request costs the edge about what a fan's does, and a match day purges
hundreds of games a second (the box score and the boards refresh when next read, as before).

A purge does not reach a fetch already under way: a refresh that read the origin just before a
new version was written, and ends just after its purge, leaves the older version cached as
fresh, until the next purge or the TTL (an hour; for a game's final, no next purge comes). So
the purger looks again a moment later (:meth:`VarnishBackend.behind`) and purges once more the
games a node still holds fresh at an older version than announced.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from core.keys import game_page, keyed_game
from purger.backends import PurgeError, reason_for
from purger.settings import PurgerSettings
from runtime.http1 import Answer, Http1Client, Http1Error

logger = logging.getLogger("scorecast.purger")

_REFRESH = {"Scorecast-Refresh": "1"}
_ETAG = re.compile(rb'(?:W/)?"v([0-9]+)"')


@dataclass(frozen=True)
class Looked:
    """What a second look at the edge found of the games announced."""

    #: Held fresh at an older version by some node: purged again.
    late: list[str]
    #: Held stale by some node (and not late): refreshing; looked at once more.
    stale: list[str]


class VarnishBackend:
    name = "varnish"
    # Keeps the request header well under Varnish's default 8 KB header limit.
    max_keys = 64

    def __init__(self, settings: PurgerSettings) -> None:
        self._token = settings.purge_token
        self._refresh = settings.refresh
        nodes = [url.strip() for url in settings.varnish_url.split(",") if url.strip()]
        self._nodes = [(node, Http1Client(node, settings.http_timeout)) for node in nodes]
        #: Refresh requests that failed (the copy then refreshes when a fan asks, as before).
        self.refresh_failures = 0

    async def purge(self, keys: Sequence[str]) -> None:
        """Every node, in order; a failure fails the whole purge, retried whole (a soft purge
        twice is the same as once). Then the refresh, which never fails the purge."""
        headers = {
            "xkey-softpurge": " ".join(keys),
            "Purge-Token": self._token.get_secret_value(),
        }
        for node, client in self._nodes:
            try:
                answer = await client.request("PURGE", "", headers=headers)
            except Http1Error as exc:
                raise PurgeError(f"varnish {node} unreachable: {exc}", "unreachable") from exc
            if answer.status != 200:
                status = answer.status
                raise PurgeError(f"varnish {node} answered {status} to PURGE", reason_for(status))
        if self._refresh:
            await self._refresh_pages(keys)

    async def _refresh_pages(self, keys: Sequence[str]) -> None:
        games = list(dict.fromkeys(g for key in keys if (g := keyed_game(key)) is not None))
        for node, client in self._nodes:  # shields first, as the purge
            failed = sum(answer is None for answer in await self._ask(client, games))
            if failed:
                self.refresh_failures += failed
                logger.warning("refresh after purge: %d of %s failed", failed, node)

    async def behind(self, announced: Mapping[str, int]) -> Looked:
        """Of the games announced (id → version), those some node holds fresh at an older
        version, and those still held stale. Asked as a refresh is: a stale copy starts
        refreshing, unless a refresh is already under way, which may have begun before the
        purge and then brings the older version: a stale copy is looked at again."""
        games = list(announced)
        late: set[str] = set()
        stale: set[str] = set()
        for _, client in self._nodes:
            for game_id, answer in zip(games, await self._ask(client, games), strict=True):
                # No answer: looked at again with the game's next purge.
                if answer is None or answer.status != 200:
                    continue
                if answer.headers.get(b"scorecast-fresh") != b"1":
                    stale.add(game_id)
                    continue
                held = _ETAG.fullmatch(answer.headers.get(b"etag", b""))
                if held is not None and int(held[1]) < announced[game_id]:
                    late.add(game_id)
        return Looked(
            [game_id for game_id in games if game_id in late],
            [game_id for game_id in games if game_id in stale and game_id not in late],
        )

    @staticmethod
    async def _ask(client: Http1Client, games: list[str]) -> list[Answer | None]:
        """Each game's page at one node, asked as a refresh (``None``: no answer)."""
        return await client.heads([game_page(g).lstrip("/") for g in games], _REFRESH)

    async def aclose(self) -> None:
        for _, client in self._nodes:
            await client.aclose()
