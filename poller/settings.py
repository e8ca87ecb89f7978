"""The poller's settings (``SCORECAST_POLLER_*``), over the shared Redis and Kafka ones."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from core.settings import KafkaSettings, RedisSettings, ServiceSettings


class PollerSettings(ServiceSettings, RedisSettings, KafkaSettings):
    """``scorecast poll``: one provider URL polled for one game's document."""

    model_config = SettingsConfigDict(env_prefix="SCORECAST_POLLER_")
    legacy_names: ClassVar[dict[str, str | None]] = {
        "url": "SCORECAST_POLL_URL",
        "format": "SCORECAST_POLL_FORMAT",
        "interval_seconds": "SCORECAST_POLL_INTERVAL_SECONDS",
        "jitter": "SCORECAST_POLL_JITTER",
        "backoff_max_seconds": "SCORECAST_POLL_BACKOFF_MAX_SECONDS",
        "timeout_seconds": "SCORECAST_POLL_TIMEOUT_SECONDS",
    }

    url: str = Field(default="", pattern=r"^https?://")
    #: The game the URL serves (empty: the first document's); a document of another is refused.
    game_id: str = Field(default="", pattern=r"^([A-Za-z0-9][A-Za-z0-9_.-]{0,63})?$")
    #: A format name, or ``auto`` to tell it from the first document.
    format: str = "auto"
    interval_seconds: float = Field(default=2.0, gt=0, le=3600)
    #: Each wait is the interval times a random factor within ±this share, so pollers started
    #: together do not hit the provider together.
    jitter: float = Field(default=0.2, ge=0, lt=1)
    #: After failures the wait doubles, up to this.
    backoff_max_seconds: float = Field(default=60.0, gt=0)
    timeout_seconds: float = Field(default=10.0, gt=0, le=120)
    max_document_bytes: int = Field(default=32 * 1024 * 1024, ge=1024)
    #: How long a produce waits for Kafka's acknowledgement before the poll counts as failed.
    produce_timeout_seconds: float = Field(default=10.0, gt=0, le=60)
