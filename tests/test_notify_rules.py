"""What is worth a notification, per sport, folded from real recorded games (pure)."""

from __future__ import annotations

from pathlib import Path

from core.models import Correction, Game, GameStatus, Revision
from core.reducer import versions
from feeds.adapters import load
from notifier.rules import Alert, AlertKind, Told, decide, told


def _alerts(data_dir: Path, file: str) -> tuple[list[Alert], list[Game]]:
    """Every version of a recorded game as the publisher cuts them, judged in order."""
    cut = versions(None, load(data_dir / file).events).versions
    last: Told | None = None
    alerts = []
    for game in cut:
        alert = decide(last, game)
        if alert is not None:
            alerts.append(alert)
            last = told(game)
    return alerts, cut


def test_hockey_tells_the_start_every_goal_and_the_final(data_dir: Path) -> None:
    alerts, cut = _alerts(data_dir, "hockey/nhl-apiweb-pbp_2023020001.json")
    final = cut[-1]
    goals = final.home.score + final.away.score
    kinds = [alert.kind for alert in alerts]
    # The first version may start the game and score at once: the score implies the start.
    assert kinds[0] in (AlertKind.START, AlertKind.SCORE)
    assert kinds.count(AlertKind.SCORE) == goals == 8
    assert kinds[-1] is AlertKind.FINAL
    assert alerts[-1].title == "NSH 3 – 5 TBL"
    # Never an older state after a newer one, one collapse key for the game.
    assert [a.version for a in alerts] == sorted({a.version for a in alerts})
    assert {a.collapse_key for a in alerts} == {f"game-{final.game_id}"}


def test_basketball_tells_only_changes_of_the_lead(data_dir: Path) -> None:
    alerts, cut = _alerts(data_dir, "basketball/nba-cdn-livedata_0022000001.json")
    scoring = [alert for alert in alerts if alert.kind is AlertKind.SCORE]
    changes = 0
    leader = 0
    for game in cut:
        now = (game.home.score > game.away.score) - (game.home.score < game.away.score)
        changes += now != leader
        leader = now
    assert len(scoring) == changes
    assert 0 < len(scoring) < len([g for g in cut if g.change.value == "score"]) / 5
    assert alerts[-1].kind is AlertKind.FINAL


def test_the_start_is_told_when_a_game_starts_without_scoring() -> None:
    from core.models import EventType
    from tests.factories import event, scheduled

    cut = versions(None, [scheduled(), event(1, EventType.PERIOD_START)]).versions
    alert = decide(None, cut[-1])
    assert alert is not None
    assert alert.kind is AlertKind.START
    assert alert.body == "Away at Home has started."


def test_soccer_tells_every_goal(data_dir: Path) -> None:
    alerts, _cut = _alerts(data_dir, "soccer/statsperform-ma3_71pif9hi2vwzp6q0xzilyxst0.json")
    assert [a.kind for a in alerts].count(AlertKind.SCORE) == 3  # 2-1
    assert alerts[-1].kind is AlertKind.FINAL


def test_a_correction_of_a_told_score_is_told_and_nothing_older_ever(data_dir: Path) -> None:
    _, cut = _alerts(data_dir, "hockey/nhl-apiweb-pbp_2023020001.json")
    final = cut[-1]
    last = told(final)
    taken_back = final.model_copy(
        update={
            "version": final.version + 1,
            "home": final.home.model_copy(update={"score": final.home.score - 1}),
            "correction": Correction(
                event_id="x", revision=Revision.REMOVED, description="goal disallowed"
            ),
        }
    )
    alert = decide(last, taken_back)
    assert alert is not None
    assert alert.kind is AlertKind.CORRECTION
    assert "goal disallowed" in alert.body
    assert decide(last, final) is None  # the version told: nothing again
    assert decide(told(taken_back), final) is None  # an older one: never
    # A version that changes nothing a fan cares about is not worth a notification.
    quiet = final.model_copy(update={"version": final.version + 2})
    assert decide(told(taken_back), quiet) is None
    assert quiet.status is GameStatus.FINAL
