"""The ``scorecast`` command. Each subcommand builds its settings object once and passes it on."""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TypeVar

from pydantic import ValidationError
from pydantic_settings import BaseSettings
from pydantic_settings.exceptions import SettingsError

from core.settings import env_name
from scorecast.commands import positive_or_zero, run

S = TypeVar("S", bound=BaseSettings)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    return run(args, "scorecast", args.verbose)


def load_settings(kind: type[S], **given: str) -> S:
    """Build a settings object from the environment, or exit with a readable message.

    Secrets may also be files named after the setting (``fastly_token``…) in the folder
    ``SCORECAST_SECRETS_DIR`` names, as container platforms mount them.
    """
    try:
        secrets = os.environ.get("SCORECAST_SECRETS_DIR") or None
        # Values the command line gives win over the environment's (and are validated alike).
        return kind(_secrets_dir=secrets, **given)  # type: ignore[arg-type]
    except SettingsError as exc:
        # A value that must be JSON (a list, a mapping) and is not.
        found = re.search(r'field "(\w+)"', str(exc))
        field = found.group(1) if found else ""
        where = env_name(kind, field) if field in kind.model_fields else "a setting"
        print(f"scorecast: invalid settings\n  {where}: not valid JSON", file=sys.stderr)
        raise SystemExit(2) from None
    except ValidationError as exc:
        # Only names and reasons: a value may be a secret.
        lines = []
        for error in exc.errors():
            field = str(error["loc"][0]) if error["loc"] else ""
            where = env_name(kind, field) if field in kind.model_fields else field.upper()
            lines.append(f"  {where}: {error['msg']}" if where else f"  {error['msg']}")
        print("scorecast: invalid settings\n" + "\n".join(lines), file=sys.stderr)
        raise SystemExit(2) from None


def _replay(args: argparse.Namespace) -> int:
    from feeds.adapters import load
    from feeds.replay import ProgressBar, ReplaySettings, replay
    from runtime.kafka import ensure_topics

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

    from feeds import schedules
    from feeds.adapters import load
    from feeds.validate import against, validate

    feed = load(Path(args.file), args.format)
    if args.schedule:
        feed = against(feed, schedules.load(Path(args.schedule)))
    result = validate(feed)
    print(json.dumps(result.summary()) if args.json else result.text())
    # A script checking the exit code must notice a fold that disagrees with the feed.
    return 0 if result.ok else 1


def _schedule(args: argparse.Namespace) -> int:
    import asyncio

    from feeds import schedules
    from feeds.listing import ListingSettings, take

    settings = load_settings(ListingSettings)
    # Every file read first: a bad one stops the command before anything is produced.
    paths = [Path(file) for file in args.files]
    read = [schedules.load(path, args.format) for path in paths]
    for path, schedule, listed in zip(paths, read, asyncio.run(take(read, settings)), strict=True):
        print(
            f"{path.name}: {schedule.format}, {len(schedule.games)} games"
            f" ({listed.new} new, {listed.restated} restated, {listed.closed} closed),"
            f" {schedule.unrecognized} not readable"
        )
        for problem in schedule.problems:
            print(f"  schedule problem: {problem}", file=sys.stderr)
    return 0


def _origin(args: argparse.Namespace) -> int:
    from origin.main import main as origin
    from origin.settings import OriginSettings

    origin(load_settings(OriginSettings))
    return 0


def _ingest(args: argparse.Namespace) -> int:
    from ingest.app import IngestService
    from ingest.settings import IngestSettings
    from runtime.lifecycle import serve

    settings = load_settings(IngestSettings)
    serve(IngestService(settings))
    return 0


def _publisher(args: argparse.Namespace) -> int:
    from publisher.main import main as publisher
    from publisher.settings import PublisherSettings

    publisher(load_settings(PublisherSettings))
    return 0


def _purger(args: argparse.Namespace) -> int:
    from purger.main import main as purger
    from purger.settings import PurgerSettings

    purger(load_settings(PurgerSettings))
    return 0


def _notifier(args: argparse.Namespace) -> int:
    from notifier.service import Notifier
    from notifier.settings import NotifierSettings
    from runtime.lifecycle import serve

    serve(Notifier(load_settings(NotifierSettings)))
    return 0


