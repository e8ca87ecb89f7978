"""A two-tier edge, as Fastly's shielding: two edge Varnish nodes in front of one shield Varnish
in front of two origins (taken in turn), all running edge/varnish/scorecast.vcl."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import httpx
import pytest

from core.models import Game, GameStatus, Sport, TeamScore
from core.store import SnapshotWriter
from harness.fans import origin_requests
from local.process import free_port
from local.varnish import Tier, varnish
from origin.app import create_app
from origin.settings import OriginSettings
from purger.service import Purger
from purger.settings import PurgerSettings
from tests.conftest import ThreadedServer
from tests.helpers import eventually, running

#: Starts real services or processes of its own (see ``SERVICE_FIXTURES`` in conftest).
pytestmark = pytest.mark.stack


@dataclass(frozen=True)
class Tiers:
    origins: list[str]
    #: Each origin's private listener.
    metrics: list[str]
    shield: str
    edges: list[str]
    purge_token: str


@pytest.fixture
def tiers(origin: str, origin_settings: OriginSettings, tmp_path: Path) -> Iterator[Tiers]:
    purge, tier = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
    second = origin_settings.model_copy(update={"port": free_port(), "metrics_port": free_port()})
    origin_ports = [int(origin.rsplit(":", 1)[1]), second.port]
    shield_port = free_port()
    shield = varnish(
        shield_port, free_port(), origin_ports, purge, tmp_path, tier=Tier(tier), name="shield"
    )
    with ThreadedServer(create_app(second), second.port) as other, shield:
        edge_ports = [free_port(), free_port()]
        nodes = [
            varnish(
                port,
                free_port(),
                shield_port,
                purge,
                tmp_path,
                tier=Tier(tier, behind_shield=True),
                name=f"edge{index}",
            )
            for index, port in enumerate(edge_ports)
        ]
        with nodes[0], nodes[1]:
            yield Tiers(
                [origin, other.url],
                [
                    f"http://127.0.0.1:{settings.metrics_port}"
                    for settings in (origin_settings, second)
                ],
                f"http://127.0.0.1:{shield_port}",
                [f"http://127.0.0.1:{port}" for port in edge_ports],
                purge,
            )


def _game(version: int) -> Game:
    return Game(
        game_id="shielded",
        sport=Sport.BASKETBALL,
        league="TEST",
        status=GameStatus.LIVE,
        home=TeamScore(team_id="h", code="HOM", name="Home", score=version),
        away=TeamScore(team_id="a", code="AWY", name="Away"),
        sequence=version - 1,
        version=version,
    )


async def _versions(http: httpx.AsyncClient, urls: list[str]) -> list[tuple[int, str]]:
    found = []
    for url in urls:
        response = await http.get(f"{url}/v1/games/shielded")
        assert "Surrogate-Key" not in response.headers  # what leaves for a fan is stripped
        found.append((response.json()["version"], response.headers["X-Cache"]))
    return found


def _purged(purger: Purger, changes: int) -> bool:
    return purger.purged == changes


async def _fetches(tiers: Tiers) -> int:
    """Snapshot requests the origins answered, all of them together."""
    return sum([await origin_requests(url, "/v1/games/{game_id}") for url in tiers.metrics])


async def test_purges_reach_both_tiers_and_the_origins_see_one_fetch_per_change(
    tiers: Tiers, store: SnapshotWriter, redis_service: str, prefix: str
) -> None:
    await store.write(_game(1))
    async with httpx.AsyncClient(timeout=5) as http:
        before = await _fetches(tiers)
        first = await _versions(http, tiers.edges)
        assert [version for version, _ in first] == [1, 1]
        assert await _fetches(tiers) - before == 1  # the shield fetched once
        # An edge node keeps the origin's long TTL (the shield passed Surrogate-Control on):
        # past the browser max-age of 1 s it still answers from its own copy.
        await asyncio.sleep(2.5)
        assert [cache for _, cache in await _versions(http, tiers.edges)] == ["HIT", "HIT"]
        # ...and it has the purge keys: a purge of the game's key finds its copy.
        for edge in tiers.edges:
            purged = await http.request(
                "PURGE",
                f"{edge}/",
                headers={"xkey-softpurge": "game-shielded", "Purge-Token": tiers.purge_token},
            )
            assert purged.json() == {"purged": 1}, edge
        # A fan asking the shield directly gets no CDN headers either; our edge nodes do.
        fan = await http.get(f"{tiers.shield}/v1/games/shielded")
        assert "Surrogate-Key" not in fan.headers
        settings = PurgerSettings(
            redis_url=redis_service,
            redis_prefix=prefix,
            varnish_url=",".join([tiers.shield, *tiers.edges]),
            purge_token=tiers.purge_token,
            window_seconds=0,
        )
        purger = Purger(settings)
        async with running(purger):
            await eventually(lambda: purger.purged == 1)  # version 1's, read from the start
            for version in (2, 3):
                await store.write(_game(version))
                # Fans ask once the change is purged: one that asked before the purge would
                # get the new version and then, after the purge, fetch it once more.
                await eventually(partial(_purged, purger, version))

                async def fresh(version: int = version) -> bool:
                    seen = await _versions(http, tiers.edges)
                    return all(found == version for found, _ in seen)

                await eventually(fresh, 15)
        for _ in range(5):  # many more fans on every edge node: all served from the tiers
            assert {version for version, _ in await _versions(http, tiers.edges)} == {3}
        # One origin fetch per change, whatever the number of edge nodes and origins (and one
        # more for version 1's purge: its refresh renewed the copy the tiers already held).
        assert await _fetches(tiers) - before == 4
