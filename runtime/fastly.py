"""What the purger and the publisher share about Fastly's official SDK: the client, and its
errors read without the request (which carries the token)."""

from __future__ import annotations

import time
from dataclasses import dataclass

import fastly
from pydantic import Field, SecretStr, field_validator
from urllib3.exceptions import HTTPError as TransportError

from core.settings import ScorecastSettings, check_token


class FastlySettings(ScorecastSettings):
    """Fastly's API (purges, Fanout publishing). Tokens also come from ``*_file`` secrets."""

    fastly_api_url: str = Field(
        default="https://api.fastly.com", validation_alias="SCORECAST_FASTLY_API_URL"
    )
    fastly_token: SecretStr = Field(
        default=SecretStr(""), validation_alias="SCORECAST_FASTLY_TOKEN"
    )
    fastly_service_id: str = Field(
        default="",
        pattern=r"^([A-Za-z0-9]{8,64})?$",
        validation_alias="SCORECAST_FASTLY_SERVICE_ID",
    )

    _fastly_token = field_validator("fastly_token")(check_token)


#: What the SDK raises: an API answer, a bad argument, or a transport failure.
ERRORS = (fastly.ApiException, fastly.ApiValueError, TransportError)


def fastly_client(settings: FastlySettings) -> fastly.ApiClient:
    configuration = fastly.Configuration(host=settings.fastly_api_url)
    configuration.api_token = settings.fastly_token.get_secret_value()
    return fastly.ApiClient(configuration)


@dataclass(frozen=True)
class Failure:
    message: str
    #: HTTP status, or 0 when no answer came.
    status: int
    retry_after: float | None


def describe(exc: Exception, what: str) -> Failure:
    if isinstance(exc, fastly.ApiException):
        status = int(exc.status or 0)
        return Failure(f"{what} answered {status}", status, retry_after(exc.headers))
    return Failure(f"{what} unreachable: {type(exc).__name__}", 0, None)


def retry_after(headers: object) -> float | None:
    """Seconds to wait, from ``Retry-After`` or Fastly's ``Fastly-RateLimit-Reset`` (epoch)."""
    get = getattr(headers, "get", None)
    if get is None:
        return None
    value = get("Retry-After") or get("retry-after")
    if value and str(value).isdigit():
        return float(value)
    reset = get("Fastly-RateLimit-Reset") or get("fastly-ratelimit-reset")
    if reset and str(reset).isdigit():
        return max(0.0, float(reset) - time.time())
    return None
