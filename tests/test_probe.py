"""The freshness probe against a stand-in edge whose answers the test sets: a new version is
measured from its ``ingested_at``, the first look at a game is not, an older version than one
seen counts as ``went_back``, an unknown game as ``not_found``; without games it follows the
boards' games that are not final; bad settings are refused by name."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from local.process import free_port
from probe.service import Probe
from probe.settings import ProbeSettings
from tests.conftest import ThreadedServer
from tests.helpers import eventually, running


class _Edge:
    """What the stand-in edge serves: each game's version and when its event was ingested."""

    def __init__(self) -> None:
        self.games: dict[str, tuple[int, datetime]] = {}
        self.board: list[dict[str, Any]] = []

    def app(self) -> Starlette:
        async def game(request: Request) -> Response:
            found = self.games.get(request.path_params["game_id"])
            if found is None:
                return JSONResponse({"error": {"status": 404}}, status_code=404)
            version, ingested = found
            etag = f'"v{version}"'
            if request.headers.get("if-none-match") == etag:
                return Response(status_code=304, headers={"ETag": etag})
            body = {"game_id": request.path_params["game_id"], "version": version,
                    "ingested_at": ingested.isoformat()}  # fmt: skip
            return JSONResponse(body, headers={"ETag": etag})

        async def board(request: Request) -> Response:
            day = request.path_params["day"]
            today = str(datetime.now(UTC).date())
            games = self.board if day == today else []
            return Response(json.dumps({"version": 1, "games": games}))

        return Starlette(
            routes=[
                Route("/v1/games/{game_id}", game),
                Route("/v1/scoreboard/{day}", board),
            ]
        )


@pytest.fixture
def edge() -> Iterator[tuple[_Edge, str]]:
    stand_in = _Edge()
    with ThreadedServer(stand_in.app(), free_port()) as server:
        yield stand_in, server.url


async def _ready(probe: Probe) -> bool:
    return await probe.ready() is None


def _value(probe: Probe, name: str, labels: dict[str, str] | None = None) -> float:
    return probe.registry.get_sample_value(name, labels or {}) or 0.0


async def test_new_versions_are_measured_and_what_a_fan_must_never_see_is_counted(
    edge: tuple[_Edge, str],
) -> None:
    stand_in, url = edge
    now = datetime.now(UTC)
    stand_in.games["g1"] = (3, now - timedelta(hours=1))  # old news when the probe starts
    settings = ProbeSettings(edge_url=url, games=["g1", "nope"], interval_seconds=0.05)
    probe = Probe(settings)
    async with running(probe):
        await eventually(lambda: _value(probe, "scorecast_probe_errors_total",
                                        {"reason": "not_found"}) >= 1)  # fmt: skip
        await eventually(lambda: _ready(probe))
        # The first look found version 3: not measured (it was not just published).
        assert _value(probe, "scorecast_probe_fresh_seconds_count") == 0
        stand_in.games["g1"] = (4, datetime.now(UTC) - timedelta(seconds=1.5))
        await eventually(lambda: _value(probe, "scorecast_probe_fresh_seconds_count") == 1)
        # 1.5 s after ingest: within 2 s, not within 1 s.
        assert _value(probe, "scorecast_probe_fresh_seconds_bucket", {"le": "2.0"}) == 1
        assert _value(probe, "scorecast_probe_fresh_seconds_bucket", {"le": "1.0"}) == 0
        stand_in.games["g1"] = (2, datetime.now(UTC))  # an edge going back
        await eventually(
            lambda: _value(probe, "scorecast_probe_errors_total", {"reason": "went_back"}) >= 1
        )
        assert _value(probe, "scorecast_probe_fresh_seconds_count") == 1
        assert _value(probe, "scorecast_probe_games") == 2


async def test_without_games_it_follows_the_boards_games_not_final(
    edge: tuple[_Edge, str],
) -> None:
    stand_in, url = edge
    stand_in.games = {"live": (1, datetime.now(UTC)), "over": (9, datetime.now(UTC))}
    stand_in.board = [
        {"game_id": "live", "status": "LIVE"},
        {"game_id": "over", "status": "FINAL"},
    ]
    probe = Probe(ProbeSettings(edge_url=url, interval_seconds=0.05))
    async with running(probe):
        await eventually(lambda: _value(probe, "scorecast_probe_games") == 1)
        await eventually(lambda: _ready(probe))
        assert _value(probe, "scorecast_probe_errors_total", {"reason": "not_found"}) == 0


@pytest.mark.parametrize(
    ("given", "field"),
    [
        ({"games": ["bad id!"]}, "games"),
        ({"edge_url": "ftp://edge.example"}, "edge_url"),
        ({"interval_seconds": 0}, "interval_seconds"),
    ],
)
def test_bad_settings_are_refused_by_name(given: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError, match=field):
        ProbeSettings(**given)


async def test_its_listener_says_when_it_is_ready(edge: tuple[_Edge, str]) -> None:
    stand_in, url = edge
    stand_in.games["g1"] = (1, datetime.now(UTC))
    port = free_port()
    settings = ProbeSettings(edge_url=url, games=["g1"], interval_seconds=0.05, metrics_port=port)
    async with running(Probe(settings)), httpx.AsyncClient(timeout=5) as http:

        async def ready() -> bool:
            return (await http.get(f"http://127.0.0.1:{port}/ready")).status_code == 200

        await eventually(ready)
        text = (await http.get(f"http://127.0.0.1:{port}/metrics")).text
        assert "scorecast_probe_games 1.0" in text
