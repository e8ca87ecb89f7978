"""The publisher's settings (``SCORECAST_PUBLISHER_*``), over the shared Redis, Kafka and
stream-tier ones."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field, model_validator
from pydantic_settings import SettingsConfigDict

from core.settings import KafkaSettings, RedisSettings, ServiceSettings
from streams.settings import StreamTierSettings


class PublisherSettings(ServiceSettings, RedisSettings, KafkaSettings, StreamTierSettings):
    model_config = SettingsConfigDict(env_prefix="SCORECAST_PUBLISHER_")
    legacy_names: ClassVar[dict[str, str | None]] = {
        "tier": "SCORECAST_PUSH_BACKEND",
        "publish_timeout": "SCORECAST_GRIP_TIMEOUT",
        "keep_alive_seconds": "SCORECAST_PUSH_KEEP_ALIVE_SECONDS",
    }

    group_id: str = "scorecast-publisher"
    #: How long an event waits for the events before it (a sequence gap) before it is applied.
    reorder_hold_seconds: float = Field(default=2.0, ge=0)
    #: Larger messages are dead-lettered unread.
    max_event_bytes: int = Field(default=65536, ge=256)
    #: Messages one poll takes from Kafka at most.
    batch_size: int = Field(default=500, ge=1)
    #: How many announcements each change stream (each shard) keeps, approximately.
    changes_maxlen: int = Field(default=100_000, ge=100)
    #: Versions whose newest event entered the pipeline longer ago than this are history when
    #: the publisher writes them (it is catching up or rebuilding): not pushed one by one.
    #: Above the pipeline's own latency, below the time a lost Redis takes to be rebuilt.
    push_max_age_seconds: float = Field(default=2.0, gt=0)
    #: Replicas each snapshot must reach (Redis ``WAIT``) before it is announced and its events
    #: committed: with replicas, a master that dies then loses no version. 0: do not wait.
    redis_wait_replicas: int = Field(default=0, ge=0, le=16)
    redis_wait_ms: int = Field(default=100, ge=1, le=10_000)
    #: Games of one poll batch written at once (each game's versions stay in order). Within
    #: ``redis_max_connections``: every game written takes a connection.
    games_at_once: int = Field(default=32, ge=1, le=1000)
    #: How long after its final a game keeps every version; it then keeps only what its views
    #: read (see :meth:`core.store.SnapshotWriter.retire`).
    retention_seconds: float = Field(default=86_400.0, ge=0)
    #: How often this member looks for games whose retention is over.
    retire_every_seconds: float = Field(default=60.0, gt=0)
    #: A finished game leaves the publisher's memory this long after its last event.
    finished_game_seconds: float = Field(default=600.0, ge=0)

    @model_validator(mode="after")
    def _tier_complete(self) -> PublisherSettings:
        problem = self.publishing_problem()
        if problem:
            raise ValueError(problem)
        return self
