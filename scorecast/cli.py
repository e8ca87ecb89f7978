"""The ``scorecast`` command. Each subcommand builds its settings object once and passes it on."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

from pydantic import ValidationError
from pydantic_settings import BaseSettings

from scorecast.errors import ScorecastError

S = TypeVar("S", bound=BaseSettings)


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
    )
    # One line per HTTP request would drown everything else.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    try:
        handler: Callable[[argparse.Namespace], int] = args.handler
        return handler(args)
    except ScorecastError as exc:
        print(f"scorecast: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def load_settings(kind: type[S]) -> S:
    """Build a settings object from the environment, or exit with a readable message.

    Secrets may also be files named after the setting (``fastly_token``…) in the folder
    ``SCORECAST_SECRETS_DIR`` names, as container platforms mount them.
    """
    try:
        return kind(_secrets_dir=os.environ.get("SCORECAST_SECRETS_DIR") or None)
    except ValidationError as exc:
        # Only names and reasons: a value may be a secret.
        lines = []
        for error in exc.errors():
            where = "_".join(str(part) for part in error["loc"]).upper()
            lines.append(f"  SCORECAST_{where}: {error['msg']}" if where else f"  {error['msg']}")
        print("scorecast: invalid settings\n" + "\n".join(lines), file=sys.stderr)
        raise SystemExit(2) from None


def _replay(args: argparse.Namespace) -> int:
    from scorecast.adapters import load
    from scorecast.kafka import ensure_topics
    from scorecast.replay import ProgressBar, replay
    from scorecast.settings import ReplaySettings

    settings = load_settings(ReplaySettings)
    feed = load(Path(args.file), args.format)
    if feed.unrecognized:
        print(f"{feed.unrecognized} records not understood in {args.file}", file=sys.stderr)
    for problem in feed.problems:
        print(f"feed problem: {problem}", file=sys.stderr)
    ensure_topics(settings)
    result = replay(feed, settings, args.speed, args.max_gap, ProgressBar(f"replay {feed.game_id}"))
    print(f"replayed {result.produced} events of game {result.game_id} in {result.seconds:.1f} s")
    return 0


def _validate(args: argparse.Namespace) -> int:
    import json

    from scorecast.adapters import load
    from scorecast.validate import validate

    result = validate(load(Path(args.file), args.format))
    print(json.dumps(result.summary()) if args.json else result.text())
    return 0


def _origin(args: argparse.Namespace) -> int:
    from origin.main import serve
    from scorecast.settings import OriginSettings

    serve(load_settings(OriginSettings))
    return 0


def _ingest(args: argparse.Namespace) -> int:
    import uvicorn

    from ingest.app import create_app
    from scorecast.kafka import ensure_topics
    from scorecast.settings import IngestSettings

    settings = load_settings(IngestSettings)
    ensure_topics(settings)
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, access_log=False)
    return 0


def _publisher(args: argparse.Namespace) -> int:
    from publisher.main import serve
    from scorecast.settings import PublisherSettings

    asyncio.run(serve(load_settings(PublisherSettings)))
    return 0


def _purger(args: argparse.Namespace) -> int:
    from purger.main import serve
    from scorecast.settings import PurgerSettings

    asyncio.run(serve(load_settings(PurgerSettings)))
    return 0


def _up(args: argparse.Namespace) -> int:
    from scorecast.local.stack import run_stack
    from scorecast.settings import StackSettings

    file = Path(args.file) if args.file else None
    return run_stack(load_settings(StackSettings), file, args.speed, args.max_gap)


def _bench_e2e(args: argparse.Namespace) -> int:
    from bench.e2e import main as bench_main
    from scorecast.local.stack import SAMPLE_GAME, default_data_dir

    file = Path(args.file) if args.file else default_data_dir() / SAMPLE_GAME
    json_path = Path(args.json) if args.json else None
    return bench_main(file, args.fans, args.speed, args.max_gap, json_path)


def _bench_push(args: argparse.Namespace) -> int:
    from bench.push import main as bench_main
    from scorecast.local.stack import SAMPLE_GAME, default_data_dir

    file = Path(args.file) if args.file else default_data_dir() / SAMPLE_GAME
    json_path = Path(args.json) if args.json else None
    clients = [int(n) for n in args.clients.split(",")]
    return bench_main(file, clients, args.speed, args.max_gap, json_path)


def _bench_spike(args: argparse.Namespace) -> int:
    from bench.spike import SpikeOptions
    from bench.spike import main as bench_main
    from scorecast.local.stack import SAMPLE_GAME, default_data_dir

    file = Path(args.file) if args.file else default_data_dir() / SAMPLE_GAME
    options = SpikeOptions(
        speed=args.speed,
        max_gap=args.max_gap,
        events=args.events,
        sse=args.sse,
        interval=args.interval,
        spread=args.spread,
        probe_interval=args.probe,
        sse_through_varnish=args.sse_through_varnish,
        workers=args.workers,
    )
    json_path = Path(args.json) if args.json else None
    plots = Path(args.plots) if args.plots else None
    return bench_main(file, args.fans, options, json_path, plots, args.nginx_seconds)


def _counts(value: str) -> list[int]:
    """``1000,3000,10000``: one or more whole numbers above 0."""
    try:
        counts = [int(part) for part in value.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError("must be whole numbers separated by commas") from None
    if min(counts) < 1:
        raise argparse.ArgumentTypeError("must all be 1 or more")
    return counts


def _count(value: str) -> int:
    [number] = _counts(value)
    return number


def _count_or_zero(value: str) -> int:
    return 0 if value.strip() == "0" else _count(value)


def _positive(value: str) -> float:
    number = _positive_or_zero(value)
    if number == 0:
        raise argparse.ArgumentTypeError("must be above 0")
    return number


def _positive_or_zero(value: str) -> float:
    number = float(value)
    if number < 0:
        raise argparse.ArgumentTypeError("must be 0 or more")
    return number


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="scorecast", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true")
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    replay = commands.add_parser("replay", help="produce a recorded game to Kafka")
    replay.add_argument("file", help="a recorded game (JSON)")
    replay.add_argument(
        "--speed",
        type=_positive_or_zero,
        default=1.0,
        help="N× real pace; 0 sends as fast as possible (default 1)",
    )
    replay.add_argument(
        "--max-gap",
        type=_positive_or_zero,
        default=30.0,
        help="longest wait between two events, in seconds (default 30)",
    )
    replay.add_argument("--format", help="the feed format (detected when omitted)")
    replay.set_defaults(handler=_replay)

    check = commands.add_parser("validate", help="replay a recorded game offline and check it")
    check.add_argument("file", help="a recorded game (JSON)")
    check.add_argument("--format", help="the feed format (detected when omitted)")
    check.add_argument("--json", action="store_true", help="print one JSON object")
    check.set_defaults(handler=_validate)

    for name, handler, text in [
        ("origin", _origin, "serve snapshots over HTTP"),
        ("publisher", _publisher, "fold events into versioned snapshots"),
        ("purger", _purger, "purge the edge on every change"),
        ("ingest", _ingest, "the signed webhook providers push feeds to"),
    ]:
        commands.add_parser(name, help=text).set_defaults(handler=handler)

    up = commands.add_parser("up", help="run the whole stack locally and replay a game")
    up.add_argument("file", nargs="?", default=None, help="a recorded game (default: the sample)")
    up.add_argument("--speed", type=_positive_or_zero, default=60.0)
    up.add_argument("--max-gap", type=_positive_or_zero, default=2.0)
    up.set_defaults(handler=_up)

    bench = commands.add_parser("bench", help="benchmarks that print figures")
    benches = bench.add_subparsers(required=True, metavar="BENCH")
    e2e = benches.add_parser("e2e", help="a replayed game through the stack, polling fans")
    e2e.add_argument("file", nargs="?", default=None, help="a recorded game (default: sample)")
    e2e.add_argument("--fans", type=int, default=100)
    e2e.add_argument("--speed", type=_positive_or_zero, default=200.0)
    e2e.add_argument("--max-gap", type=_positive_or_zero, default=0.2)
    e2e.add_argument("--json", help="also write the figures to this file")
    e2e.set_defaults(handler=_bench_e2e)
    push = benches.add_parser("push", help="SSE clients held by Pushpin during a replayed game")
    push.add_argument("file", nargs="?", default=None, help="a recorded game (default: sample)")
    push.add_argument("--clients", default="2000,10000", help="comma-separated client counts")
    push.add_argument("--speed", type=_positive_or_zero, default=50.0)
    push.add_argument("--max-gap", type=_positive_or_zero, default=1.0)
    push.add_argument("--json", help="also write the figures to this file")
    push.set_defaults(handler=_bench_push)
    spike = benches.add_parser(
        "spike", help="a synchronized crowd at every score change: offload, origin load, freshness"
    )
    spike.add_argument("file", nargs="?", default=None, help="a recorded game (default: sample)")
    spike.add_argument(
        "--fans", type=_counts, default=[1000, 3000, 10000], help="polling fans, comma-separated"
    )
    spike.add_argument("--sse", type=_count_or_zero, default=1000, help="SSE fans in every run")
    spike.add_argument("--speed", type=_positive_or_zero, default=20.0)
    spike.add_argument("--max-gap", type=_positive_or_zero, default=2.0)
    spike.add_argument(
        "--events", type=_count_or_zero, default=250, help="replay the first N events (0: all)"
    )
    spike.add_argument("--interval", type=_positive, default=5.0, help="mean seconds between polls")
    spike.add_argument(
        "--spread", type=_positive_or_zero, default=0.1, help="seconds fans take to react"
    )
    spike.add_argument(
        "--probe", type=_positive_or_zero, default=0.005, help="seconds between probe polls"
    )
    spike.add_argument(
        "--sse-through-varnish",
        action="store_true",
        help="SSE fans connect through Varnish's pipe, not to Pushpin's port",
    )
    spike.add_argument("--workers", type=_count, default=os.cpu_count() or 2, help="fan processes")
    spike.add_argument("--nginx-seconds", type=_positive_or_zero, default=5.0, help="0: skip")
    spike.add_argument("--json", help="also write the figures to this file")
    spike.add_argument("--plots", default="artifacts/spike", help="directory for PNG plots")
    spike.set_defaults(handler=_bench_spike)
    return parser
