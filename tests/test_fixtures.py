"""A schedule's statement of a game and its live document's, folded together (pure)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from core.keys import game_part
from core.models import GameEvent, GameInfo, GameStatus, Result, Revision, Sport, Team
from core.reducer import apply, fold, versions
from feeds import schedules
from feeds.adapters import load
from feeds.ledger import compare, remembered
from feeds.schedules.schedule import listed
from tests.factories import AWAY, HOME, basket, scheduled, short_game
from tests.test_adapters import FILES

START = datetime(2026, 4, 13, 0, 30, tzinfo=UTC)  # 8:30 pm in New York on the 12th
BOSTON = Team(team_id="h", code="BOS", name="Boston Celtics", city="Boston")
ORLANDO = Team(team_id="a", code="ORL", name="Orlando Magic", city="Orlando")


def listing(
    sequence: int = 0, home: Team = BOSTON, away: Team = ORLANDO, **fields: object
) -> GameEvent:
    stated = {"start_time": START, "venue": "TD Garden", "season": "2025-26"} | fields
    info = GameInfo(sport=Sport.BASKETBALL, league="NBA", home=home, away=away, **stated)
    return listed("g1", info).model_copy(update={"sequence": sequence})


def test_a_listed_game_is_scheduled_with_its_fixture_before_any_play() -> None:
    game = apply(None, listing())
    assert game.status is GameStatus.SCHEDULED
    assert game.listed
    assert (game.home.name, game.home.city, game.venue, game.season) == (
        "Boston Celtics",
        "Boston",
        "TD Garden",
        "2025-26",
    )
    assert game_part(game.league, game.day, game.start_time) == "nba:2026-04-12"


def test_the_live_document_keeps_the_schedules_names_and_brings_its_plays() -> None:
    """The schedule's names and venue stand; the live document's own record fills nothing
    they state, and its plays count."""
    live = scheduled().model_copy(update={"sequence": 1})  # codes for names, no venue
    plays = [
        event.model_copy(update={"sequence": event.sequence + 1}) for event in short_game()[1:]
    ]
    game = fold([listing(), live, *plays])
    assert game is not None
    assert (game.home.name, game.away.name, game.venue) == (
        "Boston Celtics",
        "Orlando Magic",
        "TD Garden",
    )
    assert (game.home.score, game.away.score, game.status) == (5, 3, GameStatus.FINAL)


def test_the_live_documents_team_ids_win_because_its_plays_name_teams_by_them() -> None:
    other_home = HOME.model_copy(update={"team_id": "1610612738"})
    other_away = AWAY.model_copy(update={"team_id": "1610612753"})
    live = GameEvent.model_validate(
        scheduled().model_dump()
        | {
            "sequence": 1,
            "game": GameInfo(
                sport=Sport.BASKETBALL, league="NBA", home=other_home, away=other_away
            ),
        }
    )
    game = fold([listing(), live, basket(2, "1610612738", "3pt")])
    assert game is not None
    assert (game.home.team_id, game.home.name, game.home.score) == (
        "1610612738",
        "Boston Celtics",
        3,
    )


def test_a_moved_start_is_a_new_version_that_moves_the_game_to_its_new_day() -> None:
    first = apply(None, listing())
    moved = apply(first, listing(1, start_time=datetime(2026, 4, 14, 23, 0, tzinfo=UTC)))
    assert moved is not first
    assert moved.sequence == 1
    assert game_part(moved.league, moved.day, moved.start_time) == "nba:2026-04-14"
    cut = versions(first.model_copy(update={"version": 1}), [listing(1, venue="Kia Center")])
    assert [(v.version, v.venue) for v in cut.versions] == [(2, "Kia Center")]


def test_a_postponement_is_stated_and_a_new_date_restores_the_schedule() -> None:
    game = apply(None, listing())
    postponed = apply(game, listing(1, status=GameStatus.POSTPONED))
    assert postponed.status is GameStatus.POSTPONED
    later = datetime(2026, 4, 20, 23, 0, tzinfo=UTC)
    restated = apply(postponed, listing(2, status=GameStatus.SCHEDULED, start_time=later))
    assert (restated.status, restated.start_time) == (GameStatus.SCHEDULED, later)
    assert apply(restated, basket(3, "h")).status is GameStatus.LIVE


def test_a_stated_final_shows_until_plays_arrive_and_then_the_plays_count() -> None:
    final = listing(status=GameStatus.FINAL, result=Result(home=113, away=108))
    game = apply(None, final)
    assert (game.status, game.home.score, game.away.score) == (GameStatus.FINAL, 113, 108)
    # The live document replayed afterwards: counted from 0-0, never on top of the result.
    played = fold(
        [final, *[e.model_copy(update={"sequence": e.sequence + 1}) for e in short_game()[1:]]]
    )
    assert played is not None
    assert (played.home.score, played.away.score) == (5, 3)
    # A schedule restating its final after plays changes no score.
    again = apply(played, listing(20, status=GameStatus.FINAL, result=Result(home=113, away=108)))
    assert (again.home.score, again.away.score) == (5, 3)


def test_a_schedule_stating_the_sides_the_other_way_round_swaps_them_with_their_scores() -> None:
    game = fold(short_game()[:4])  # the live document first: home 2, away 3 or so
    assert game is not None
    before = {game.home.team_id: game.home.score, game.away.team_id: game.away.score}
    swapped = apply(game, listing(10, home=ORLANDO, away=BOSTON))
    assert (swapped.home.team_id, swapped.home.name) == ("a", "Orlando Magic")
    assert {
        swapped.home.team_id: swapped.home.score,
        swapped.away.team_id: swapped.away.score,
    } == before


def test_the_schedules_league_replaces_a_live_documents_generic_one() -> None:
    live = scheduled()  # league TEST, as a StatsBomb events file says "soccer"
    game = apply(apply(None, live), listing(1))
    assert (game.league, game.day) == ("NBA", None)
    assert game_part(game.league, game.day, game.start_time) == "nba:2026-04-12"


def test_a_complete_live_document_never_removes_the_schedules_record() -> None:
    first = compare({}, 0, [listing()], complete=False)
    known = {event.event_id: remembered(event) for event in first.events}
    live = [scheduled(), *short_game()[1:4]]
    second = compare(known, 1, live)
    assert (second.removed, second.stale, second.added) == (0, False, 4)
    known |= {event.event_id: remembered(event) for event in second.events}
    # The fixture restated after the newest play: the next live document is not stale.
    third = compare(known, 5, [listing(venue="Kia Center")], complete=False)
    assert (third.edited, [e.revision for e in third.events]) == (1, [Revision.EDITED])
    known |= {event.event_id: remembered(event) for event in third.events}
    fourth = compare(known, 6, [scheduled(), *short_game()[1:5]])
    assert (fourth.stale, fourth.added, fourth.removed) == (False, 1, 0)
    game = fold([*first.events, *second.events, *third.events, *fourth.events])
    assert game is not None
    assert game.venue == "Kia Center"
    assert game.day is None
    assert game.start_time == START


def test_a_knockout_game_listed_before_its_teams_takes_them_when_the_schedule_names_them() -> None:
    unknown = Team(team_id="tbd-home", code="TBD", name="To be determined")
    other = Team(team_id="tbd-away", code="TBD", name="To be determined")
    game = apply(None, listing(home=unknown, away=other))
    named = apply(game, listing(1))
    assert (named.home.team_id, named.home.name) == ("h", "Boston Celtics")
    assert (named.away.team_id, named.away.code) == ("a", "ORL")
    # Once named, a schedule keeps them: ids of another provider's schedule change nothing.
    renamed = Team(team_id="x", code="BOS", name="Boston Celtics")
    assert apply(named, listing(2, home=renamed)).home.team_id == "h"


@pytest.mark.parametrize("file", FILES)
def test_every_sports_line_score_adds_up_to_its_score(data_dir: Path, file: str) -> None:
    game = fold(load(data_dir / file).events)
    assert game is not None
    for team in (game.home, game.away):
        assert sum(team.periods) == team.score
        assert len(team.periods) == game.period  # a column for every period played


def test_the_line_scores_are_the_providers(data_dir: Path) -> None:
    """ESPN's header states each quarter; Stats Perform's fixture (MA1) states the halves of
    the game whose events (MA3) we fold: ours agree with both."""
    summary = data_dir / "american_football" / "espn-cfb-summary_401628358.json"
    game = fold(load(summary).events)
    assert game is not None
    header = json.loads(summary.read_bytes())["header"]["competitions"][0]["competitors"]
    stated = {
        c["homeAway"]: [int(line["displayValue"]) for line in c["linescores"]] for c in header
    }
    assert (game.home.periods, game.away.periods) == (stated["home"], stated["away"])
    ma3 = data_dir / "soccer" / "statsperform-ma3_71pif9hi2vwzp6q0xzilyxst0.json"
    fixture = schedules.load(
        data_dir / "schedules" / "statsperform-ma1_71pif9hi2vwzp6q0xzilyxst0.json"
    )
    game = fold(load(ma3).events)
    listed_game = fixture.games[0].game
    assert game is not None
    assert listed_game is not None
    assert listed_game.result is not None
    assert (game.home.periods, game.away.periods) == (
        listed_game.result.home_periods,
        listed_game.result.away_periods,
    )


def test_a_schedules_stated_line_score_is_shown_until_plays_arrive(data_dir: Path) -> None:
    listing = schedules.load(data_dir / "schedules" / "espn-cfb-scoreboard_2025-09-26.json")
    for event in listing.games:
        game = apply(None, event)
        assert event.game is not None
        assert event.game.result is not None
        assert game.home.periods == event.game.result.home_periods
        assert sum(game.home.periods) == game.home.score
        assert game.period == len(game.home.periods)  # overtime included (six columns)
    played = apply(game, basket(1, "x").model_copy(update={"game_id": game.game_id}))
    assert (played.home.periods, played.away.periods, played.home.score) == ([0], [0], 0)


def test_a_score_in_a_late_period_has_a_column_for_every_period_before_it() -> None:
    events = [
        scheduled(),
        *[
            event.model_copy(update={"period": 5})
            for event in (basket(1, "h", "3pt"), basket(2, "a", "3pt"))
        ],
    ]
    game = fold(events)
    assert game is not None
    assert (game.home.periods, game.away.periods) == ([0, 0, 0, 0, 3], [0, 0, 0, 0, 3])


def test_a_restated_fixture_keeps_the_score_and_line_score() -> None:
    """A scoreboard restating a live game at every poll (its listed record edited) never
    touches what the plays counted."""
    game = fold(
        [listing(), *[e.model_copy(update={"sequence": e.sequence + 1}) for e in short_game()[1:5]]]
    )
    assert game is not None
    periods = (game.home.periods, game.away.periods)
    restated = apply(game, listing(20, venue="Kia Center"))
    assert (restated.home.periods, restated.away.periods) == periods
    assert (restated.home.score, restated.away.score) == (game.home.score, game.away.score)
    assert restated.venue == "Kia Center"


def test_a_knockout_game_named_by_its_live_document_takes_its_names_too() -> None:
    unknown = Team(team_id="tbd-home", code="TBD", name="To be determined")
    other = Team(team_id="tbd-away", code="TBD", name="To be determined")
    game = apply(None, listing(home=unknown, away=other))
    live = GameEvent.model_validate(
        scheduled().model_dump()
        | {
            "sequence": 1,
            "game": GameInfo(sport=Sport.BASKETBALL, league="NBA", home=BOSTON, away=ORLANDO),
        }
    )
    named = apply(game, live)
    assert (named.home.team_id, named.home.name, named.away.code) == ("h", "Boston Celtics", "ORL")


def test_a_final_stated_without_a_score_is_not_a_final() -> None:
    game = apply(None, listing(status=GameStatus.FINAL))
    assert game.status is GameStatus.SCHEDULED
