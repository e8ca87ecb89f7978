"""The notification window against real Redis: once per device and game in the window, the
newest waiting, nothing older after newer."""

from __future__ import annotations

from redis.asyncio import Redis

from core.keys import RedisKeys
from notifier.rules import Alert, AlertKind
from notifier.window import Window


def alert(version: int, game: str = "g1") -> Alert:
    return Alert(game, version, AlertKind.SCORE, f"v{version}", "")


async def test_one_per_window_the_newest_waits_and_goes_when_the_window_ends(
    redis: Redis, prefix: str
) -> None:
    window = Window(redis, RedisKeys(prefix), seconds=30)
    assert await window.offer("d1", alert(3), now_ms=0)  # the first goes at once
    assert not await window.offer("d1", alert(5), now_ms=1_000)  # inside: waits
    assert not await window.offer("d1", alert(7), now_ms=2_000)  # replaces it
    assert not await window.offer("d1", alert(6), now_ms=3_000)  # older than waiting: kept 7
    assert await window.offer("d2", alert(5), now_ms=1_000)  # another device: its own window
    assert await window.offer("d1", alert(4, "g2"), now_ms=1_000)  # another game: its own
    assert await window.due(now_ms=29_999) == []
    assert await window.due(now_ms=30_000) == [("d1", alert(7))]
    assert await window.due(now_ms=60_000) == []  # sent once
    # Older than what was sent: never; newer after the window: at once.
    assert not await window.offer("d1", alert(6), now_ms=61_000)
    assert await window.offer("d1", alert(9), now_ms=61_000)


async def test_two_workers_offering_at_once_send_once(redis: Redis, prefix: str) -> None:
    import asyncio

    window = Window(redis, RedisKeys(prefix), seconds=30)
    sent = await asyncio.gather(*[window.offer("d1", alert(3), now_ms=0) for _ in range(20)])
    assert sent.count(True) == 1


async def test_at_least_once_a_send_whose_worker_died_goes_again_once_its_lease_ends(
    redis: Redis, prefix: str
) -> None:
    """Offered again (a redelivered fan-out message) while the first send is under way: it
    waits for the lease; unconfirmed when the lease ends, it goes again; confirmed, never."""
    window = Window(redis, RedisKeys(prefix), seconds=30, lease_seconds=20, resend=True)
    assert await window.offer("d1", alert(3), now_ms=0)
    assert not await window.offer("d1", alert(3), now_ms=1_000)  # under way elsewhere
    assert await window.due(now_ms=19_999) == []
    assert await window.due(now_ms=20_000) == [("d1", alert(3))]  # its sender died: again
    await window.confirm("d1", alert(3))
    assert not await window.offer("d1", alert(3), now_ms=50_000)
    assert await window.due(now_ms=90_000) == []
    # Confirmed in time: the re-check finds nothing to send.
    assert await window.offer("d2", alert(3), now_ms=0)
    assert not await window.offer("d2", alert(3), now_ms=1_000)
    await window.confirm("d2", alert(3))
    assert await window.due(now_ms=20_000) == []


async def test_at_most_once_a_send_whose_worker_died_is_given_up_and_counted(
    redis: Redis, prefix: str
) -> None:
    """The platform may have taken what a dead worker had in flight: at most once, it is never
    sent again, whether the lease ran out before it was offered again or while it waited, and
    each is counted once as unsure. A newer alert still goes."""
    window = Window(redis, RedisKeys(prefix), seconds=30, lease_seconds=20)
    # Offered again after the lease ran out.
    assert await window.offer("d1", alert(3), now_ms=0)
    assert not await window.offer("d1", alert(3), now_ms=20_000)
    assert not await window.offer("d1", alert(3), now_ms=21_000)
    assert await window.due(now_ms=90_000) == []
    assert window.unsure == 1
    # Offered again while the lease ran: it waits, then is given up when the lease ends.
    assert await window.offer("d2", alert(3), now_ms=0)
    assert not await window.offer("d2", alert(3), now_ms=1_000)
    assert await window.due(now_ms=20_000) == []
    assert not await window.offer("d2", alert(3), now_ms=25_000)
    assert window.unsure == 2
    # Confirmed in time: nothing is unsure.
    assert await window.offer("d3", alert(3), now_ms=0)
    assert not await window.offer("d3", alert(3), now_ms=1_000)
    await window.confirm("d3", alert(3))
    assert await window.due(now_ms=20_000) == []
    assert window.unsure == 2
    # The next score, past the window, goes as ever.
    assert await window.offer("d1", alert(4), now_ms=40_000)
