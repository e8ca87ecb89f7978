"""The origin's OpenAPI document, served at ``/openapi.json`` and fuzzed in the tests."""

from __future__ import annotations

from typing import Any

from core.models import Game

_ERROR = {"$ref": "#/components/schemas/Error"}
_JSON = "application/json"


def _answer(description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    if schema is None:
        return {"description": description}
    return {"description": description, "content": {_JSON: {"schema": schema}}}


def _errors(*statuses: int) -> dict[str, Any]:
    texts = {
        400: "bad identifier or parameter",
        404: "unknown game or version",
        503: "score store unavailable; retry shortly",
    }
    return {str(status): _answer(texts[status], _ERROR) for status in statuses}


def _param(
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


# The same patterns the origin checks (origin/routes.py, origin/streams.py).
_NUMBER = r"^[0-9]{1,12}$"
_GAME_ID = _param(
    "game_id", "path", "letters, digits, '.', '_' or '-'; at most 64",
    r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$",
)  # fmt: skip
# Any value: one that is not a matching ETag simply gets the full answer.
_IF_NONE_MATCH = _param("If-None-Match", "header", "an ETag from an earlier answer", None, False)
_LAST_EVENT_ID = _param("Last-Event-ID", "header", "the last version received", _NUMBER, False)
_LEAGUE = _param(
    "league", "path", "lowercase league key, e.g. nba, 2-bundesliga", r"^[a-z0-9][a-z0-9-]{0,31}$"
)


def _get(summary: str, parameters: list[dict[str, Any]], responses: dict[str, Any]) -> Any:
    return {"get": {"summary": summary, "parameters": parameters, "responses": responses}}


def document() -> dict[str, Any]:
    game_schema = Game.model_json_schema(ref_template="#/components/schemas/{model}")
    nested = game_schema.pop("$defs", {})
    # Snapshots leave the box score out: it is its own resource.
    game_schema["properties"].pop("box", None)
    game = {"$ref": "#/components/schemas/Game"}
    any_object = {"type": "object"}
    stream = {
        "200": {
            "description": "server-sent events: id = version, event = score | state | final",
            "content": {"text/event-stream": {"schema": {"type": "string"}}},
        }
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Scorecast",
            "version": "1",
            "description": "Live scores as versioned snapshots. Strong ETags are versions.",
        },
        "paths": {
            "/v1/games/{game_id}": _get(
                "The latest snapshot of a game; with ?after=N, a long-poll for a newer one",
                [
                    _GAME_ID,
                    _IF_NONE_MATCH,
                    _param("after", "query", "wait for a version above this", _NUMBER, False),
                ],
                {
                    "200": _answer("the snapshot", game),
                    "204": _answer("long-poll: nothing newer yet"),
                    "304": _answer("not modified (the ETag still matches)"),
                    **_errors(400, 404, 503),
                },
            ),
            "/v1/games/{game_id}/versions/{version}": _get(
                "One immutable version",
                [
                    _GAME_ID,
                    _param("version", "path", "a positive whole number", r"^[1-9][0-9]{0,11}$"),
                    _IF_NONE_MATCH,
                ],
                {
                    "200": _answer("the version", game),
                    "304": _answer("not modified"),
                    **_errors(400, 404, 503),
                },
            ),
            "/v1/games/{game_id}/boxscore": _get(
                "Player and team totals",
                [_GAME_ID, _IF_NONE_MATCH],
                {
                    "200": _answer("the box score", any_object),
                    "304": _answer("not modified"),
                    **_errors(400, 404, 503),
                },
            ),
            "/v1/games/{game_id}/stream": _get(
                "Server-sent events of a game",
                [_GAME_ID, _LAST_EVENT_ID],
                {**stream, **_errors(400, 404, 503)},
            ),
            "/v1/scoreboard": _get(
                "Every current game",
                [_IF_NONE_MATCH],
                {
                    "200": _answer("the scoreboard", any_object),
                    "304": _answer("not modified"),
                    **_errors(503),
                },
            ),
            "/v1/scoreboard/stream": _get(
                "Server-sent events of the scoreboard",
                [_LAST_EVENT_ID],
                {**stream, **_errors(400, 503)},
            ),
            "/v1/leagues/{league}/standings": _get(
                "A league's standings",
                [_LEAGUE, _IF_NONE_MATCH],
                {
                    "200": _answer("the table", any_object),
                    "304": _answer("not modified"),
                    **_errors(400, 503),
                },
            ),
            "/v1/leagues/{league}/leaders": _get(
                "A league's top scorers",
                [_LEAGUE, _IF_NONE_MATCH],
                {
                    "200": _answer("the leaderboard", any_object),
                    "304": _answer("not modified"),
                    **_errors(400, 503),
                },
            ),
            "/healthz": _get("Liveness", [], {"200": _answer("alive", any_object)}),
            "/readyz": _get(
                "Readiness (the score store answers)",
                [],
                {"200": _answer("ready", any_object), **_errors(503)},
            ),
        },
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
