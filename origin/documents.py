"""The API's documents, rendered from the records the store returns."""

from __future__ import annotations

import json
from typing import Any

from core import standings
from core.keys import league_key
from core.store import Board, Leaders, Records, Snapshot


def render(document: object) -> bytes:
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode()


def scoreboard(board: Board) -> Snapshot:
    """Every game's row of the parts read, by game id; its version is theirs."""
    games = [json.loads(board.rows[game_id]) for game_id in sorted(board.rows)]
    return Snapshot(board.version, render({"version": board.version, "games": games}))


def standings_table(league: str, table: Records, season: str) -> Snapshot:
    """A league's teams of a season ranked by its sport's rule (:func:`core.standings.rank`)."""
    ranked = standings.rank([json.loads(row) for row in table.rows.values()], table.sport)
    body = {
        "league": league_key(league),
        "season": season,
        "rule": standings.rule(table.sport),
        "version": table.version,
        "teams": ranked,
    }
    return Snapshot(table.version, render(body))


def teams(league: str, known: dict[str, bytes]) -> bytes:
    """A league's teams (code, full name, city), by code."""
    rows = sorted(
        (json.loads(team) for team in known.values()), key=lambda t: (t["code"], t["team_id"])
    )
    return render({"league": league_key(league), "teams": rows})


def team_season(league: str, season: str, team_id: str, games: Records) -> Snapshot:
    """A team's games of a season, by start (results and fixtures)."""
    rows = [json.loads(row) for row in games.rows.values()]
    rows.sort(key=lambda row: (row.get("start_time") or "", row["game_id"]))
    body = {
        "league": league_key(league),
        "season": season,
        "team_id": team_id,
        "version": games.version,
        "games": rows,
    }
    return Snapshot(games.version, render(body))


def leaders(league: str, found: Leaders, season: str) -> Snapshot:
    rows: list[dict[str, Any]] = []
    for place, (player_id, score, record) in enumerate(found.ranked, start=1):
        player = json.loads(record) if record else {}
        rows.append(
            {
                "rank": place,
                "player_id": player_id,
                "name": player.get("name", ""),
                "team_id": player.get("team_id"),
                "pts": score,
            }
        )
    body = {
        "league": league_key(league),
        "season": season,
        "version": found.version,
        "leaders": rows,
    }
    return Snapshot(found.version, render(body))


def box_score(game_id: str, box: Snapshot) -> bytes:
    return render({"game_id": game_id, "version": box.version, "box": json.loads(box.body)})
