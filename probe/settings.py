"""The freshness probe's settings (``SCORECAST_PROBE_*``)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from core import ids
from core.settings import ServiceSettings


class ProbeSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="SCORECAST_PROBE_")

    #: The public hostname, as a fan reaches it.
    edge_url: str = Field(default="http://127.0.0.1:6081", pattern=r"^https?://[^\s/]+/?$")
    #: Games to follow; empty: every game not final on today's board (UTC day) and yesterday's.
    games: list[Annotated[str, Field(pattern=ids.ID)]] = Field(default_factory=list)
    #: How often each game is asked for. Part of the figure: a version is seen up to this late.
    interval_seconds: float = Field(default=0.5, gt=0, le=60)
    #: How often the board is read again for games that start or end.
    board_seconds: float = Field(default=30.0, gt=0)
    #: Requests in flight at once (a match day follows hundreds of games).
    concurrency: int = Field(default=32, ge=1, le=1000)
    timeout_seconds: float = Field(default=5.0, gt=0)
