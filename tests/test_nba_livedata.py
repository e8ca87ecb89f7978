from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.errors import FeedFormatError
from core.models import EventType, GameStatus
from core.reducer import apply, fold
from feeds.adapters import detect, load, nba_livedata, parse


def test_sample_game_folds_to_the_recorded_final(nba_file: Path) -> None:
    feed = load(nba_file)
    assert feed.format == "nba-livedata"
    assert feed.game_id == "0022000001"
    assert len(feed.events) == 611  # 610 actions and the GAME_SCHEDULED event
    assert feed.unrecognized == 0
    game = fold(feed.events)
    assert game is not None
    assert (game.home.code, game.home.score) == ("BKN", 125)
    assert (game.away.code, game.away.score) == ("GSW", 99)
    assert game.status is GameStatus.FINAL
    assert game.period == 4


def test_our_score_matches_the_feeds_running_score_after_every_event(nba_file: Path) -> None:
    feed = load(nba_file)
    game = None
    mismatches = []
    for event in feed.events:
        game = apply(game, event)
        feed_score = (event.home_score, event.away_score)
        if None not in feed_score and (game.home.score, game.away.score) != feed_score:
            mismatches.append(event.event_id)
    assert mismatches == []


def test_sequences_are_contiguous_and_follow_order_number(nba_file: Path) -> None:
    feed = load(nba_file)
    assert [e.sequence for e in feed.events] == list(range(len(feed.events)))
    raw = json.loads(nba_file.read_bytes())["game"]["actions"]
    by_order = sorted(raw, key=lambda a: a["orderNumber"])
    assert [e.event_id for e in feed.events[1:]] == [
        f"0022000001:{a['actionNumber']}" for a in by_order
    ]


def test_clock_is_parsed_from_iso_duration() -> None:
    assert nba_livedata.parse_clock("PT11M54.00S") == 714.0
    assert nba_livedata.parse_clock("PT00M07.10S") == pytest.approx(7.1)
    assert nba_livedata.parse_clock("PT45S") == 45.0
    assert nba_livedata.parse_clock("12:00") is None
    assert nba_livedata.parse_clock(None) is None


def _action(number: int, **extra: object) -> dict[str, object]:
    base: dict[str, object] = {
        "actionNumber": number,
        "orderNumber": number * 10,
        "actionType": "2pt",
        "period": 1,
        "clock": "PT10M00.00S",
        "shotResult": "Made",
        "teamId": 1,
        "teamTricode": "AAA",
        "scoreHome": "2",
        "scoreAway": "0",
    }
    base.update(extra)
    return base


def test_unreadable_records_are_counted_not_fatal() -> None:
    payload = {
        "game": {
            "gameId": "g9",
            "actions": [
                _action(1),
                _action(2, teamId=2, teamTricode="BBB", scoreHome="2", scoreAway="2"),
                "not an object",
                {"actionNumber": "three"},
                _action(4, period=None),
                _action(5, actionType="game", subType="end", teamId=None, teamTricode=None),
            ],
        }
    }
    feed = parse(payload)
    assert feed.unrecognized == 3
    assert [e.event_type for e in feed.events] == [
        EventType.GAME_SCHEDULED,
        EventType.SCORE,
        EventType.SCORE,
        EventType.GAME_END,
    ]
    game = fold(feed.events)
    assert game is not None
    assert (game.home.code, game.home.score, game.away.score) == ("AAA", 2, 2)


@pytest.mark.parametrize(
    "payload",
    [{}, [], {"game": {}}, {"game": {"actions": "x"}}, "text"],
)
def test_unknown_payloads_are_refused_clearly(payload: object) -> None:
    with pytest.raises(FeedFormatError, match="unknown feed format"):
        detect(payload)


def test_a_game_without_two_teams_is_refused() -> None:
    with pytest.raises(FeedFormatError, match="home from away"):
        parse({"game": {"gameId": "g", "actions": [_action(1)]}})


def test_missing_and_non_json_files_are_refused(tmp_path: Path) -> None:
    with pytest.raises(FeedFormatError, match="cannot read"):
        load(tmp_path / "absent.json")
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    with pytest.raises(FeedFormatError, match="not JSON"):
        load(broken)
