"""The stream tier's settings (``SCORECAST_STREAMS_*``): the origin and the publisher read the
same ones, so both halves agree on the tier and its secrets."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr, field_validator

from runtime.fastly import FastlySettings


def _long_key(value: SecretStr) -> SecretStr:
    if value.get_secret_value() and len(value.get_secret_value()) < 32:
        raise ValueError("must be empty or at least 32 characters")
    return value


class StreamTierSettings(FastlySettings):
    #: Who holds fans' streams: ``hub`` (the origin itself), ``nchan`` (the self-hosted stream
    #: tier), ``pushpin`` (a GRIP proxy) or ``fanout`` (Fastly Fanout, GRIP too).
    tier: Literal["hub", "nchan", "pushpin", "fanout"] = Field(
        default="hub", validation_alias="SCORECAST_STREAMS_TIER"
    )
    #: The key a GRIP proxy signs ``Grip-Sig`` with (Pushpin's ``sig_key``, Fanout's).
    grip_key: SecretStr = Field(
        default=SecretStr(""), validation_alias="SCORECAST_STREAMS_GRIP_KEY"
    )
    #: The secret Nchan sends the origin as ``Scorecast-Holder`` (it overwrites any a client
    #: sent), proving a stream request came through the tier.
    holder_key: SecretStr = Field(
        default=SecretStr(""), validation_alias="SCORECAST_STREAMS_HOLDER_KEY"
    )
    #: Nchan's publish location (e.g. ``http://host:8081/publish/``).
    nchan_publish_url: str = Field(default="", validation_alias="SCORECAST_STREAMS_NCHAN_URL")
    #: Pushpin's publish endpoint (e.g. ``http://host:5561/publish/``).
    grip_publish_url: str = Field(default="", validation_alias="SCORECAST_STREAMS_GRIP_URL")
    publish_timeout: float = Field(
        default=2.0, gt=0, validation_alias="SCORECAST_STREAMS_PUBLISH_TIMEOUT"
    )
    #: Nchan sends nothing on a quiet stream: the publisher sends a comment this often, under the
    #: Python client's 30 s read timeout and the usual proxy idle limits (Cloudflare's, in front
    #: of that tier, is 100 s). Each takes a place among the channel's 256 kept messages, so not
    #: much more often: an hour of quiet takes 144 of them.
    keep_alive_seconds: float = Field(
        default=25.0, ge=1, validation_alias="SCORECAST_STREAMS_KEEP_ALIVE_SECONDS"
    )
    #: Heartbeat of streams the origin holds (each picks a value up to 30% below) and the
    #: keep-alive GRIP proxies are asked for: under 10 s, Fastly's default between-bytes timeout.
    heartbeat_seconds: float = Field(
        default=8.0, gt=0, le=9.5, validation_alias="SCORECAST_STREAMS_HEARTBEAT_SECONDS"
    )
    #: Events a stream the origin holds may have queued before it is cut off as too slow.
    subscriber_buffer: int = Field(
        default=64, ge=1, validation_alias="SCORECAST_STREAMS_SUBSCRIBER_BUFFER"
    )

    @field_validator("tier", mode="before")
    @classmethod
    def _no_tier(cls, value: object) -> object:
        # The release before called the origin holding its streams itself "none".
        return "hub" if value == "none" else value

    #: Streams and long-polls one origin's hub holds at most; one more is answered 503 with
    #: Retry-After (the client's retry lands on another origin, or later), never a dead socket.
    max_held: int = Field(default=10_000, ge=1, validation_alias="SCORECAST_STREAMS_MAX_HELD")

    _grip_key = field_validator("grip_key")(_long_key)
    _holder_key = field_validator("holder_key")(_long_key)

    def publishing_problem(self) -> str | None:
        """What the publisher's half lacks to publish to this tier (``None``: nothing)."""
        if self.tier == "nchan" and not self.nchan_publish_url:
            return "the nchan stream tier needs SCORECAST_STREAMS_NCHAN_URL"
        if self.tier == "nchan" and not self.nchan_publish_url.startswith("http://"):
            return "SCORECAST_STREAMS_NCHAN_URL must be an http:// URL (Nchan's private listener)"
        if self.tier == "pushpin" and not self.grip_publish_url:
            return "the pushpin stream tier needs SCORECAST_STREAMS_GRIP_URL"
        if self.tier == "fanout" and not (
            self.fastly_token.get_secret_value() and self.fastly_service_id
        ):
            return (
                "the fanout stream tier needs SCORECAST_FASTLY_TOKEN, SCORECAST_FASTLY_SERVICE_ID"
            )
        return None

    def holding_problem(self) -> str | None:
        """What the origin's half lacks to hand requests to this tier (``None``: nothing)."""
        if self.tier == "nchan" and not self.holder_key.get_secret_value():
            return "the nchan stream tier needs SCORECAST_STREAMS_HOLDER_KEY"
        if self.tier in ("pushpin", "fanout") and not self.grip_key.get_secret_value():
            return f"the {self.tier} stream tier needs SCORECAST_STREAMS_GRIP_KEY"
        return None
