"""``scripts/bench NAME``: the benchmarks' own command. They start the local stack, replay a
recorded game and print figures; nothing in the product imports them."""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from dataclasses import fields
from pathlib import Path

from harness.timeline import recorded_games
from local.stack import SAMPLE_GAME, default_data_dir
from scorecast.commands import count, count_or_zero, counts, positive, positive_or_zero, run


def main(argv: Sequence[str] | None = None) -> int:
    return run(_parser().parse_args(argv), "bench")


def _game(args: argparse.Namespace) -> Path:
    return Path(args.file) if args.file else default_data_dir() / SAMPLE_GAME


def _json(args: argparse.Namespace) -> Path | None:
    return Path(args.json) if args.json else None


def _e2e(args: argparse.Namespace) -> int:
    from bench.e2e import main as bench_main

    return bench_main(_game(args), args.fans, args.speed, args.max_gap, _json(args))


def _push(args: argparse.Namespace) -> int:
    from bench.push import main as bench_main

    return bench_main(_game(args), args.clients, args.speed, args.max_gap, _json(args))


def _spike(args: argparse.Namespace) -> int:
    from bench.spike import SpikeOptions
    from bench.spike import main as bench_main

    # The spike's options are named as its arguments are.
    chosen = {f.name: getattr(args, f.name) for f in fields(SpikeOptions) if hasattr(args, f.name)}
    options = SpikeOptions(**chosen)
    plots = Path(args.plots) if args.plots else None
    return bench_main(
        _game(args), args.fans, args.holders, options, _json(args), plots, args.nginx_seconds
    )


def _matchday(args: argparse.Namespace) -> int:
    from bench.matchday import MatchdayOptions
    from bench.matchday import main as bench_main

    chosen = {
        f.name: getattr(args, f.name) for f in fields(MatchdayOptions) if hasattr(args, f.name)
    }
    files = [Path(name) for name in args.files] or recorded_games(default_data_dir())
    plots = Path(args.plots) if args.plots else None
    return bench_main(files, args.games, MatchdayOptions(**chosen), _json(args), plots)


def _publish(args: argparse.Namespace) -> int:
    from bench.publish import main as bench_main

    files = [Path(name) for name in args.files] or recorded_games(default_data_dir())
    return bench_main(files, args.games, args.batch_size, _json(args), args.profile, args.retire)


def _notify(args: argparse.Namespace) -> int:
    from bench.notify import main as bench_main

    return bench_main(args.followers, args.workers, args.sends_at_once, args.micro, _json(args))


