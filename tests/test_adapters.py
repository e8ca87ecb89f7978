"""Every recorded game, in every format: our fold must agree with the feed and the known final."""

from __future__ import annotations

import copy
import json
import random
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.errors import FeedFormatError
from core.models import Game, GameEvent, GameStatus
from core.reducer import apply, fold
from feeds.adapters import Feed, decode, load, parse
from feeds.adapters.common import free_throw_points
from feeds.validate import validate
from harness.timeline import recorded_games
from publisher.reorder import ReorderBuffer
from tests.factories import noisy_delivery

# file, format, (home code, home score), (away code, away score), periods — from SOURCES.md
GAMES = [
    ("basketball/nba-cdn-livedata_0022000001.json", "nba-livedata", ("BKN", 125), ("GSW", 99), 4),
    ("basketball/nba-stats-playbyplayv2_0021900001.json", "nba-stats-playbyplayv2",
     ("TOR", 130), ("NOP", 122), 5),
    ("basketball/nba-stats-playbyplayv2_0022100732.json", "nba-stats-playbyplayv2",
     ("POR", 112), ("DAL", 132), 4),
    ("hockey/nhl-apiweb-pbp_2023020001.json", "nhl-apiweb", ("TBL", 5), ("NSH", 3), 3),
    ("american_football/espn-cfb-summary_401628358.json", "espn-summary", ("OU", 34),
     ("TULN", 19), 4),
    ("soccer/statsbomb_15986.json", "statsbomb", ("BAR", 2), ("GIR", 2), 2),
    ("soccer/statsperform-ma3_71pif9hi2vwzp6q0xzilyxst0.json", "statsperform-ma3", ("HSV", 2),
     ("SVS", 1), 2),
]  # fmt: skip
FILES = [game[0] for game in GAMES]

# Where each format keeps its records, to corrupt some of them.
RECORDS: dict[str, tuple[str | int, ...]] = {
    "nba-livedata": ("game", "actions"),
    "nba-stats-playbyplayv2": ("resultSets", 0, "rowSet"),
    "nhl-apiweb": ("plays",),
    "espn-summary": ("drives", "previous", 3, "plays"),
    "statsbomb": (),
    "statsperform-ma3": ("liveData", "event"),
}
JUNK: list[Any] = [None, "garbage", 42, 3.5, [], {}, {"typeId": "x"}, [1, 2], True]


@pytest.mark.parametrize(("file", "format", "home", "away", "periods"), GAMES, ids=FILES)
def test_each_game_folds_to_its_final_with_no_mismatch(
    data_dir: Path,
    file: str,
    format: str,
    home: tuple[str, int],
    away: tuple[str, int],
    periods: int,
) -> None:
    result = validate(load(data_dir / file))
    summary = result.summary()
    assert summary["format"] == format
    assert summary["mismatches"] == 0, result.first_mismatches
    assert summary["unrecognized"] == 0
    assert (summary["home"]["code"], summary["home"]["score"]) == home
    assert (summary["away"]["code"], summary["away"]["score"]) == away
    assert summary["status"] == "FINAL"
    assert summary["periods"] == periods


def test_every_recorded_game_ends_final_with_the_providers_word(data_dir: Path) -> None:
    """Every game in the data folder, the ones added after this test too: it ends FINAL, every
    running score the provider states agrees with ours, and so does its stated final."""
    games = recorded_games(data_dir)
    assert len(games) >= len(GAMES)
    for path in games:
        result = validate(load(path))
        summary = result.summary()
        assert summary["status"] == "FINAL", path.name
        assert summary["mismatches"] == 0, (path.name, result.first_mismatches)
        assert summary["final_agrees"] is not False, path.name
        assert summary["ok"], path.name


