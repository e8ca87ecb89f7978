"""The fan site's pages as HTML, from the same records the API serves. Pure: data in, bytes out.

Every page reads well with JavaScript off (the last cached state, start times in UTC); the
script (``static/site.js``) then keeps it live through the JS client and shows times in the
viewer's zone. Markup is semantic (header, nav, main, tables with captions and scoped
headers), scores sit in polite live regions, and everything is a link or a table a keyboard
reaches in order.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, timedelta
from html import escape
from typing import Any

from core.keys import league_key, season_key

#: Where a status goes on a board: live games first, then those to come, then the rest.
_ORDER = {"LIVE": 0, "SCHEDULED": 1, "POSTPONED": 2, "FINAL": 3, "CANCELLED": 4}
_STATUS = {
    "LIVE": "Live",
    "SCHEDULED": "Scheduled",
    "FINAL": "Final",
    "POSTPONED": "Postponed",
    "CANCELLED": "Cancelled",
}


def h(value: object) -> str:
    return escape(str(value), quote=True)


def layout(title: str, body: str, assets: str, page: str, data: dict[str, str]) -> bytes:
    """The frame of every page. ``assets``: the path prefix of this release's CSS and script
    (named by their content, so they are cached for good); ``data``: what the script needs."""
    attributes = "".join(f' data-{h(key)}="{h(value)}"' for key, value in data.items())
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{h(title)} · Scorecast</title>
<link rel="stylesheet" href="{assets}/site.css">
<script type="module" src="{assets}/site.js"></script>
</head>
<body data-page="{h(page)}"{attributes}>
<a class="skip" href="#main">Skip to content</a>
<header><nav aria-label="Site"><a href="/" class="brand">Scorecast</a>
<a href="/">Today</a></nav></header>
<main id="main">
{body}
</main>
<footer><p>Scores from the providers' feeds; times in UTC until the page knows your zone.</p></footer>
</body>
</html>
""".encode()


def _time(value: str | None, style: str = "time") -> str:
    """A start time: UTC in the page, the viewer's zone once the script runs."""
    if not value:
        return "<span>Time to be announced</span>"
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    shown = (
        moment.strftime("%H:%M UTC") if style == "time" else moment.strftime("%a %d %b %H:%M UTC")
    )
    return f'<time datetime="{h(value)}" data-style="{style}">{h(shown)}</time>'


def _status(row: dict[str, Any]) -> str:
    status = str(row.get("status", "SCHEDULED"))
    text = _STATUS.get(status, status.title())
    if status == "LIVE" and row.get("period"):
        text = f"Live · period {row['period']}"
    return f'<span class="status" data-status="{h(status)}">{h(text)}</span>'


def _side(team: dict[str, Any], score: bool) -> str:
    points = f'<span class="score">{h(team.get("score", 0))}</span>' if score else ""
    return (
        f'<span class="team"><abbr title="{h(team.get("name", ""))}">{h(team.get("code", ""))}</abbr>'
        f' <span class="name">{h(team.get("name", ""))}</span></span>{points}'
    )


def game_row(row: dict[str, Any]) -> str:
    """One game on a board: a link to its page, its teams and score, its status or start."""
    started = row.get("status") in ("LIVE", "FINAL")
    when = "" if started else f'<span class="when">{_time(row.get("start_time"))}</span>'
    return (
        f'<li class="game" data-game="{h(row["game_id"])}" data-version="{h(row.get("version", 0))}">'
        f'<a href="/games/{h(row["game_id"])}">'
        f'<span class="side away">{_side(row["away"], started)}</span>'
        f'<span class="side home">{_side(row["home"], started)}</span>'
        f'<span class="state" aria-live="polite">{_status(row)} {when}</span></a></li>'
    )


def board(day: str, rows: Iterable[dict[str, Any]], today: bool) -> tuple[str, str]:
    """A day's board, by league, live games first. Returns (title, body)."""
    leagues: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        leagues.setdefault(str(row.get("league", "")), []).append(row)
    title = "Today's games" if today else f"Games of {day}"
    parts = [f"<h1>{h(title)}</h1>", _day_nav(day)]
    if not leagues:
        parts.append("<p>No games listed for this day yet.</p>")
    for league in sorted(leagues):
        games = sorted(
            leagues[league],
            key=lambda r: (
                _ORDER.get(str(r.get("status")), 9),
                r.get("start_time") or "",
                r["game_id"],
            ),
        )
        key = league_key(league)
        parts.append(
            f'<section aria-labelledby="l-{h(key)}"><h2 id="l-{h(key)}">{h(league)}'
            f' <a class="more" href="/leagues/{h(key)}/standings">standings</a></h2>'
            f'<ul class="games">{"".join(game_row(row) for row in games)}</ul></section>'
        )
    return title, "\n".join(parts)


def _day_nav(day: str) -> str:
    try:
        on = date.fromisoformat(day)
    except ValueError:
        return ""
    before, after = on - timedelta(days=1), on + timedelta(days=1)
    return (
        f'<nav class="days" aria-label="Days"><a href="/day/{before}" rel="prev">← {before}</a>'
        f' <span aria-current="date">{on}</span> <a href="/day/{after}" rel="next">{after} →</a></nav>'
    )