def _devices(args: argparse.Namespace) -> int:
    from notifier.api import DevicesService
    from notifier.settings import DevicesSettings
    from runtime.lifecycle import serve

    serve(DevicesService(load_settings(DevicesSettings)))
    return 0


def _poll(args: argparse.Namespace) -> int:
    from poller.service import Poller
    from poller.settings import PollerSettings
    from runtime.lifecycle import serve

    given = ({"url": args.url} if args.url else {}) | (
        {"format": args.format} if args.format else {}
    )
    settings = load_settings(PollerSettings, **given)
    serve(Poller(settings))
    return 0


def _follow(args: argparse.Namespace) -> int:
    from poller.follower import Follower
    from poller.settings import FollowerSettings
    from runtime.lifecycle import serve

    serve(Follower(load_settings(FollowerSettings)))
    return 0


def _probe(args: argparse.Namespace) -> int:
    from probe.service import Probe
    from probe.settings import ProbeSettings
    from runtime.lifecycle import serve

    given = {"edge_url": args.edge_url} if args.edge_url else {}
    serve(Probe(load_settings(ProbeSettings, **given)))
    return 0


def _up(args: argparse.Namespace) -> int:
    from local.settings import StackSettings
    from local.stack import run_stack

    file = Path(args.file) if args.file else None
    return run_stack(load_settings(StackSettings), file, args.speed, args.max_gap)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="scorecast", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true")
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    replay = commands.add_parser("replay", help="produce a recorded game to Kafka")
    replay.add_argument("file", help="a recorded game (JSON)")
    replay.add_argument(
        "--speed",
        type=positive_or_zero,
        default=1.0,
        help="N× real pace; 0 sends as fast as possible (default 1)",
    )
    replay.add_argument(
        "--max-gap",
        type=positive_or_zero,
        default=30.0,
        help="longest wait between two events, in seconds (default 30)",
    )
    replay.add_argument("--format", help="the feed format (detected when omitted)")
    replay.set_defaults(handler=_replay)

    check = commands.add_parser("validate", help="replay a recorded game offline and check it")
    check.add_argument("file", help="a recorded game (JSON)")
    check.add_argument("--format", help="the feed format (detected when omitted)")
    check.add_argument("--json", action="store_true", help="print one JSON object")
    check.add_argument(
        "--schedule", help="a schedule listing the game: its stated final is checked too"
    )
    check.set_defaults(handler=_validate)

    listing = commands.add_parser(
        "schedule", help="take providers' schedules into the pipeline (games before they start)"
    )
    listing.add_argument("files", nargs="+", help="schedule or scoreboard documents (JSON)")
    listing.add_argument("--format", help="the schedule format (detected when omitted)")
    listing.set_defaults(handler=_schedule)

    for name, handler, text in [
        ("origin", _origin, "serve snapshots over HTTP"),
        ("publisher", _publisher, "fold events into versioned snapshots"),
        ("purger", _purger, "purge the edge on every change"),
        ("ingest", _ingest, "the signed webhook providers push feeds to"),
        ("notifier", _notifier, "tell followers' devices about their games, once per window"),
        ("devices", _devices, "the API fans' apps and browsers register devices and follows at"),
    ]:
        commands.add_parser(name, help=text).set_defaults(handler=handler)

    poll = commands.add_parser("poll", help="poll a provider's live document into Kafka")
    poll.add_argument(
        "url", nargs="?", help="the provider's URL of one game's document (SCORECAST_POLLER_URL)"
    )
    poll.add_argument("--format", help="the feed format (detected from the first document)")
    poll.set_defaults(handler=_poll)

    commands.add_parser(
        "follow",
        help="poll the live documents of the boards' games, from before the start to the final",
    ).set_defaults(handler=_follow)

    probe = commands.add_parser(
        "probe", help="poll the edge like a fan; export how fresh each game is there"
    )
    probe.add_argument("edge_url", nargs="?", help="the public hostname (SCORECAST_PROBE_EDGE_URL)")
    probe.set_defaults(handler=_probe)

    up = commands.add_parser("up", help="run the whole stack locally and replay a game")
    up.add_argument("file", nargs="?", default=None, help="a recorded game (default: the sample)")
    up.add_argument("--speed", type=positive_or_zero, default=60.0)
    up.add_argument("--max-gap", type=positive_or_zero, default=2.0)
    up.set_defaults(handler=_up)

    return parser
