"""A device's registration: each platform's address checked before anything is stored (pure)."""

from __future__ import annotations

import base64

import pytest
from pydantic import ValidationError

from notifier.devices import Platform, Registration


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


POINT = b64(b"\x04" + bytes(range(64)))
AUTH = b64(bytes(16))
WEB = {
    "platform": "web",
    "subscription": {
        "endpoint": "https://push.example.net/wpush/v2/abc",
        "expirationTime": None,
        "keys": {"p256dh": POINT, "auth": AUTH},
    },
}


def web(endpoint: str = "https://push.example.net/wpush/v2/abc", **keys: str) -> dict[str, object]:
    """A Web Push registration with one thing changed."""
    found = {"p256dh": POINT, "auth": AUTH, **keys}
    return {"platform": "web", "subscription": {"endpoint": endpoint, "keys": found}}


@pytest.mark.parametrize(
    "device",
    [
        {"platform": "apns", "token": "ab" * 32},
        {"platform": "apns", "token": "AB" * 100},
        {"platform": "fcm", "token": "dQw4w9WgXcQ:APA91b" + "x" * 140},
        WEB,
    ],
)
def test_each_platforms_real_shape_is_accepted(device: dict[str, object]) -> None:
    registered = Registration.model_validate({"device": device})
    assert registered.device.platform in set(Platform)


@pytest.mark.parametrize(
    ("device", "reason"),
    [
        ({"platform": "apns", "token": "ab" * 31}, "token"),  # too short
        ({"platform": "apns", "token": "zz" * 32}, "token"),  # not hex
        ({"platform": "apns", "token": "ab" * 32 + "\n"}, "token"),  # a trailing newline
        ({"platform": "fcm", "token": "short"}, "token"),
        ({"platform": "fcm", "token": "a b" * 60}, "token"),
        ({"platform": "sms", "token": "1"}, "platform"),
        (web(endpoint="http://x/y"), "https"),
        (web(p256dh=b64(bytes(65))), "uncompressed"),
        (web(auth=b64(bytes(8))), "16 bytes"),
        (web(p256dh="***"), "base64url"),
        (web(p256dh=POINT + "!"), "base64url"),
        ({"platform": "apns", "token": "ab" * 32, "extra": 1}, "extra"),
    ],
)  # fmt: skip
def test_junk_is_refused_with_its_reason(device: dict[str, object], reason: str) -> None:
    with pytest.raises(ValidationError) as refused:
        Registration.model_validate({"device": device})
    assert reason in str(refused.value).lower() or reason in str(refused.value)