def game_page(
    game: dict[str, Any], box: dict[str, Any], plays: list[dict[str, Any]]
) -> tuple[str, str]:
    """A game: score, status, line score, box score, plays (newest first); before its start,
    its teams, start and venue. Returns (title, body)."""
    home, away = game["home"], game["away"]
    started = game.get("status") in ("LIVE", "FINAL")
    title = f"{away['code']} at {home['code']}"
    facts = [f"<dt>Status</dt><dd>{_status(game)}</dd>"]
    if game.get("start_time") or not started:
        facts.append(f"<dt>Start</dt><dd>{_time(game.get('start_time'), 'full')}</dd>")
    if game.get("venue"):
        facts.append(f"<dt>Venue</dt><dd>{h(game['venue'])}</dd>")
    league = league_key(str(game.get("league", "")))
    season = game.get("season")
    facts.append(
        f'<dt>League</dt><dd><a href="/leagues/{h(league)}/standings">{h(game.get("league"))}</a>'
        + (f" · {h(season)}" if season else "")
        + "</dd>"
    )
    teams = "".join(
        f'<a href="/leagues/{h(league)}/teams/{h(team["team_id"])}/seasons/{h(_season_key(season))}">'
        f"{h(team['name'])}</a> "
        for team in (away, home)
    )
    shootout = game.get("shootout")
    extra = (
        f'<p class="shootout">Shootout: {h(away["code"])} {h(shootout["away"])} – '
        f"{h(shootout['home'])} {h(home['code'])}</p>"
        if shootout
        else ""
    )
    body = f"""<article class="match" data-game="{h(game["game_id"])}" data-version="{h(game.get("version", 0))}">
<h1><span class="side away">{_side(away, False)}</span> at <span class="side home">{_side(home, False)}</span></h1>
<p class="scoreline" aria-live="polite"><span class="away-score">{h(away.get("score", 0))}</span> –
<span class="home-score">{h(home.get("score", 0))}</span> <span class="clock">{h(_clock(game))}</span></p>
{extra}
<dl class="facts">{"".join(facts)}</dl>
<p class="teams">Team pages: {teams}</p>
<p class="notify"><button type="button" hidden>Notify me about this game</button> <span role="status"></span></p>
<section id="line" aria-labelledby="line-h"><h2 id="line-h">Line score</h2>{line_score(game)}</section>
<section id="box" aria-labelledby="box-h"><h2 id="box-h">Box score</h2>{box_score(game, box)}</section>
<section id="plays" aria-labelledby="plays-h"><h2 id="plays-h">Plays</h2>{play_list(game, plays)}</section>
</article>"""
    return title, body


def _season_key(season: object) -> str:
    return season_key(season if isinstance(season, str) else None)


def _clock(game: dict[str, Any]) -> str:
    seconds = game.get("clock_seconds")
    if game.get("status") != "LIVE" or seconds is None:
        return ""
    whole = max(0, int(seconds))
    return f"{whole // 60}:{whole % 60:02d}"


def line_score(game: dict[str, Any]) -> str:
    home, away = game["home"], game["away"]
    count = max(len(home.get("periods") or []), len(away.get("periods") or []))
    if not count:
        return "<p>No period played yet.</p>"
    heads = "".join(f'<th scope="col">{n}</th>' for n in range(1, count + 1))
    rows = ""
    for team in (away, home):
        cells = "".join(
            f"<td>{h(points)}</td>" for points in _padded(team.get("periods") or [], count)
        )
        rows += f'<tr><th scope="row">{h(team["code"])}</th>{cells}<td class="total">{h(team.get("score", 0))}</td></tr>'
    return (
        '<div class="scroll" tabindex="0" role="region" aria-label="Line score"><table class="line"><caption>Points by period</caption>'
        f'<thead><tr><th scope="col">Team</th>{heads}<th scope="col">Total</th></tr></thead>'
        f"<tbody>{rows}</tbody></table></div>"
    )


def _padded(values: list[int], count: int) -> list[int]:
    return [*values, *[0] * (count - len(values))]


#: The box score's columns by sport, in order (stat name, heading).
_COLUMNS = {
    "basketball": [("pts", "PTS"), ("fgm", "FGM"), ("fga", "FGA"), ("fg3m", "3PM"),
                   ("ftm", "FTM"), ("reb", "REB"), ("tov", "TOV"), ("pf", "PF")],
    "ice_hockey": [("pts", "G"), ("penalties", "PEN")],
    "soccer": [("pts", "G"), ("yellow", "YC"), ("red", "RC")],
    "american_football": [("pts", "PTS"), ("touchdown", "TD"), ("field_goal", "FG")],
}  # fmt: skip


