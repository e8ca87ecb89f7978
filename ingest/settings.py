"""The webhook's settings (``SCORECAST_INGEST_*``), over the shared Redis and Kafka ones."""

from __future__ import annotations

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import SettingsConfigDict

from core.settings import HttpSettings, KafkaSettings, RedisSettings, ServiceSettings


class IngestSettings(ServiceSettings, HttpSettings, RedisSettings, KafkaSettings):
    """The webhook providers push to: signed, fresh, never replayed."""

    model_config = SettingsConfigDict(env_prefix="SCORECAST_INGEST_")

    host: str = "127.0.0.1"
    port: int = Field(default=8100, ge=0, le=65535)
    #: Shared with each provider; signs ``timestamp.body`` (HMAC-SHA256).
    webhook_secret: SecretStr = SecretStr("")
    #: How far a request's timestamp may be from our clock.
    tolerance_seconds: int = Field(default=300, ge=1)
    max_body_bytes: int = Field(default=8 * 1024 * 1024, ge=1024)
    #: Bodies read at once; past them a push is answered 503 before its body is read, so
    #: forged uploads cost at most this many times ``max_body_bytes`` of memory.
    uploads_at_once: int = Field(default=8, ge=1, le=1024)
    #: How long the whole body may take to arrive once its headers did.
    body_timeout_seconds: float = Field(default=10.0, gt=0, le=120)
    #: How long a push waits for Kafka to acknowledge its events before it is answered 503.
    produce_timeout_seconds: float = Field(default=10.0, gt=0, le=60)

    @field_validator("webhook_secret")
    @classmethod
    def _secret_length(cls, value: SecretStr) -> SecretStr:
        if len(value.get_secret_value()) < 32:
            raise ValueError("must be at least 32 characters")
        return value
