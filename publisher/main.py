"""``scorecast publisher``: run one member of the publisher consumer group until SIGTERM."""

from __future__ import annotations

from publisher.service import Publisher
from publisher.settings import PublisherSettings
from runtime.lifecycle import serve


def main(settings: PublisherSettings) -> None:
    serve(Publisher(settings))
