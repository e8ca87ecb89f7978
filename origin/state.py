"""What the origin's lifespan owns and hands to every request."""

from __future__ import annotations

from dataclasses import dataclass

from core.store import SnapshotReader
from origin.assets import SiteAssets
from origin.settings import OriginSettings
from streams.hub import HubTier
from streams.tier import StreamTier


@dataclass(frozen=True)
class OriginState:
    settings: OriginSettings
    #: Read-only: the request path never writes (architecture invariant 3).
    store: SnapshotReader
    #: The configured stream tier (the hub itself when the origin holds every stream).
    tier: StreamTier
    #: The origin's own: it holds what the tier does not, and follows the change streams.
    hub: HubTier
    #: The live scoreboard page and the client script it uses (read once at start).
    page: bytes
    client_script: bytes
    #: The fan site's stylesheet and script.
    site: SiteAssets

    async def unready(self) -> str | None:
        """Why the origin is not ready, or ``None``: Redis must answer and the change streams
        be followed (an origin whose reader is down would hold streams that never move)."""
        await self.store.ping()
        if not self.hub.hub.healthy:
            return f"change stream reader down: {self.hub.hub.failure}"
        return None
