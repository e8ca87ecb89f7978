"""The poller's settings (``SCORECAST_POLLER_*``) and the follower's
(``SCORECAST_FOLLOWER_*``), over the shared Redis and Kafka ones."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field, field_validator, model_validator
from pydantic_settings import SettingsConfigDict

from core.settings import KafkaSettings, RedisSettings, ScorecastSettings, ServiceSettings


class DocumentSettings(ScorecastSettings):
    """How one provider document is polled."""

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


class PollingSettings(ServiceSettings, RedisSettings, KafkaSettings, DocumentSettings):
    """What every polling service reads: documents into the intake (Redis ledgers, Kafka)."""


class PollerSettings(PollingSettings):
    """``scorecast poll``: one provider URL polled (a game's live document, or a schedule)."""

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


class FollowerSettings(PollingSettings):
    """``scorecast follow``: every game of the boards, from a set time before its start until
    its final plus a grace period, its live document polled; shared by any number of
    instances."""

    model_config = SettingsConfigDict(env_prefix="SCORECAST_FOLLOWER_")
    #: New in this release: no name of the release before is read.
    legacy_names: ClassVar[dict[str, str | None]] = dict.fromkeys(
        [
            *PollingSettings.model_fields,
            *("live_urls", "lead_seconds", "grace_seconds", "lease_seconds", "scan_seconds"),
            *("warm_urls", "name"),
        ]
    )

    #: The live document of a league's games: league key → URL with ``{game_id}``, e.g.
    #: ``{"nba": "https://cdn.nba.com/static/json/liveData/playbyplay/playbyplay_{game_id}.json"}``.
    #: A league not named here is not followed.
    live_urls: dict[str, str] = Field(default_factory=dict)
    #: How long before its start a game is followed (and its pages pre-warmed at the edge).
    lead_seconds: float = Field(default=1800.0, ge=0)
    #: How long after its final a game is still followed (late corrections).
    grace_seconds: float = Field(default=3600.0, ge=0)
    #: A game is one instance's while it renews its lease; a killed instance's games are taken
    #: by the others this long after its last renewal.
    lease_seconds: float = Field(default=15.0, ge=1, le=600)
    #: How often the boards are read for games to take or let go.
    scan_seconds: float = Field(default=5.0, gt=0, le=600)
    #: Edge base URLs a newly followed game's pages are fetched through before its start, in
    #: order (a shield first, then edge nodes), so the first fan's request is a hit.
    warm_urls: list[str] = Field(default_factory=list)
    #: This instance's name among the followers (empty: host and process id).
    name: str = Field(default="", pattern=r"^[A-Za-z0-9_.:-]{0,64}$")

    @field_validator("live_urls")
    @classmethod
    def _templates(cls, urls: dict[str, str]) -> dict[str, str]:
        for league, url in urls.items():
            if "{game_id}" not in url or not url.startswith(("http://", "https://")):
                raise ValueError(f"{league}'s URL must be http(s) with {{game_id}}")
        return urls

    @model_validator(mode="after")
    def _renewed_in_time(self) -> FollowerSettings:
        if self.scan_seconds >= self.lease_seconds:
            # Leases are renewed at each scan: a slower scan would lose every game.
            raise ValueError("SCORECAST_FOLLOWER_SCAN_SECONDS must be below LEASE_SECONDS")
        return self
