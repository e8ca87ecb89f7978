"""Settings: one pydantic-settings object per process, read from ``SCORECAST_*`` variables.

Each entry point builds its settings object once and passes it down; nothing reads the
environment anywhere else. Tests build them with keyword arguments.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class _Settings(BaseSettings):
    # Values never appear in validation errors: some are secrets.
    model_config = SettingsConfigDict(
        env_prefix="SCORECAST_",
        extra="ignore",
        frozen=True,
        hide_input_in_errors=True,
    )


class ServiceSettings(_Settings):
    #: After SIGTERM, how long a service may take to finish its work before it is cancelled.
    drain_seconds: float = Field(default=10.0, gt=0, le=300)


class RedisSettings(_Settings):
    #: With ``redis_cluster``, any one node of the cluster: the client finds the others.
    redis_url: str = "redis://127.0.0.1:6379/0"
    #: Redis Cluster: every component uses a cluster client. A game's keys, the scoreboard's
    #: and a league's each share a hash tag, so what must change together lives on one slot.
    redis_cluster: bool = False
    redis_prefix: str = Field(default="scorecast", pattern=r"^[A-Za-z0-9_.-]+$")
    redis_timeout: float = Field(default=5.0, gt=0)
    #: Connections one process keeps to Redis (per node with a cluster). A burst beyond them
    #: (thousands of fans connecting at once) waits for one, up to ``redis_timeout``.
    redis_max_connections: int = Field(default=64, ge=1, le=10_000)
    #: Streams the change announcements are spread over (by game): every publisher, purger and
    #: origin must use the same number. More shards spread a match day's changes over more
    #: cluster nodes; each origin and purger then keeps one blocking read per shard. Change it
    #: with the publishers stopped and the purgers drained: a game may move to another shard.
    change_shards: int = Field(default=1, ge=1, le=64)

    @field_validator("redis_url")
    @classmethod
    def _redis_scheme(cls, value: str) -> str:
        if not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must start with redis://, rediss:// or unix://")
        return value


class KafkaSettings(_Settings):
    kafka_bootstrap: str = Field(default="127.0.0.1:9092", min_length=1)
    events_topic: str = "game-events"
    dead_letter_topic: str = "game-events.dlq"
    #: Short group timeouts make joins fast on the local broker; production may raise them.
    kafka_session_timeout_ms: int = Field(default=6000, ge=1000)
    kafka_heartbeat_interval_ms: int = Field(default=1000, ge=100)
    #: How long the broker may hold a fetch open when it has nothing new. Kafka answers as soon
    #: as data arrives; the local broker waits the full time, so keep it short.
    kafka_fetch_wait_max_ms: int = Field(default=10, ge=0)


_TOKEN = re.compile(r"^[A-Za-z0-9_.~+/=-]{16,256}$")


def _check_token(value: SecretStr) -> SecretStr:
    if value.get_secret_value() and not _TOKEN.match(value.get_secret_value()):
        raise ValueError("must be 16 to 256 token characters (letters, digits, -_.~+/=)")
    return value


class FastlySettings(_Settings):
    """Fastly's API (purges, Fanout publishing). Tokens also come from ``*_file`` secrets."""

    fastly_api_url: str = "https://api.fastly.com"
    fastly_token: SecretStr = SecretStr("")
    fastly_service_id: str = Field(default="", pattern=r"^([A-Za-z0-9]{8,64})?$")

    _fastly_token = field_validator("fastly_token")(_check_token)


class CachePolicy(_Settings):
    """How long browsers and the edge may keep what the origin serves (seconds)."""

    browser_max_age: int = Field(default=1, ge=0)
    browser_stale_while_revalidate: int = Field(default=5, ge=0)
    #: The edge TTL is only a safety net: purges keep the edge fresh.
    edge_ttl: int = Field(default=3600, ge=1)
    edge_stale_while_revalidate: int = Field(default=30, ge=0)
    stale_if_error: int = Field(default=86400, ge=0)
    #: Answers that may change as soon as a game appears (404s) stay at the edge only briefly.
    edge_missing_ttl: int = Field(default=5, ge=0)


class OriginSettings(ServiceSettings, RedisSettings, CachePolicy):
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    #: How many players a leaderboard lists.
    leaders_top: int = Field(default=10, ge=1, le=100)
    #: The key a GRIP proxy signs ``Grip-Sig`` with (Pushpin's ``sig_key``); empty: no proxy,
    #: the origin streams to clients itself.
    grip_key: SecretStr = SecretStr("")
    #: A stream resumed from a version more than this far behind gets one full snapshot.
    resume_max_versions: int = Field(default=50, ge=1)
    #: How long a long-poll (``?after=``) waits for a newer version.
    long_poll_seconds: float = Field(default=20.0, gt=0, le=120)
    #: Events a direct-mode subscriber may have queued before it is cut off as too slow.
    subscriber_buffer: int = Field(default=64, ge=1)
    #: Heartbeat interval of direct-mode streams; each stream picks a value up to 30% below.
    heartbeat_seconds: float = Field(default=8.0, gt=0, le=9.5)

    @field_validator("grip_key")
    @classmethod
    def _grip_key_length(cls, value: SecretStr) -> SecretStr:
        if value.get_secret_value() and len(value.get_secret_value()) < 32:
            raise ValueError("must be empty (no GRIP proxy) or at least 32 characters")
        return value


