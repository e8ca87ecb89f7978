"""What the ``scorecast`` command and the benchmarks' command share: how a parsed command runs,
and argument types whose bad values end in a clear argparse error, never a traceback."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable

from core.errors import ScorecastError


def run(args: argparse.Namespace, prog: str, verbose: bool = False) -> int:
    """Run the handler argparse chose; our own errors end in one line and exit code 1."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
    )
    # One line per HTTP request would drown everything else.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    try:
        handler: Callable[[argparse.Namespace], int] = args.handler
        return handler(args)
    except ScorecastError as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def counts(value: str) -> list[int]:
    """``1000,3000,10000``: one or more whole numbers above 0."""
    try:
        found = [int(part) for part in value.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError("must be whole numbers separated by commas") from None
    if min(found) < 1:
        raise argparse.ArgumentTypeError("must all be 1 or more")
    return found


def count(value: str) -> int:
    [number] = counts(value)
    return number


def count_or_zero(value: str) -> int:
    return 0 if value.strip() == "0" else count(value)


def positive(value: str) -> float:
    number = positive_or_zero(value)
    if number == 0:
        raise argparse.ArgumentTypeError("must be above 0")
    return number


def positive_or_zero(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError("must be a number") from None
    if number < 0:
        raise argparse.ArgumentTypeError("must be 0 or more")
    return number