def box_score(game: dict[str, Any], box: dict[str, Any]) -> str:
    columns = _COLUMNS.get(str(game.get("sport")), [("pts", "PTS")])
    players = box.get("players") or {}
    if not players:
        return "<p>No player totals yet.</p>"
    parts = []
    for team in (game["away"], game["home"]):
        mine = [line for line in players.values() if line.get("team_id") == team["team_id"]]
        mine.sort(
            key=lambda line: (
                -int(line.get("stats", {}).get(columns[0][0], 0)),
                line.get("name", ""),
            )
        )
        if not mine:
            continue
        heads = "".join(f'<th scope="col">{h(title)}</th>' for _, title in columns)
        rows = "".join(
            f'<tr><th scope="row">{h(line.get("name") or "—")}</th>'
            + "".join(f"<td>{h(line.get('stats', {}).get(stat, 0))}</td>" for stat, _ in columns)
            + "</tr>"
            for line in mine
        )
        parts.append(
            f'<div class="scroll" tabindex="0" role="region" aria-label="{h(team["name"])} box score"><table class="box"><caption>{h(team["name"])}</caption>'
            f'<thead><tr><th scope="col">Player</th>{heads}</tr></thead><tbody>{rows}</tbody></table></div>'
        )
    return "".join(parts) or "<p>No player totals yet.</p>"


def play_list(game: dict[str, Any], plays: list[dict[str, Any]]) -> str:
    """Newest first; scoring plays marked; a record the provider corrected marked as such."""
    if not plays:
        return "<p>No plays yet.</p>"
    codes = {
        game["home"]["team_id"]: game["home"]["code"],
        game["away"]["team_id"]: game["away"]["code"],
    }
    items = []
    for play in reversed(plays):
        event = play.get("event", {})
        scoring = event.get("event_type") == "SCORE"
        corrected = play.get("applied") != play.get("order")
        marks = ""
        if scoring:
            marks += '<span class="mark score-mark">Score</span> '
        if corrected:
            marks += '<span class="mark corrected">Corrected</span> '
        team = codes.get(event.get("team_id"), "")
        period = event.get("period")
        items.append(
            f'<li class="{"scoring" if scoring else "play"}">'
            f'<span class="when">{"P" + h(period) if period else ""} {h(_seconds(event.get("clock_seconds")))}</span> '
            f'{marks}<span class="who">{h(team)}</span> {h(event.get("description", ""))}'
            f' <span class="running">{h(play.get("away", 0))}–{h(play.get("home", 0))}</span></li>'
        )
    return f'<ol class="plays" reversed>{"".join(items)}</ol>'


def _seconds(value: object) -> str:
    if not isinstance(value, (int, float)):
        return ""
    whole = max(0, int(value))
    return f"{whole // 60}:{whole % 60:02d}"


def standings_page(league: str, table: dict[str, Any], leaders: dict[str, Any]) -> tuple[str, str]:
    season = table.get("season", "")
    title = f"{league.upper()} standings {season}".strip()
    rows = "".join(
        f'<tr><td>{h(team["rank"])}</td><th scope="row">{h(team["name"])}</th>'
        f"<td>{h(team.get('games', 0))}</td><td>{h(team['wins'])}</td><td>{h(team['losses'])}</td>"
        f"<td>{h(team.get('ties', 0))}</td><td>{h(team.get('points', 0))}</td>"
        f"<td>{h(format(team.get('pct', 0), '.3f'))}</td></tr>"
        for team in table.get("teams", [])
    )
    top = "".join(
        f'<li>{h(leader["name"] or leader["player_id"])} <span class="pts">{h(leader["pts"])}</span></li>'
        for leader in leaders.get("leaders", [])
    )
    body = f"""<h1>{h(title)}</h1>
<p class="rule">Ranked by {h(table.get("rule", ""))}.</p>
<div class="scroll" tabindex="0" role="region" aria-label="Standings"><table class="standings"><caption>Standings</caption>
<thead><tr><th scope="col">#</th><th scope="col">Team</th><th scope="col">GP</th><th scope="col">W</th>
<th scope="col">L</th><th scope="col">T</th><th scope="col">PTS</th><th scope="col">PCT</th></tr></thead>
<tbody>{rows or '<tr><td colspan="8">No final yet.</td></tr>'}</tbody></table></div>
<section aria-labelledby="leaders-h"><h2 id="leaders-h">Leaders</h2><ol class="leaders">{top or "<li>None yet.</li>"}</ol></section>"""
    return title, body


def team_page(
    league: str, season: str, team_id: str, games: list[dict[str, Any]]
) -> tuple[str, str]:
    """A team's season: results, then fixtures, each linking to its game."""
    named = next(
        (
            side
            for row in games
            for side in (row["home"], row["away"])
            if side["team_id"] == team_id
        ),
        {"name": team_id},
    )
    title = f"{named['name']} · {season}"
    played = [row for row in games if row.get("status") == "FINAL"]
    coming = [row for row in games if row.get("status") != "FINAL"]
    body = (
        f"<h1>{h(title)}</h1>"
        f'<section aria-labelledby="r-h"><h2 id="r-h">Results</h2><ul class="games">'
        f"{''.join(game_row(row) for row in played) or '<li>None yet.</li>'}</ul></section>"
        f'<section aria-labelledby="f-h"><h2 id="f-h">Fixtures</h2><ul class="games">'
        f"{''.join(game_row(row) for row in coming) or '<li>None listed.</li>'}</ul></section>"
    )
    return title, body
