"""What a fan's app or browser registers to be told: one device, one platform, one address
there. Checked before anything is stored, so a junk token is a clear 4xx, never a send that
fails later.

- **APNs** device tokens are hex (32 bytes today; Apple warns they may grow: 32 to 100 bytes).
- **FCM** registration tokens are opaque strings of letters, digits, ``-``, ``_`` and ``:``
  (about 150 characters today; up to 4 KB accepted).
- **Web Push** subscriptions are the browser's ``PushSubscription.toJSON()``: an ``https``
  endpoint, ``keys.p256dh`` (the browser's P-256 public key, uncompressed: 65 bytes starting
  0x04, base64url) and ``keys.auth`` (16 bytes, base64url) (RFC 8030, RFC 8291).
"""

from __future__ import annotations

import base64
import binascii
from enum import StrEnum
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator


class Platform(StrEnum):
    APNS = "apns"
    FCM = "fcm"
    WEB = "web"


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


ApnsToken = Annotated[str, StringConstraints(pattern=r"^(?:[0-9a-fA-F]{2}){32,100}$")]
FcmToken = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_:-]{100,4096}$")]


def _b64url(value: str, size: int, what: str) -> bytes:
    try:
        raw = base64.b64decode(value + "=" * (-len(value) % 4), altchars=b"-_", validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(f"{what} is not base64url") from None
    if len(raw) != size:
        raise ValueError(f"{what} must be {size} bytes, not {len(raw)}")
    return raw


class PushKeys(_Model):
    p256dh: str = Field(max_length=128)
    auth: str = Field(max_length=64)

    @field_validator("p256dh")
    @classmethod
    def _point(cls, value: str) -> str:
        if _b64url(value, 65, "keys.p256dh")[0] != 0x04:
            raise ValueError("keys.p256dh must be an uncompressed P-256 point")
        return value

    @field_validator("auth")
    @classmethod
    def _secret(cls, value: str) -> str:
        _b64url(value, 16, "keys.auth")
        return value


class Subscription(_Model):
    """A browser's push subscription (``PushSubscription.toJSON()``)."""

    endpoint: str = Field(max_length=2048)
    expirationTime: int | None = None
    keys: PushKeys

    @field_validator("endpoint")
    @classmethod
    def _https(cls, value: str) -> str:
        parts = urlsplit(value)
        try:
            parts.port  # noqa: B018 (a port out of range raises here, not at send time)
        except ValueError:
            raise ValueError("endpoint has no valid port") from None
        if parts.scheme != "https" or not parts.hostname or len(parts.path) < 2:
            raise ValueError("endpoint must be an https URL of the browser's push service")
        return value


class ApnsDevice(_Model):
    platform: Literal[Platform.APNS]
    token: ApnsToken


class FcmDevice(_Model):
    platform: Literal[Platform.FCM]
    token: FcmToken


class WebDevice(_Model):
    platform: Literal[Platform.WEB]
    subscription: Subscription


#: What a registration carries, told apart by ``platform``.
Device = Annotated[ApnsDevice | FcmDevice | WebDevice, Field(discriminator="platform")]


class Registration(_Model):
    device: Device
