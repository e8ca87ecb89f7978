"""The origin's settings (``SCORECAST_ORIGIN_*``), over the shared Redis and stream-tier ones."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field, model_validator
from pydantic_settings import SettingsConfigDict

from core.settings import HttpSettings, RedisSettings, ScorecastSettings, ServiceSettings
from streams.settings import StreamTierSettings


class CachePolicy(ScorecastSettings):
    """How long browsers and the edge may keep what the origin serves (seconds)."""

    model_config = SettingsConfigDict(env_prefix="SCORECAST_ORIGIN_")

    browser_max_age: int = Field(default=1, ge=0)
    browser_stale_while_revalidate: int = Field(default=5, ge=0)
    #: The edge TTL is only a safety net: purges keep the edge fresh.
    edge_ttl: int = Field(default=3600, ge=1)
    edge_stale_while_revalidate: int = Field(default=30, ge=0)
    stale_if_error: int = Field(default=86400, ge=0)
    #: Answers that may change as soon as a game appears (404s) stay at the edge only briefly.
    edge_missing_ttl: int = Field(default=5, ge=0)
    #: A board composed of more parts than one response may name keys for (a season's every
    #: game) is not purged part by part: it stays at the edge this long.
    edge_composed_ttl: int = Field(default=5, ge=1)


class OriginSettings(ServiceSettings, HttpSettings, RedisSettings, StreamTierSettings, CachePolicy):
    model_config = SettingsConfigDict(env_prefix="SCORECAST_ORIGIN_")
    legacy_names: ClassVar[dict[str, str | None]] = {
        "holder_key": "SCORECAST_GRIP_KEY",
    }

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    #: How many players a leaderboard lists.
    leaders_top: int = Field(default=10, ge=1, le=100)
    #: A stream resumed from a version more than this far behind gets one full snapshot.
    resume_max_versions: int = Field(default=50, ge=1)
    #: Held streams count among the connections (see ``HttpSettings``).
    max_connections: int = Field(default=12_000, ge=16, le=1_000_000)
    #: How long a long-poll (``?after=``) waits for a newer version.
    long_poll_seconds: float = Field(default=20.0, gt=0, le=120)

    @model_validator(mode="after")
    def _tier_complete(self) -> OriginSettings:
        problem = self.holding_problem()
        if problem:
            raise ValueError(problem)
        if self.tier == "hub" and (
            self.grip_key.get_secret_value() or self.holder_key.get_secret_value()
        ):
            # The release before guessed the tier from each request; a key without a tier is
            # an upgrade that would otherwise quietly hold every stream at the origin.
            raise ValueError(
                "a stream tier key is set but SCORECAST_STREAMS_TIER is hub: "
                "set it to nchan, pushpin or fanout"
            )
        return self