def holders(text: str) -> list[str]:
    chosen = [name.strip() for name in text.split(",") if name.strip()]
    unknown = sorted(set(chosen) - {"nchan", "pushpin"})
    if not chosen or unknown:
        raise argparse.ArgumentTypeError(f"holders are nchan and pushpin, not {text!r}")
    return chosen


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="scripts/bench", description=__doc__)
    benches = parser.add_subparsers(required=True, metavar="BENCH")

    e2e = benches.add_parser("e2e", help="a replayed game through the stack, polling fans")
    e2e.add_argument("file", nargs="?", default=None, help="a recorded game (default: sample)")
    e2e.add_argument("--fans", type=count, default=100)
    e2e.add_argument("--speed", type=positive_or_zero, default=200.0)
    e2e.add_argument("--max-gap", type=positive_or_zero, default=0.2)
    e2e.add_argument("--json", help="also write the figures to this file")
    e2e.set_defaults(handler=_e2e)

    push = benches.add_parser(
        "push", help="SSE clients held by the stream tier during a replayed game"
    )
    push.add_argument("file", nargs="?", default=None, help="a recorded game (default: sample)")
    push.add_argument(
        "--clients", type=counts, default=[2000, 10000], help="comma-separated client counts"
    )
    push.add_argument("--speed", type=positive_or_zero, default=50.0)
    push.add_argument("--max-gap", type=positive_or_zero, default=1.0)
    push.add_argument("--json", help="also write the figures to this file")
    push.set_defaults(handler=_push)

    spike = benches.add_parser(
        "spike", help="a synchronized crowd at every score change: offload, origin load, freshness"
    )
    spike.add_argument("file", nargs="?", default=None, help="a recorded game (default: sample)")
    spike.add_argument(
        "--fans", type=counts, default=[1000, 3000, 10000], help="polling fans, comma-separated"
    )
    spike.add_argument("--sse", type=count_or_zero, default=1000, help="SSE fans in every run")
    spike.add_argument("--speed", type=positive_or_zero, default=20.0)
    spike.add_argument("--max-gap", type=positive_or_zero, default=2.0)
    spike.add_argument(
        "--events", type=count_or_zero, default=250, help="replay the first N events (0: all)"
    )
    spike.add_argument("--interval", type=positive, default=5.0, help="mean seconds between polls")
    spike.add_argument(
        "--spread", type=positive_or_zero, default=0.1, help="seconds fans take to react"
    )
    spike.add_argument(
        "--probe",
        dest="probe_interval",
        type=positive_or_zero,
        default=0.005,
        help="seconds between probe polls",
    )
    spike.add_argument(
        "--holders",
        type=holders,
        default=["nchan"],
        help="stream holders to run side by side, comma-separated: nchan, pushpin",
    )
    spike.add_argument(
        "--holder-workers", type=count, default=2, help="nginx workers of the Nchan tier"
    )
    spike.add_argument("--workers", type=count, default=os.cpu_count() or 2, help="fan processes")
    spike.add_argument("--nginx-seconds", type=positive_or_zero, default=5.0, help="0: skip")
    spike.add_argument("--json", help="also write the figures to this file")
    spike.add_argument("--plots", default="artifacts/spike", help="directory for PNG plots")
    spike.set_defaults(handler=_spike)

    publish = benches.add_parser(
        "publish", help="one publisher draining a match day's events: versions/s, round trips"
    )
    publish.add_argument(
        "files", nargs="*", help="recorded games to replay in turn (default: every one)"
    )
    publish.add_argument(
        "--games", type=counts, default=[300], help="games at once, comma-separated"
    )
    publish.add_argument("--batch-size", type=count, default=500, help="the publisher's poll size")
    publish.add_argument(
        "--profile", type=count_or_zero, default=0, help="also profile: print the top N functions"
    )
    publish.add_argument(
        "--retire",
        action="store_true",
        help="then retire every finished game: Redis per game, finals still right",
    )
    publish.add_argument("--json", help="also write the figures to this file")
    publish.set_defaults(handler=_publish)

    matchday = benches.add_parser(
        "matchday", help="many games at once: publishers, shards, freshness, origin load"
    )
    matchday.add_argument(
        "files", nargs="*", help="recorded games to replay in turn (default: every one)"
    )
    matchday.add_argument(
        "--games", type=counts, default=[10, 100, 300], help="games at once, comma-separated"
    )
    matchday.add_argument("--speed", type=positive, default=60.0, help="1: real pace")
    matchday.add_argument("--max-gap", type=positive_or_zero, default=2.0)
    matchday.add_argument(
        "--stagger", type=positive_or_zero, default=60.0, help="seconds over which games start"
    )
    matchday.add_argument("--fans", type=count, default=2000, help="polling fans over all games")
    matchday.add_argument("--interval", type=positive, default=5.0)
    matchday.add_argument("--spread", type=positive_or_zero, default=0.5)
    matchday.add_argument(
        "--probe-rate", type=positive, default=2000.0, help="probe polls a second, all games"
    )
    matchday.add_argument("--publishers", type=count, default=2)
    matchday.add_argument("--shards", type=count, default=4, help="change streams")
    matchday.add_argument(
        "--workers", type=count, default=os.cpu_count() or 2, help="fan processes"
    )
    matchday.add_argument("--json", help="also write the figures to this file")
    matchday.add_argument("--plots", default="artifacts/matchday", help="directory for PNG plots")
    matchday.set_defaults(handler=_matchday)

    notify = benches.add_parser(
        "notify", help="one score to N followers' devices: APNs, FCM and Web Push stand-ins"
    )
    notify.add_argument(
        "--followers", type=counts, default=[100_000], help="followers, comma-separated runs"
    )
    notify.add_argument("--workers", type=count, default=2, help="notifier processes")
    notify.add_argument(
        "--sends-at-once", type=count, default=256, help="sends in flight per notifier"
    )
    notify.add_argument(
        "--micro", type=count, default=3000, help="sends per platform for the CPU figure"
    )
    notify.add_argument("--json", help="also write the figures to this file")
    notify.set_defaults(handler=_notify)
    return parser
