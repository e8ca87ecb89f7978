"""``scorecast origin``: serve the origin until SIGTERM."""

from __future__ import annotations

from origin.app import OriginService
from origin.settings import OriginSettings
from runtime.lifecycle import serve


def main(settings: OriginSettings) -> None:
    serve(OriginService(settings))
