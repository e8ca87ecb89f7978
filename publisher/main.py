"""``scorecast publisher``: run one member of the publisher consumer group until SIGTERM."""

from __future__ import annotations

from core.settings import PublisherSettings
from publisher.service import Publisher
from runtime.lifecycle import serve


def main(settings: PublisherSettings) -> None:
    serve(Publisher(settings), settings.drain_seconds)
