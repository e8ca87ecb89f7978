"""The ground floor of settings: the base every component's settings build on, and the pieces
several components share (Redis, Kafka).

Each component keeps its own settings beside it (``origin/settings.py``…) under its own
environment prefix (``SCORECAST_ORIGIN_*``, ``SCORECAST_PUBLISHER_*``…); a shared piece keeps
one name wherever it is read (``SCORECAST_REDIS_URL``, ``SCORECAST_KAFKA_BOOTSTRAP``). Each entry
point builds its settings object once and passes it down; nothing reads the environment anywhere
else. Tests build them with keyword arguments (field names).

The names of the release before (one prefix for all, ``SCORECAST_PORT``…) are still read for
one release, each with a warning naming its new name.
"""

from __future__ import annotations

import json
import logging
import os
import re
from typing import Any, ClassVar

from pydantic import Field, SecretStr, field_validator
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

logger = logging.getLogger("scorecast.settings")


class ScorecastSettings(BaseSettings):
    # Values never appear in validation errors: some are secrets.
    model_config = SettingsConfigDict(
        env_prefix="SCORECAST_",
        extra="forbid",
        frozen=True,
        hide_input_in_errors=True,
        populate_by_name=True,
    )
    #: Fields whose name in the release before was not ``SCORECAST_`` + the field's name
    #: (``None``: none to read, the old name now means something else).
    legacy_names: ClassVar[dict[str, str | None]] = {}

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The old names come last: any new name, in the environment or a secret file, wins.
        legacy = _LegacyNames(settings_cls)
        return init_settings, env_settings, dotenv_settings, file_secret_settings, legacy


def env_name(kind: type[BaseSettings], field: str) -> str:
    """The environment variable a field of ``kind`` is read from."""
    info = kind.model_fields[field]
    if isinstance(info.validation_alias, str):
        return info.validation_alias
    return (str(kind.model_config.get("env_prefix", "")) + field).upper()


def legacy_name(kind: type[BaseSettings], field: str) -> str | None:
    """The variable the release before read the field from."""
    renamed: dict[str, str | None] = getattr(kind, "legacy_names", {})
    return renamed.get(field, f"SCORECAST_{field.upper()}")


def environment(kind: type[BaseSettings], values: dict[str, object]) -> dict[str, str]:
    """``values`` (by field name) as the environment a process reading ``kind`` expects."""
    return {env_name(kind, field): _env_value(value) for field, value in values.items()}


def _env_value(value: object) -> str:
    """How pydantic-settings reads a value back: lists and mappings as JSON, a secret as
    itself (a child process must get the key, not its mask)."""
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    return json.dumps(value) if isinstance(value, (dict, list)) else str(value)


