"""The one CORS policy of Scorecast's public answers: any origin may read them, with the request
headers fans' clients send and the ETag they read.

The origin's middleware, the stream tier's answers and every edge configuration (Varnish, the
Fastly services, Nchan) take it from here; ``tests/test_cors.py`` holds each configuration to it.
"""

from __future__ import annotations

ALLOW_ORIGIN = "*"
ALLOW_METHODS = ("GET", "HEAD", "OPTIONS")
#: Polling clients revalidate (``If-None-Match``), streams resume (``Last-Event-ID``), and
#: browsers' EventSource sends ``Cache-Control``.
ALLOW_HEADERS = ("If-None-Match", "Last-Event-ID", "Cache-Control")
EXPOSE_HEADERS = ("ETag",)
MAX_AGE_SECONDS = 86400


def preflight_headers() -> dict[str, str]:
    """What a preflight (``OPTIONS``) is answered with, at the edge or the origin."""
    return {
        "Access-Control-Allow-Origin": ALLOW_ORIGIN,
        "Access-Control-Allow-Methods": ", ".join(ALLOW_METHODS),
        "Access-Control-Allow-Headers": ", ".join(ALLOW_HEADERS),
        "Access-Control-Max-Age": str(MAX_AGE_SECONDS),
    }


def response_headers() -> dict[str, str]:
    """What every public answer carries."""
    return {
        "Access-Control-Allow-Origin": ALLOW_ORIGIN,
        "Access-Control-Expose-Headers": ", ".join(EXPOSE_HEADERS),
    }


#: Streams and long-polls: never cached, and readable from any page.
STREAM_HEADERS = {"Cache-Control": "no-store", **response_headers()}


#: The device registration API (``/v1/devices``): apps and pages register, follow and leave,
#: with the credential they were given.
DEVICE_METHODS = ("GET", "POST", "PUT", "DELETE", "OPTIONS")
DEVICE_HEADERS = ("Authorization", "Content-Type")