class PublisherSettings(ServiceSettings, RedisSettings, KafkaSettings, FastlySettings):
    group_id: str = "scorecast-publisher"
    #: How long an event waits for the events before it (a sequence gap) before it is applied.
    reorder_hold_seconds: float = Field(default=2.0, ge=0)
    #: Larger messages are dead-lettered unread.
    max_event_bytes: int = Field(default=65536, ge=256)
    batch_size: int = Field(default=500, ge=1)
    #: How many announcements each change stream (each shard) keeps, approximately.
    changes_maxlen: int = Field(default=100_000, ge=100)
    #: Where new versions are published for held streams: ``nchan`` (the self-hosted stream
    #: tier, ``nchan_publish_url``, e.g. ``http://host:8081/publish/``), ``pushpin``
    #: (``grip_publish_url``, e.g. ``http://host:5561/publish/``), ``fanout`` (Fastly's publish
    #: API), or ``none``.
    push_backend: Literal["none", "nchan", "pushpin", "fanout"] = "none"
    nchan_publish_url: str = ""
    #: Nchan sends nothing on a quiet stream: the publisher sends a comment this often, under the
    #: Python client's 30 s read timeout and the usual proxy idle limits (Cloudflare's, in front
    #: of that tier, is 100 s). Each takes a place among the channel's 256 kept messages, so not
    #: much more often: an hour of quiet takes 144 of them.
    push_keep_alive_seconds: float = Field(default=25.0, ge=1)
    grip_publish_url: str = ""
    grip_timeout: float = Field(default=2.0, gt=0)
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
    #: A finished game leaves the publisher's memory this long after its last event.
    finished_game_seconds: float = Field(default=600.0, ge=0)

    @model_validator(mode="after")
    def _push_complete(self) -> PublisherSettings:
        if self.push_backend == "nchan" and not self.nchan_publish_url:
            raise ValueError("the nchan push backend needs SCORECAST_NCHAN_PUBLISH_URL")
        if self.push_backend == "pushpin" and not self.grip_publish_url:
            raise ValueError("the pushpin push backend needs SCORECAST_GRIP_PUBLISH_URL")
        if self.push_backend == "fanout" and not (
            self.fastly_token.get_secret_value() and self.fastly_service_id
        ):
            raise ValueError(
                "the fanout push backend needs SCORECAST_FASTLY_TOKEN, SCORECAST_FASTLY_SERVICE_ID"
            )
        return self


