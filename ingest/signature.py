"""Webhook signatures: ``Scorecast-Signature: v1=<hex HMAC-SHA256 of "timestamp.body">`` with
``Scorecast-Timestamp`` in Unix seconds. Providers sign with the shared secret."""

from __future__ import annotations

import hashlib
import hmac

SCHEME = "v1="


def sign(secret: str, timestamp: int, body: bytes) -> str:
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return SCHEME + digest.hexdigest()


def valid(secret: str, timestamp: int, body: bytes, signature: str) -> bool:
    return hmac.compare_digest(sign(secret, timestamp, body), signature)
