"""What the origin's lifespan owns and hands to every request."""

from __future__ import annotations

from dataclasses import dataclass

from core.settings import OriginSettings
from core.store import SnapshotReader
from origin.hub import Hub


@dataclass(frozen=True)
class OriginState:
    settings: OriginSettings
    #: Read-only: the request path never writes (architecture invariant 3).
    store: SnapshotReader
    hub: Hub
    #: The live scoreboard page and the client script it uses (read once at start).
    page: bytes
    client_script: bytes
