"""``scorecast up``'s settings (``SCORECAST_STACK_*``): which ports to use (0 picks a free one)
and where to keep run files."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from core.settings import ScorecastSettings


class StackSettings(ScorecastSettings):
    model_config = SettingsConfigDict(env_prefix="SCORECAST_STACK_")
    # SCORECAST_ORIGIN_PORT is the origin's own port now.
    legacy_names: ClassVar[dict[str, str | None]] = {"origin_port": None}

    redis_port: int = Field(default=0, ge=0, le=65535)
    broker_port: int = Field(default=0, ge=0, le=65535)
    origin_port: int = Field(default=0, ge=0, le=65535)
    edge_port: int = Field(default=0, ge=0, le=65535)
    #: Where logs and Varnish's work files go (default: a new temporary directory).
    run_dir: str = ""
    #: The recorded games (default: ``shared/data`` beside the checkout); the tests and the
    #: benchmarks read the same variable.
    data_dir: str = Field(default="", validation_alias="SCORECAST_DATA_DIR")
