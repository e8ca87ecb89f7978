"""Argument types shared by the ``scorecast`` command and the benchmarks: bad values end in a
clear argparse error, never a traceback."""

from __future__ import annotations

import argparse


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
