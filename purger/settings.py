"""The purger's settings (``SCORECAST_PURGER_*``), over the shared Redis and the CDNs' own."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import SettingsConfigDict

from core.settings import RedisSettings, ServiceSettings, check_token, env_name
from purger.cloudflare import PURGE_LIMITS, CloudflareSettings
from runtime.fastly import FastlySettings

#: Purge calls a second to our own Varnish, where a call is answered in well under a
#: millisecond and the bucket only stops a runaway loop. At 50 (the other backends' default),
#: a 300-game match day's four change streams waited for tokens: announced → fresh p50 165 ms,
#: and 106 ms at this rate (``scripts/bench matchday --games 300``).
VARNISH_CALLS_PER_SECOND = 1000.0


class PurgerSettings(ServiceSettings, RedisSettings, FastlySettings, CloudflareSettings):
    model_config = SettingsConfigDict(env_prefix="SCORECAST_PURGER_")

    backend: Literal["varnish", "fastly", "cloudflare"] = "varnish"
    group: str = "scorecast-purger"
    consumer: str = "purger-1"
    #: The self-hosted edge; with two tiers, every node, comma-separated, shields first.
    varnish_url: str = Field(
        default="http://127.0.0.1:6081", pattern=r"^http://[^,\s]+(,\s*http://[^,\s]+)*$"
    )
    purge_token: SecretStr = SecretStr("")
    #: Varnish: after a purge, ask each node for the purged games' pages it holds (a HEAD), so
    #: they refresh at once rather than serve the first fan after a score the previous version.
    refresh: bool = True
    #: Varnish: this long after a purge, every node is asked what it holds of each announced
    #: game; a game held fresh at an older version is purged again (0: never).
    verify_seconds: float = Field(default=1.0, ge=0, le=60)
    #: Keys announced within this window go out in one purge call.
    window_seconds: float = Field(default=0.005, ge=0)
    #: Announcements one read of a change stream takes at most.
    batch_size: int = Field(default=500, ge=1)
    #: Purge calls per second allowed (a token bucket) and how many at once. On Cloudflare the
    #: plan sets both (see ``purge_rate``); these may only lower them. Our own Varnish takes
    #: :data:`VARNISH_CALLS_PER_SECOND` unless this is set.
    calls_per_second: float = Field(default=50.0, gt=0)
    burst: int = Field(default=10, ge=1)
    retry_initial_seconds: float = Field(default=0.1, gt=0)
    retry_max_seconds: float = Field(default=5.0, gt=0)
    #: How long one purge is retried before it is reported as failed and acknowledged (the
    #: edge TTL then bounds the staleness).
    retry_budget_seconds: float = Field(default=120.0, gt=0)
    http_timeout: float = Field(default=5.0, gt=0)
    #: Changes another purger has held unacknowledged this long are taken over (it died or
    #: hangs). Above the time one purge call may take, so a busy purger keeps its own.
    claim_idle_seconds: float = Field(default=30.0, gt=0)

    _purge_token = field_validator("purge_token")(check_token)

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
                missing.append(env_name(type(self), name))
        if missing:
            raise ValueError(f"the {self.backend} backend needs {', '.join(missing)}")
        return self

    def purge_rate(self) -> tuple[float, int]:
        """Purge calls a second and the burst the backend allows (Cloudflare: by plan, per
        account; the settings may only lower them)."""
        if self.backend == "varnish" and "calls_per_second" not in self.model_fields_set:
            return VARNISH_CALLS_PER_SECOND, self.burst
        if self.backend != "cloudflare":
            return self.calls_per_second, self.burst
        rate, burst = PURGE_LIMITS[self.cloudflare_plan]
        if "calls_per_second" in self.model_fields_set:
            rate = min(rate, self.calls_per_second)
        if "burst" in self.model_fields_set:
            burst = min(burst, self.burst)
        return rate, burst
