"""``scorecast origin``: serve the origin until SIGTERM."""

from __future__ import annotations

from core.settings import OriginSettings
from origin.app import OriginService
from runtime.lifecycle import serve


def main(settings: OriginSettings) -> None:
    serve(OriginService(settings), settings.drain_seconds)
