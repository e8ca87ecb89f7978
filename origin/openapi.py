"""The origin's OpenAPI document, served at ``/openapi.json`` and fuzzed in the tests.

It is built from the route table (:data:`origin.routes.ENDPOINTS`): each endpoint carries its
own operation, and the patterns it checks come from :mod:`core.ids`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from core import ids
from core.models import Game

_ERROR = {"$ref": "#/components/schemas/Error"}
_JSON = "application/json"
GAME = {"$ref": "#/components/schemas/Game"}
ANY_OBJECT = {"type": "object"}

Operation = dict[str, Any]


@dataclass(frozen=True)
class Documented:
    """A path and its GET operation, as the route table gives them."""

    path: str
    operation: Operation


def answer(description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    if schema is None:
        return {"description": description}
    return {"description": description, "content": {_JSON: {"schema": schema}}}


def errors(*statuses: int) -> dict[str, Any]:
    texts = {
        400: "bad identifier or parameter",
        404: "unknown game or version",
        410: "a version of a finished game that retired; Link points at the latest",
        503: "score store unavailable; retry shortly",
    }
    return {str(status): answer(texts[status], _ERROR) for status in statuses}


def cached(description: str, schema: dict[str, Any], *statuses: int) -> dict[str, Any]:
    """The answers of a cacheable read: 200, 304 and the given errors."""
    return {
        "200": answer(description, schema),
        "304": answer("not modified (the ETag still matches)"),
        **errors(*statuses),
    }


STREAM = {
    "200": {
        "description": "server-sent events: id = version, event = score | state | final",
        "content": {"text/event-stream": {"schema": {"type": "string"}}},
    }
}
PAGE = {
    "200": {"description": "the page", "content": {"text/html": {"schema": {"type": "string"}}}}
}


def page(*statuses: int) -> dict[str, Any]:
    """The answers of a fan site page: the page, 304, a 400 (JSON, as the API's), and a 404
    that is a page itself (an unknown game)."""
    html = {"text/html": {"schema": {"type": "string"}}}
    found: dict[str, Any] = {
        **PAGE,
        "304": answer("not modified (the ETag still matches)"),
        **errors(*(status for status in statuses if status != 404)),
    }
    if 404 in statuses:
        found["404"] = {"description": "no such game yet", "content": html}
    return found


SCRIPT = {
    "200": {
        "description": "the module",
        "content": {"text/javascript": {"schema": {"type": "string"}}},
    }
}


def param(
    name: str, where: str, description: str, pattern: str | None = None, required: bool = True
) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "string"}
    if pattern is not None:
        schema["pattern"] = pattern
    return {
        "name": name,
        "in": where,
        "required": required,
        "description": description,
        "schema": schema,
    }


GAME_ID = param("game_id", "path", "letters, digits, '.', '_' or '-'; at most 64", ids.ID)
VERSION = param("version", "path", "a positive whole number", ids.VERSION)
LEAGUE = param("league", "path", "lowercase league key, e.g. nba, 2-bundesliga", ids.LEAGUE)
DAY = param("day", "path", "the day a game is listed on (YYYY-MM-DD) or 'undated'", ids.DAY)
SEASON = param(
    "season", "path", "a season key, e.g. 2023-24, 2018-2019, or 'unspecified'", ids.SEASON
)
TEAM_ID = param("team_id", "path", "the provider's team id", ids.ID)
RELEASE = param(
    "release", "path", "the site's release (named by its assets' content)", "^[0-9a-f]{8}$"
)
ASSET = param("name", "path", "site.css or site.js", "^site[.](css|js)$")
AFTER = param("after", "query", "wait for a version above this", ids.HELD_VERSION, False)
# Any value: one that is not a matching ETag simply gets the full answer.
IF_NONE_MATCH = param("If-None-Match", "header", "an ETag from an earlier answer", None, False)
LAST_EVENT_ID = param(
    "Last-Event-ID", "header", "the last version received", ids.HELD_VERSION, False
)


def get(summary: str, parameters: list[dict[str, Any]], responses: dict[str, Any]) -> Operation:
    return {"summary": summary, "parameters": parameters, "responses": responses}


def document(endpoints: Sequence[Documented]) -> dict[str, Any]:
    game_schema = Game.model_json_schema(ref_template="#/components/schemas/{model}")
    nested = game_schema.pop("$defs", {})
    # Snapshots leave the box score out: it is its own resource.
    game_schema["properties"].pop("box", None)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Scorecast",
            "version": "1",
            "description": "Live scores as versioned snapshots. Strong ETags are versions.",
        },
        "paths": {endpoint.path: {"get": endpoint.operation} for endpoint in endpoints},
        "components": {
            "schemas": {
                **nested,
                "Game": game_schema,
                "Error": {
                    "type": "object",
                    "required": ["error"],
                    "properties": {
                        "error": {
                            "type": "object",
                            "required": ["status", "code", "message"],
                            "properties": {
                                "status": {"type": "integer"},
                                "code": {"type": "string"},
                                "message": {"type": "string"},
                            },
                        }
                    },
                },
            }
        },
    }