class PurgerSettings(ServiceSettings, RedisSettings, FastlySettings):
    backend: Literal["varnish", "fastly", "cloudflare"] = "varnish"
    group: str = "scorecast-purger"
    consumer: str = "purger-1"
    #: The self-hosted edge; with two tiers, every node, comma-separated, shields first.
    varnish_url: str = Field(
        default="http://127.0.0.1:6081", pattern=r"^https?://[^,\s]+(,\s*https?://[^,\s]+)*$"
    )
    purge_token: SecretStr = SecretStr("")
    cloudflare_api_url: str = "https://api.cloudflare.com/client/v4"
    cloudflare_token: SecretStr = SecretStr("")
    cloudflare_zone_id: str = Field(default="", pattern=r"^([0-9a-f]{32})?$")
    #: Keys announced within this window go out in one purge call.
    window_seconds: float = Field(default=0.005, ge=0)
    batch_size: int = Field(default=500, ge=1)
    #: Purge calls per second allowed (a token bucket) and how many at once. On Cloudflare the
    #: plan sets both (see ``purge_rate``); these may only lower them.
    calls_per_second: float = Field(default=50.0, gt=0)
    burst: int = Field(default=10, ge=1)
    #: The Cloudflare plan of the account (required with that backend): its purge limits apply.
    cloudflare_plan: Literal["", "free", "pro", "business", "enterprise"] = ""
    retry_initial_seconds: float = Field(default=0.1, gt=0)
    retry_max_seconds: float = Field(default=5.0, gt=0)
    #: How long one purge is retried before it is reported as failed and acknowledged (the
    #: edge TTL then bounds the staleness).
    retry_budget_seconds: float = Field(default=120.0, gt=0)
    http_timeout: float = Field(default=5.0, gt=0)
    #: Changes another purger has held unacknowledged this long are taken over (it died or
    #: hangs). Above the time one purge call may take, so a busy purger keeps its own.
    claim_idle_seconds: float = Field(default=30.0, gt=0)
    #: Prometheus metrics on 127.0.0.1:PORT (0: none).
    metrics_port: int = Field(default=0, ge=0, le=65535)

    _purge_token = field_validator("purge_token")(_check_token)
    _cloudflare_token = field_validator("cloudflare_token")(_check_token)

    @model_validator(mode="after")
    def _backend_complete(self) -> PurgerSettings:
        needed = {
            "varnish": ["purge_token"],
            "fastly": ["fastly_token", "fastly_service_id"],
            "cloudflare": ["cloudflare_token", "cloudflare_zone_id", "cloudflare_plan"],
        }[self.backend]
        missing = []
        for name in needed:
            value = getattr(self, name)
            if not (value.get_secret_value() if isinstance(value, SecretStr) else value):
                missing.append(f"SCORECAST_{name.upper()}")
        if missing:
            raise ValueError(f"the {self.backend} backend needs {', '.join(missing)}")
        return self

    def purge_rate(self) -> tuple[float, int]:
        """Purge calls a second and the burst the backend allows (Cloudflare: by plan, per
        account; the settings may only lower them)."""
        if self.backend != "cloudflare":
            return self.calls_per_second, self.burst
        rate, burst = CLOUDFLARE_PURGE_LIMITS[self.cloudflare_plan]
        if "calls_per_second" in self.model_fields_set:
            rate = min(rate, self.calls_per_second)
        if "burst" in self.model_fields_set:
            burst = min(burst, self.burst)
        return rate, burst


#: Cloudflare's purge limits per account (calls a second, bucket size), by plan, as its cache
#: documentation ("Purge cache", rate limits) states them; at most 100 tags a call.
CLOUDFLARE_PURGE_LIMITS = {
    "free": (5 / 60, 25),
    "pro": (5.0, 25),
    "business": (10.0, 50),
    "enterprise": (50.0, 500),
}


class IngestSettings(ServiceSettings, RedisSettings, KafkaSettings):
    """The webhook providers push to: signed, fresh, never replayed."""

    host: str = "127.0.0.1"
    port: int = Field(default=8100, ge=0, le=65535)
    #: Shared with each provider; signs ``timestamp.body`` (HMAC-SHA256).
    webhook_secret: SecretStr = SecretStr("")
    #: How far a request's timestamp may be from our clock.
    tolerance_seconds: int = Field(default=300, ge=1)
    max_body_bytes: int = Field(default=8 * 1024 * 1024, ge=1024)
    #: How long a push waits for Kafka to acknowledge its events before it is answered 503.
    produce_timeout_seconds: float = Field(default=10.0, gt=0, le=60)

    @field_validator("webhook_secret")
    @classmethod
    def _secret_length(cls, value: SecretStr) -> SecretStr:
        if len(value.get_secret_value()) < 32:
            raise ValueError("must be at least 32 characters")
        return value


class PollerSettings(ServiceSettings, RedisSettings, KafkaSettings):
    """``scorecast poll``: one provider URL polled for one game's document."""

    poll_url: str = Field(default="", pattern=r"^https?://")
    #: A format name, or ``auto`` to tell it from the first document.
    poll_format: str = "auto"
    poll_interval_seconds: float = Field(default=2.0, gt=0, le=3600)
    #: Each wait is the interval times a random factor within ±this share, so pollers started
    #: together do not hit the provider together.
    poll_jitter: float = Field(default=0.2, ge=0, lt=1)
    #: After failures the wait doubles, up to this.
    poll_backoff_max_seconds: float = Field(default=60.0, gt=0)
    poll_timeout_seconds: float = Field(default=10.0, gt=0, le=120)
    max_document_bytes: int = Field(default=32 * 1024 * 1024, ge=1024)
    #: How long a produce waits for Kafka's acknowledgement before the poll counts as failed.
    produce_timeout_seconds: float = Field(default=10.0, gt=0, le=60)


class ReplaySettings(KafkaSettings):
    pass


class StackSettings(_Settings):
    """``scorecast up``: which ports to use (0 picks a free one) and where to keep run files."""

    redis_port: int = Field(default=0, ge=0, le=65535)
    broker_port: int = Field(default=0, ge=0, le=65535)
    origin_port: int = Field(default=0, ge=0, le=65535)
    edge_port: int = Field(default=0, ge=0, le=65535)
    #: Where logs and Varnish's work files go (default: a new temporary directory).
    run_dir: str = ""
    #: The recorded games (default: ``shared/data`` beside the checkout).
    data_dir: str = ""