class _LegacyNames(PydanticBaseSettingsSource):
    """Reads a field from its name of the release before when its own name is not set."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        found: dict[str, Any] = {}
        for field in self.settings_cls.model_fields:
            new, old = env_name(self.settings_cls, field), legacy_name(self.settings_cls, field)
            if old is None or old == new or old not in os.environ or new in os.environ:
                continue
            logger.warning("%s is read as %s for one more release: rename it", old, new)
            # Under the name the other sources use, so that theirs win where they have one.
            alias = self.settings_cls.model_fields[field].validation_alias
            found[alias if isinstance(alias, str) else field] = os.environ[old]
        return found


class ServiceSettings(ScorecastSettings):
    #: After SIGTERM, how long a service may take to finish its work before it is cancelled.
    drain_seconds: float = Field(default=10.0, gt=0, le=300)
    #: The service's private listener (``/metrics``, ``/ready``: :mod:`runtime.metrics`), apart
    #: from anything public; port 0: none. Bind it where only the monitoring network reaches.
    metrics_host: str = "127.0.0.1"
    metrics_port: int = Field(default=0, ge=0, le=65535)


class HttpSettings(ScorecastSettings):
    """What a public HTTP listener lets its clients hold (origin, ingest)."""

    #: Connections held at most. At the cap an idle one (between requests, or still sending
    #: its headers) is closed to make room; with none idle a new request is answered 503.
    #: Lowered to what the process may open, so it never runs out of file handles.
    max_connections: int = Field(default=1_024, ge=16, le=1_000_000)
    #: An idle keep-alive connection is closed after this long.
    idle_seconds: float = Field(default=5.0, gt=0, le=300)
    #: A request's line and headers must arrive within this long of its first byte (or of the
    #: connection, for its first request), or the connection is closed.
    header_seconds: float = Field(default=10.0, gt=0, le=120)


class RedisSettings(ScorecastSettings):
    #: With ``redis_cluster``, any one node of the cluster: the client finds the others.
    redis_url: str = Field(
        default="redis://127.0.0.1:6379/0", validation_alias="SCORECAST_REDIS_URL"
    )
    #: Redis Cluster: every component uses a cluster client. A game's keys, the scoreboard's
    #: and a league's each share a hash tag, so what must change together lives on one slot.
    redis_cluster: bool = Field(default=False, validation_alias="SCORECAST_REDIS_CLUSTER")
    redis_prefix: str = Field(
        default="scorecast",
        pattern=r"^[A-Za-z0-9_.-]+$",
        validation_alias="SCORECAST_REDIS_PREFIX",
    )
    redis_timeout: float = Field(default=5.0, gt=0, validation_alias="SCORECAST_REDIS_TIMEOUT")
    #: Connections one process keeps to Redis (per node with a cluster). A burst beyond them
    #: (thousands of fans connecting at once) waits for one, up to ``redis_timeout``.
    redis_max_connections: int = Field(
        default=64, ge=1, le=10_000, validation_alias="SCORECAST_REDIS_MAX_CONNECTIONS"
    )
    #: Streams the change announcements are spread over (by game): every publisher, purger and
    #: origin must use the same number. More shards spread a match day's changes over more
    #: cluster nodes; each origin and purger then keeps one blocking read per shard. Change it
    #: with the publishers stopped and the purgers drained: a game may move to another shard.
    change_shards: int = Field(
        default=1, ge=1, le=64, validation_alias="SCORECAST_REDIS_CHANGE_SHARDS"
    )

    @field_validator("redis_url")
    @classmethod
    def _redis_scheme(cls, value: str) -> str:
        if not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must start with redis://, rediss:// or unix://")
        return value


class KafkaSettings(ScorecastSettings):
    kafka_bootstrap: str = Field(
        default="127.0.0.1:9092", min_length=1, validation_alias="SCORECAST_KAFKA_BOOTSTRAP"
    )
    events_topic: str = Field(default="game-events", validation_alias="SCORECAST_KAFKA_TOPIC")
    dead_letter_topic: str = Field(
        default="game-events.dlq", validation_alias="SCORECAST_KAFKA_DEAD_LETTER_TOPIC"
    )
    #: Short group timeouts make joins fast on the local broker; production may raise them.
    kafka_session_timeout_ms: int = Field(
        default=6000, ge=1000, validation_alias="SCORECAST_KAFKA_SESSION_TIMEOUT_MS"
    )
    kafka_heartbeat_interval_ms: int = Field(
        default=1000, ge=100, validation_alias="SCORECAST_KAFKA_HEARTBEAT_INTERVAL_MS"
    )
    #: How long the broker may hold a fetch open when it has nothing new. Kafka answers as soon
    #: as data arrives. Measured on the local broker (two idle consumers; one event every
    #: 37 ms): 10 ms costs it 9.5% of a core idle and 32% at 430 events/s, 50 ms 3.9% and 17%
    #: with an event still consumed ~2 ms after it was produced; from 100 ms on it answers
    #: late (p50 15 ms at 100, 65 ms at 200).
    kafka_fetch_wait_max_ms: int = Field(
        default=50, ge=0, validation_alias="SCORECAST_KAFKA_FETCH_WAIT_MAX_MS"
    )
    #: How long a consumer holding events its service has not taken yet waits before it asks
    #: the broker for more of that partition (librdkafka alone reads ahead up to 100,000
    #: messages). A busy service is then not fetched for over and over: on the local broker a
    #: fetch lists every batch stored in each partition with new events. Measured in
    #: ``scripts/bench matchday --games 300`` back to back with reading ahead: ingest →
    #: edge-fresh p99 643 and 678 ms before, 288–401 with 20 ms, 304 with 10, 331 with 5;
    #: 50 ms added its wait to the p50.
    #: An idle service has taken all it was given, so a quiet game's next event is fetched as
    #: before: ``scripts/bench spike`` with 20 ms was 3–4 ms slower at p50, with 5 ms as before.
    kafka_fetch_backoff_ms: int = Field(
        default=5, ge=1, le=300_000, validation_alias="SCORECAST_KAFKA_FETCH_BACKOFF_MS"
    )
    #: How long a producer gathers messages into one request. Measured on the local broker
    #: (1,000 events/s, two consumers): 0 ms costs it 708 µs of CPU an event, 2 ms 485, 5 ms
    #: 366, 10 ms 250, with a consumer's p50 lag 19, 20, 23 and 25 ms.
    kafka_linger_ms: int = Field(
        default=5, ge=0, le=1000, validation_alias="SCORECAST_KAFKA_LINGER_MS"
    )
    #: How many partitions the topics a service creates are created with (an existing
    #: topic keeps its own: more would move games between them mid-game). A game's events stay
    #: in order on its one partition. On the local broker a fetch lists every batch stored in
    #: each partition that has new data, so more partitions make each listing shorter and
    #: fewer of them per fetch, at some idle cost: ``scripts/bench matchday --games 300`` back
    #: to back, broker CPU s 83 / 63 / 57 / 61 and services' CPU s per 1,000 versions 3.97 /
    #: 3.37 / 3.38 / 3.83 at 6 / 30 / 60 / 120 partitions; idle with two consumers, 3–4% of a
    #: core at 6, 7–12% at 24–30, 20% at 60.
    kafka_partitions: int = Field(
        default=30, ge=1, le=1000, validation_alias="SCORECAST_KAFKA_PARTITIONS"
    )
    #: How long a service waits at start for the broker to list and create its topics.
    kafka_admin_timeout_seconds: float = Field(
        default=10.0, gt=0, le=120, validation_alias="SCORECAST_KAFKA_ADMIN_TIMEOUT_SECONDS"
    )


_TOKEN = re.compile(r"[A-Za-z0-9_.~+/=-]{16,256}")


def check_token(value: SecretStr) -> SecretStr:
    """A bearer token as HTTP carries it (for ``field_validator``)."""
    # fullmatch: a token read from a file often ends in a newline, which would pass ``^…$``
    # and end up in a header.
    if value.get_secret_value() and not _TOKEN.fullmatch(value.get_secret_value()):
        raise ValueError("must be 16 to 256 token characters (letters, digits, -_.~+/=)")
    return value