def test_validate_prints_one_json_object(data_dir: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "scorecast", "validate", str(data_dir / FILES[3]), "--json"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    summary = json.loads(out)
    assert set(summary) == {
        "format", "game_id", "sport", "events", "unrecognized", "unreadable_scoring", "home",
        "away", "status",
        "periods", "checked", "mismatches", "stated_final", "final_agrees", "problems", "ok",
    }  # fmt: skip
    assert (summary["stated_final"], summary["final_agrees"], summary["ok"]) == ([5, 3], True, True)
    assert summary["sport"] == "ice_hockey"
    assert summary["home"] == {"code": "TBL", "name": "Tampa Bay Lightning", "score": 5}


def test_validate_exits_non_zero_when_the_running_score_contradicts_the_plays(
    data_dir: Path, tmp_path: Path
) -> None:
    """A copy of a real game whose running score was tampered with after one basket: the fold
    disagrees with the feed from there on, and the exit code says so."""
    payload = json.loads((data_dir / FILES[0]).read_bytes())
    actions = payload["game"]["actions"]
    scored = next(a for a in actions if a.get("shotResult") == "Made" and a["orderNumber"] > 100)
    scored["scoreHome"] = str(int(scored["scoreHome"]) + 1)
    tampered = tmp_path / "tampered.json"
    tampered.write_text(json.dumps(payload))
    result = subprocess.run(
        [sys.executable, "-m", "scorecast", "validate", str(tampered), "--json"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1, result.stderr
    assert json.loads(result.stdout)["mismatches"] >= 1
    clean = subprocess.run(
        [sys.executable, "-m", "scorecast", "validate", str(data_dir / FILES[0])],
        capture_output=True,
        text=True,
        check=False,
    )
    assert clean.returncode == 0, clean.stdout


def _validate_json(path: Path) -> tuple[int, dict[str, Any]]:
    result = subprocess.run(
        [sys.executable, "-m", "scorecast", "validate", str(path), "--json"],
        capture_output=True,
        text=True,
        check=False,
    )
    return result.returncode, json.loads(result.stdout)


def test_football_plays_that_contradict_the_running_score_exit_non_zero(
    data_dir: Path, tmp_path: Path
) -> None:
    """ESPN carries both: the score is computed from the plays, so a touchdown whose text says
    the kick missed while the running score counted it shows up."""
    espn = next(file for file in FILES if "espn" in file)
    payload = json.loads((data_dir / espn).read_bytes())
    plays = [play for drive in payload["drives"]["previous"] for play in drive["plays"]]
    touchdown = next(play for play in plays if "KICK)" in play["text"])
    touchdown["text"] = touchdown["text"].replace("KICK)", "PAT MISSED)")
    tampered = tmp_path / "espn.json"
    tampered.write_text(json.dumps(payload))
    code, summary = _validate_json(tampered)
    assert code == 1
    assert summary["mismatches"] >= 1
    assert summary["final_agrees"] is False  # 33 from the plays, 34 stated
    assert summary["problems"] == 1


def test_a_final_other_than_the_stated_one_exits_non_zero(data_dir: Path, tmp_path: Path) -> None:
    hockey = next(file for file in FILES if "nhl" in file)
    payload = json.loads((data_dir / hockey).read_bytes())
    payload["homeTeam"]["score"] = 6
    payload["plays"] = [p for p in payload["plays"] if p.get("typeDescKey") != "game-end"]
    tampered = tmp_path / "nhl.json"
    tampered.write_text(json.dumps(payload))
    code, summary = _validate_json(tampered)
    assert (code, summary["mismatches"], summary["final_agrees"]) == (1, 0, False)


def test_g_league_free_throws_count_what_the_feed_says_they_are_worth(data_dir: Path) -> None:
    """A real playbyplayv2 game rewritten as the G League plays it: every made free throw is one
    shot worth 2 ("Free Throw 2PT"), and the running score follows."""
    file = next(file for file in FILES if "playbyplayv2" in file)
    payload = json.loads((data_dir / file).read_bytes())
    headers = payload["resultSets"][0]["headers"]
    extra = {"home": 0, "visitor": 0}
    converted = 0
    for row in payload["resultSets"][0]["rowSet"]:
        values = dict(zip(headers, row, strict=True))
        for side, column in (("home", "HOMEDESCRIPTION"), ("visitor", "VISITORDESCRIPTION")):
            text = values[column] or ""
            if values["EVENTMSGTYPE"] == 3 and "MISS" not in text and "Free Throw" in text:
                name = text.split(" Free Throw")[0]
                row[headers.index(column)] = f"{name} Free Throw 2PT (1 PTS)"
                extra[side] += 1
                converted += 1
        if values["SCORE"]:
            visitor, home = (int(part) for part in values["SCORE"].split(" - "))
            row[headers.index("SCORE")] = f"{visitor + extra['visitor']} - {home + extra['home']}"
    assert converted > 20
    result = validate(parse(payload, source=Path(file).stem))
    assert result.mismatches == 0, result.first_mismatches
    assert (result.game.home.score, result.game.away.score) == (
        130 + extra["home"],
        122 + extra["visitor"],
    )


@pytest.mark.parametrize(
    ("description", "points"),
    [
        ("Player1 Free Throw 2PT (2 PTS)", 2),
        ("Free Throw 3PT", 3),
        ("Free Throw 2 PT", 2),
        ("Free Throw 1PT", 1),
        ("Player3 Free Throw 1 of 2 (1 PTS)", None),
        ("Free Throw Technical (12 PTS)", None),
        ("Free Throw Flagrant 2 of 2 (2 PTS)", None),
    ],
)
def test_what_a_free_throw_is_worth(description: str, points: int | None) -> None:
    assert free_throw_points(description) == points


def test_a_feed_without_a_running_score_says_it_checked_nothing(data_dir: Path) -> None:
    statsbomb = next(file for file in FILES if "statsbomb" in file)
    result = validate(load(data_dir / statsbomb))
    assert result.checked == 0
    assert "not checked" in result.text()


def _through_reorder(events: list[GameEvent]) -> Game | None:
    buffer: ReorderBuffer[None] = ReorderBuffer(hold=float("inf"))
    game: Game | None = None
    for event in events:
        if game is not None and event.sequence <= game.sequence:
            continue
        buffer.add(event, None, now=0.0)
        for held in buffer.release(game.sequence if game else -1, now=0.0).held:
            game = apply(game, held.event)
    return game


def _same(a: Game | None, b: Game | None) -> bool:
    assert a is not None
    assert b is not None
    return a.model_dump(exclude={"version", "ingested_at"}) == b.model_dump(
        exclude={"version", "ingested_at"}
    )


@pytest.fixture(scope="module")
def feeds(data_dir: Path) -> dict[str, Feed]:
    return {file: load(data_dir / file) for file in FILES}


@settings(max_examples=10, deadline=None, derandomize=True)
@given(seed=st.integers(0, 2**32 - 1), window=st.integers(2, 20))
def test_shuffled_and_duplicated_delivery_gives_the_same_game(
    feeds: dict[str, Feed], seed: int, window: int
) -> None:
    for file, feed in feeds.items():
        rng = random.Random(seed)
        noisy = noisy_delivery(feed.events, rng, window)
        assert _same(_through_reorder(noisy), fold(feed.events)), file


def _records(payload: Any, path: tuple[str | int, ...]) -> list[Any]:
    for step in path:
        payload = payload[step]
    assert isinstance(payload, list)
    return payload


@pytest.mark.parametrize("file", FILES)
def test_malformed_records_are_counted_never_fatal(data_dir: Path, file: str) -> None:
    original = json.loads((data_dir / file).read_bytes())
    format = next(game[1] for game in GAMES if game[0] == file)
    rng = random.Random(file)
    payload = copy.deepcopy(original)
    records = _records(payload, RECORDS[format])
    # Damage records that carry no team identity, so the game itself stays readable.
    damaged = rng.sample(range(len(records) // 2, len(records)), min(5, len(records) // 2))
    for index in damaged:
        records[index] = rng.choice(JUNK)
    feed = parse(payload, source=Path(file).stem)
    assert feed.unrecognized == len(damaged) > 0
    assert validate(feed).game.game_id == load(data_dir / file).game_id


@pytest.mark.parametrize("file", FILES)
def test_records_a_document_repeats_count_once(data_dir: Path, file: str) -> None:
    """Every record of a real game sent twice (a provider re-send, a re-polled document):
    the same events, the same final, nothing counted twice."""
    original = load(data_dir / file)
    payload = json.loads((data_dir / file).read_bytes())
    format = next(game[1] for game in GAMES if game[0] == file)
    lists = (
        [drive["plays"] for drive in payload["drives"]["previous"]]
        if format == "espn-summary"
        else [_records(payload, RECORDS[format])]
    )
    for records in lists:
        records.extend(copy.deepcopy(records))
    feed = parse(payload, source=Path(file).stem)
    assert [e.event_id for e in feed.events] == [e.event_id for e in original.events]
    twice, once = validate(feed).game, validate(original).game
    assert (twice.home.score, twice.away.score) == (once.home.score, once.away.score)
    assert twice.box == once.box


@pytest.mark.parametrize("file", FILES)
def test_a_truncated_game_is_read_up_to_where_it_stops(data_dir: Path, file: str) -> None:
    payload = json.loads((data_dir / file).read_bytes())
    format = next(game[1] for game in GAMES if game[0] == file)
    records = _records(payload, RECORDS[format])
    del records[len(records) * 2 // 3 :]
    game = validate(parse(payload, source=Path(file).stem)).game
    assert game.status is not GameStatus.SCHEDULED
    if format != "espn-summary":  # ESPN still carries later drives beyond the cut list
        assert game.status is GameStatus.LIVE


@pytest.mark.parametrize(
    "payload",
    [{}, [], None, "text", 7, {"game": {"actions": "x"}}, {"resultSets": [{"headers": "x"}]},
     {"plays": [], "homeTeam": None}, [{"index": "1"}]],
)  # fmt: skip
def test_unknown_payloads_are_refused_clearly(payload: Any) -> None:
    with pytest.raises(FeedFormatError):
        parse(payload)


@pytest.mark.parametrize(
    ("game_id", "league"),
    [
        ("0022000001", "NBA"),
        ("1022300101", "WNBA"),
        ("2022300005", "G League"),
        ("99x", "basketball"),
    ],
)
def test_the_nba_feeds_sister_leagues_are_told_apart_by_game_id(
    data_dir: Path, game_id: str, league: str
) -> None:
    """The same formats serve the WNBA and the G League; their standings must not mix."""
    payload = json.loads((data_dir / FILES[0]).read_bytes())
    payload["game"]["gameId"] = game_id
    assert fold(parse(payload).events).league == league  # type: ignore[union-attr]
    stats = json.loads((data_dir / FILES[1]).read_bytes())
    column = stats["resultSets"][0]["headers"].index("GAME_ID")
    for row in stats["resultSets"][0]["rowSet"]:
        row[column] = game_id
    assert parse(stats).events[0].game is not None
    assert parse(stats).events[0].game.league == league  # type: ignore[union-attr]


def _nba_stats_made_basket(payload: Any) -> None:
    headers = payload["resultSets"][0]["headers"]
    row = next(
        r for r in payload["resultSets"][0]["rowSet"] if r[headers.index("EVENTMSGTYPE")] == 1
    )
    row[headers.index("PERIOD")] = "first"


def _espn_touchdown(payload: Any) -> None:
    plays = [p for d in payload["drives"]["previous"] for p in d["plays"]]
    next(p for p in plays if "Touchdown" in p["type"]["text"])["sequenceNumber"] = None


# How to make one scoring record of each format unreadable, and the kind it is reported as.
UNREADABLE_GOALS: dict[str, tuple[Any, str]] = {
    "nba-livedata": (
        lambda d: next(a for a in d["game"]["actions"] if a.get("shotResult") == "Made").pop(
            "orderNumber"
        ),
        "2pt|3pt|freethrow",
    ),
    "nba-stats-playbyplayv2": (_nba_stats_made_basket, "field goal"),
    "nhl-apiweb": (
        lambda d: next(p for p in d["plays"] if p["typeDescKey"] == "goal").pop("sortOrder"),
        "goal",
    ),
    "espn-summary": (_espn_touchdown, "Touchdown"),
    "statsbomb": (
        lambda d: next(
            r for r in d if r.get("shot", {}).get("outcome", {}).get("name") == "Goal"
        ).pop("index"),
        "goal",
    ),
    "statsperform-ma3": (
        lambda d: next(e for e in d["liveData"]["event"] if e["typeId"] == 16).pop("periodId"),
        "goal",
    ),
}


@pytest.mark.parametrize(("file", "format"), [(g[0], g[1]) for g in GAMES], ids=FILES)
def test_a_scoring_record_that_cannot_be_read_is_reported_by_kind(
    data_dir: Path, file: str, format: str
) -> None:
    payload = json.loads((data_dir / file).read_bytes())
    corrupt, kind = UNREADABLE_GOALS[format]
    corrupt(payload)
    result = validate(parse(payload, format, Path(file).stem))
    assert sum(result.feed.unreadable_scoring.values()) == 1
    (reported,) = result.feed.unreadable_scoring
    assert re.search(kind, reported), reported
    assert not result.ok  # the score may be off: validate says so
    assert "UNREADABLE scoring records" in result.text()


def test_what_the_model_refuses_is_a_feed_format_error_never_a_crash(data_dir: Path) -> None:
    """A document whose game the model refuses (a hostile id) or that is nested too deep is
    unreadable, said as such: the webhook answers 422, the poller counts it and goes on."""
    payload = json.loads((data_dir / "basketball/nba-cdn-livedata_0022000001.json").read_bytes())
    payload["game"]["gameId"] = "../../etc"
    with pytest.raises(FeedFormatError, match="nba-livedata"):
        parse(payload, "nba-livedata")
    with pytest.raises(FeedFormatError, match="nested too deep"):
        decode(b"[" * 100_000 + b"]" * 100_000)
    with pytest.raises(FeedFormatError, match="not JSON"):
        decode(b"{not json")


@pytest.mark.parametrize(
    "file",
    [
        "basketball/nba-stats-playbyplayv2_0021900001.json",
        "basketball/nba-stats-playbyplayv2_0022100732.json",
    ],
)
def test_a_playbyplayv2_game_ends_whatever_the_order_of_its_last_rows(
    data_dir: Path, file: str
) -> None:
    """Rows recorded at 0:00 of the last period may come after its end marker: the game still
    ends, on the provider's final."""
    payload = json.loads((data_dir / file).read_bytes())
    table = payload["resultSets"][0]
    headers, rows = table["headers"], table["rowSet"]
    columns = ("EVENTMSGTYPE", "PERIOD", "PCTIMESTRING", "EVENTNUM", "SCORE")
    kind, period, clock, number, score = (headers.index(c) for c in columns)
    last_period = max(row[period] for row in rows)
    # A rebound recorded at 0:00 of the last period, listed after the end marker.
    late = list(next(r for r in reversed(rows) if r[kind] == 4 and r[period] == last_period))
    late[number] = max(row[number] for row in rows) + 1
    late[clock] = "0:00"
    late[score] = None
    table["rowSet"] = [*rows, late]
    game = fold(parse(payload, "nba-stats-playbyplayv2").events)
    expected = fold(load(data_dir / file).events)
    assert game is not None
    assert expected is not None
    assert game.status is GameStatus.FINAL
    assert (game.home.score, game.away.score) == (expected.home.score, expected.away.score)


def test_a_scoring_play_whose_type_names_no_score_counts_as_the_provider_states(
    data_dir: Path,
) -> None:
    """ESPN lists some scoring plays (safeties) with a type that names no score; its running
    score and its scoring list win over what the play's text lets us infer, and the
    disagreement is flagged."""
    file = data_dir / "american_football/espn-cfb-summary_401628358.json"
    payload = json.loads(file.read_bytes())
    goal_id = next(
        p["id"] for p in payload["scoringPlays"] if p["type"]["text"] == "Field Goal Good"
    )
    for drive in payload["drives"]["previous"]:
        for play in drive["plays"]:
            if play["id"] == goal_id:
                play["type"]["text"] = "Tackle"
                play["text"] = "Tackled in the end zone."
    feed = parse(payload, "espn-summary")
    game = fold(feed.events)
    expected = fold(load(file).events)
    assert game is not None
    assert expected is not None
    assert (game.home.score, game.away.score) == (expected.home.score, expected.away.score)
    assert any(goal_id in problem and "counted as stated" in problem for problem in feed.problems)


def test_a_record_the_model_refuses_is_counted_and_the_rest_still_read(data_dir: Path) -> None:
    """One record with an out-of-range period and one with an overlong player name: both are
    counted as unreadable (the made basket among them as unreadable scoring), every other
    record is read, and no sequence is skipped."""
    file = data_dir / "basketball/nba-cdn-livedata_0022000001.json"
    payload = json.loads(file.read_bytes())
    actions = payload["game"]["actions"]
    rebound = next(i for i, a in enumerate(actions) if a["actionType"] == "rebound")
    actions[rebound]["period"] = 99
    made = next(
        i for i, a in enumerate(actions) if a.get("shotResult") == "Made" and a.get("personId")
    )
    actions[made]["playerNameI"] = "x" * 5000
    feed = parse(payload, "nba-livedata")
    clean = load(file)
    assert feed.unrecognized == clean.unrecognized + 2
    assert sum(feed.unreadable_scoring.values()) == sum(clean.unreadable_scoring.values()) + 1
    assert len(feed.events) == len(clean.events) - 2
    assert [e.sequence for e in feed.events] == list(range(len(feed.events)))
