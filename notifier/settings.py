"""The notifier's settings: what its registration API (``SCORECAST_DEVICES_*``) and its workers
(``SCORECAST_NOTIFIER_*``) read, over the shared Redis and Kafka ones."""

from __future__ import annotations

import json
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import SettingsConfigDict

from core.settings import HttpSettings, KafkaSettings, RedisSettings, ServiceSettings


class FollowSettings(RedisSettings):
    """How devices and their follows are kept: both halves must read them alike."""

    #: Shards of a device's windows and registration (``{notify:N}``).
    device_shards: int = Field(
        default=16, ge=1, le=16384, validation_alias="SCORECAST_NOTIFY_DEVICE_SHARDS"
    )
    #: Shards of each game's and team's followers: a fan-out message per shard, so a big
    #: game's followers spread over the workers and a cluster.
    follower_shards: int = Field(
        default=64, ge=1, le=16384, validation_alias="SCORECAST_NOTIFY_FOLLOWER_SHARDS"
    )


class DevicesSettings(ServiceSettings, HttpSettings, FollowSettings):
    """The registration API fans' apps and browsers call (through the edge, never cached)."""

    model_config = SettingsConfigDict(env_prefix="SCORECAST_DEVICES_")

    host: str = "127.0.0.1"
    port: int = Field(default=8200, ge=0, le=65535)
    #: Games and teams one device may follow at once.
    max_follows: int = Field(default=100, ge=1, le=10_000)
    #: The browsers' push services a Web Push subscription may name (a host, or a parent domain
    #: of it): the notifier POSTs to the endpoint, so no other host may be named (it would send
    #: our requests wherever a registration says).
    push_hosts: list[str] = Field(
        default_factory=lambda: [
            "fcm.googleapis.com",
            "android.googleapis.com",
            "push.services.mozilla.com",
            "notify.windows.com",
            "push.apple.com",
        ]
    )
    #: The notifier's VAPID public key (base64url, the uncompressed P-256 point), which browsers
    #: subscribe with (``applicationServerKey``); empty: no Web Push here.
    vapid_public_key: str = Field(default="", pattern=r"^([A-Za-z0-9_-]{86,88})?$")
    max_body_bytes: int = Field(default=16_384, ge=1024, le=1_048_576)


class NotifierSettings(ServiceSettings, FollowSettings, KafkaSettings):
    """The workers: what is worth telling, the fan-out over Kafka, the senders."""

    model_config = SettingsConfigDict(env_prefix="SCORECAST_NOTIFIER_")

    #: The fan-out topic: one message per alert and follower shard.
    topic: str = "notify"
    group_id: str = "scorecast-notifier"
    #: Reads the change streams as this consumer group (apart from the purgers').
    changes_group: str = "notifier"
    consumer: str = "notifier-1"
    #: Changes another notifier has held unacknowledged this long are taken over (it died).
    claim_idle_seconds: float = Field(default=30.0, gt=0)
    #: At most one notification per device and game in this long.
    window_seconds: float = Field(default=30.0, ge=0, le=3600)
    #: A send not confirmed within this long is taken for dead with its worker.
    lease_seconds: float = Field(default=20.0, gt=0, le=600)
    #: What becomes of a send its dead worker had in flight (the platform may or may not have
    #: taken it; none offers an idempotent send): ``at_most_once`` gives it up and counts it
    #: ``unsure``; ``at_least_once`` sends it again when its lease ends (the device shows it
    #: once, under the game's collapse key, but may sound twice).
    delivery: Literal["at_most_once", "at_least_once"] = "at_most_once"
    #: Sends in flight at once, per worker.
    sends_at_once: int = Field(default=128, ge=1, le=10_000)
    #: Web Push: the VAPID private key (PEM, P-256) and the contact the push services see.
    vapid_private_key: SecretStr = SecretStr("")
    vapid_subject: str = "mailto:operators@scorecast.invalid"
    #: APNs: the team's signing key (PEM, ES256), its id, the team id and the app's bundle id
    #: (the topic); the host (``api.push.apple.com``, or the sandbox's) and port.
    apns_private_key: SecretStr = SecretStr("")
    apns_key_id: str = ""
    apns_team_id: str = ""
    apns_topic: str = ""
    apns_host: str = "api.push.apple.com"
    apns_port: int = Field(default=443, ge=1, le=65535)
    #: HTTP/2 connections to APNs per notifier (each carries up to 1,000 sends at once).
    apns_connections: int = Field(default=2, ge=1, le=64)
    #: FCM: the Firebase project's service-account key file (its JSON), where messages go, the
    #: project's quota a minute (paced here) and the HTTP/2 connections a notifier keeps.
    fcm_service_account: SecretStr = SecretStr("")
    fcm_url: str = Field(default="https://fcm.googleapis.com", pattern=r"^https://[^\s/]+/?$")
    fcm_per_minute: int = Field(default=600_000, ge=1)
    fcm_connections: int = Field(default=2, ge=1, le=64)
    #: HTTP/2 connections to each browser push service per notifier.
    web_connections: int = Field(default=1, ge=1, le=64)
    #: Where a notification takes the fan (``{game_id}`` filled in).
    game_url: str = "/games/{game_id}"
    send_timeout_seconds: float = Field(default=10.0, gt=0, le=120)
    #: A certificate authority trusted besides the system's (a local push service stand-in).
    ca_file: str = ""

    @model_validator(mode="after")
    def _apns_complete(self) -> NotifierSettings:
        given = [self.apns_key_id, self.apns_team_id, self.apns_topic]
        if self.apns_private_key.get_secret_value() and not all(given):
            raise ValueError("APNs needs SCORECAST_NOTIFIER_APNS_KEY_ID, _TEAM_ID and _TOPIC")
        return self

    @field_validator("fcm_service_account")
    @classmethod
    def _service_account(cls, value: SecretStr) -> SecretStr:
        text = value.get_secret_value()
        if not text:
            return value
        try:
            key = json.loads(text)
        except ValueError:
            raise ValueError("must be the service account's key file (JSON)") from None
        wanted = {"project_id", "private_key", "client_email", "token_uri"}
        if not isinstance(key, dict) or not wanted <= set(key):
            raise ValueError(f"the key file needs {', '.join(sorted(wanted))}")
        return value

    @field_validator("vapid_subject")
    @classmethod
    def _subject(cls, value: str) -> str:
        if not value.startswith(("mailto:", "https://")):
            raise ValueError("must be a mailto: or https: URL (RFC 8292)")
        return value
