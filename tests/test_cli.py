"""The ``scorecast`` command: bad input and bad settings end with a clear message.

Each case runs the command's ``main`` in this process, with only the settings it names in the
environment (a new interpreter per case cost about two seconds); one case runs the real process,
for its exit code."""

from __future__ import annotations

import contextlib
import io
import logging
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from bench.cli import main as bench_main
from scorecast.cli import main as scorecast_main


@dataclass(frozen=True)
class Ran:
    returncode: int
    stderr: str


Run = Callable[..., Ran]


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch) -> Run:
    """``cli(*args, command="scorecast", **env)``: the command's exit code and what it wrote to
    stderr, with ``env`` its only Scorecast settings."""

    def run(*args: str, command: str = "scorecast", **env: str) -> Ran:
        for name in [k for k in os.environ if k.startswith("SCORECAST_")]:
            monkeypatch.delenv(name)
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        main = scorecast_main if command == "scorecast" else bench_main
        stderr = io.StringIO()
        # Its log lines too, as a process writes them to stderr.
        logged = logging.StreamHandler(stderr)
        logging.getLogger().addHandler(logged)
        try:
            with contextlib.redirect_stderr(stderr):
                code = main(list(args))
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        finally:
            logging.getLogger().removeHandler(logged)
        return Ran(code, stderr.getvalue())

    return run


@pytest.mark.stack
def test_a_service_process_with_bad_settings_exits_2_with_the_reason() -> None:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("SCORECAST_")}
    result = subprocess.run(
        [sys.executable, "-m", "scorecast", "purger"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**clean, "SCORECAST_PURGER_PURGE_TOKEN": "short"},
        check=False,
    )
    assert result.returncode == 2, result.stderr
    assert "invalid settings" in result.stderr
    assert "SCORECAST_PURGER_PURGE_TOKEN" in result.stderr
    assert "short" not in result.stderr  # a secret is never echoed
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("command", "env", "message"),
    [
        ("purger", {}, "the varnish backend needs SCORECAST_PURGER_PURGE_TOKEN"),
        ("purger", {"SCORECAST_PURGER_BACKEND": "fastly"}, "needs SCORECAST_FASTLY_TOKEN"),
        (
            "purger",
            {
                "SCORECAST_PURGER_BACKEND": "cloudflare",
                "SCORECAST_CLOUDFLARE_TOKEN": "a-valid-token-of-some-length",
                "SCORECAST_CLOUDFLARE_ZONE_ID": "0" * 32,
            },
            "the cloudflare backend needs SCORECAST_CLOUDFLARE_PLAN",
        ),
        (
            "purger",
            {"SCORECAST_PURGER_BACKEND": "cloudflare", "SCORECAST_CLOUDFLARE_PLAN": "platinum"},
            "SCORECAST_CLOUDFLARE_PLAN: Input should be",
        ),
        (
            "purger",
            {"SCORECAST_PURGER_BACKEND": "cloudflare", "SCORECAST_CLOUDFLARE_TOKEN": "bad token!"},
            "SCORECAST_CLOUDFLARE_TOKEN: Value error",
        ),
        ("purger", {"SCORECAST_PURGER_BACKEND": "akamai"}, "SCORECAST_PURGER_BACKEND: Input"),
        ("ingest", {"SCORECAST_INGEST_WEBHOOK_SECRET": "short"}, "SCORECAST_INGEST_WEBHOOK_SECRET"),
        ("origin", {"SCORECAST_STREAMS_GRIP_KEY": "short"}, "SCORECAST_STREAMS_GRIP_KEY: Value"),
        ("origin", {"SCORECAST_STREAMS_TIER": "nchan"}, "needs SCORECAST_STREAMS_HOLDER_KEY"),
        ("publisher", {"SCORECAST_STREAMS_TIER": "pushpin"}, "needs SCORECAST_STREAMS_GRIP_URL"),
        ("purger", {"SCORECAST_PURGER_PURGE_TOKEN": "tiny"}, "SCORECAST_PURGER_PURGE_TOKEN: Value"),
        # Read from a file with its newline: it would end up in a header.
        (
            "purger",
            {"SCORECAST_PURGER_PURGE_TOKEN": "a-purge-token-0123456789\n"},
            "SCORECAST_PURGER_PURGE_TOKEN: Value",
        ),
        ("origin", {"SCORECAST_ORIGIN_HEADER_SECONDS": "0"}, "ORIGIN_HEADER_SECONDS: Input"),
        ("ingest", {"SCORECAST_INGEST_UPLOADS_AT_ONCE": "0"}, "UPLOADS_AT_ONCE: Input"),
        ("publisher", {"SCORECAST_KAFKA_FETCH_BACKOFF_MS": "0"}, "KAFKA_FETCH_BACKOFF_MS: Input"),
        ("ingest", {"SCORECAST_KAFKA_PARTITIONS": "0"}, "SCORECAST_KAFKA_PARTITIONS: Input"),
        ("origin", {"SCORECAST_ORIGIN_PORT": "99999"}, "SCORECAST_ORIGIN_PORT: Input should be"),
        ("origin", {"SCORECAST_REDIS_URL": "http://x"}, "SCORECAST_REDIS_URL: Value error"),
        ("publisher", {"SCORECAST_PUBLISHER_MAX_EVENT_BYTES": "ten"}, "MAX_EVENT_BYTES: Input"),
        ("origin", {"SCORECAST_REDIS_CHANGE_SHARDS": "0"}, "SCORECAST_REDIS_CHANGE_SHARDS: Input"),
        ("follow", {"SCORECAST_FOLLOWER_LIVE_URLS": "nba"}, "FOLLOWER_LIVE_URLS: not valid JSON"),
        (
            "follow",
            {"SCORECAST_FOLLOWER_LIVE_URLS": '{"nba": "https://cdn.example/pbp.json"}'},
            "nba's URL must be http(s) with {game_id}",
        ),
        ("follow", {"SCORECAST_FOLLOWER_SCAN_SECONDS": "20"}, "SCAN_SECONDS must be below"),
        # The names of the release before are still read, with a warning naming the new one.
        ("origin", {"SCORECAST_PORT": "99999"}, "SCORECAST_ORIGIN_PORT: Input should be"),
        ("origin", {"SCORECAST_PORT": "99999"}, "SCORECAST_PORT is read as SCORECAST_ORIGIN_PORT"),
        ("origin", {"SCORECAST_CHANGE_SHARDS": "0"}, "SCORECAST_REDIS_CHANGE_SHARDS: Input"),
        ("purger", {"SCORECAST_BACKEND": "fastly"}, "needs SCORECAST_FASTLY_TOKEN"),
        # The release before guessed the tier from each request: a key alone no longer does.
        ("origin", {"SCORECAST_GRIP_KEY": "k" * 40}, "SCORECAST_STREAMS_TIER is hub"),
    ],
)
def test_bad_settings_stop_a_service_at_startup(
    cli: Run, command: str, env: dict[str, str], message: str
) -> None:
    result = cli(command, **env)
    assert result.returncode == 2, result.stderr
    assert "invalid settings" in result.stderr
    assert message in result.stderr
    for name, value in env.items():
        if any(word in name for word in ("TOKEN", "SECRET", "KEY", "REDIS_URL")):
            assert value not in result.stderr  # secrets (and URLs with passwords) never echoed


def test_replay_of_a_missing_file_is_a_clear_error(cli: Run, tmp_path: Path) -> None:
    result = cli("replay", str(tmp_path / "nope.json"))
    assert result.returncode == 1
    assert "cannot read" in result.stderr
    assert "Traceback" not in result.stderr


def test_replay_of_an_unknown_format_is_a_clear_error(cli: Run, tmp_path: Path) -> None:
    path = tmp_path / "other.json"
    path.write_text('{"events": []}')
    result = cli("replay", str(path))
    assert result.returncode == 1
    assert "unknown feed format" in result.stderr


def test_a_bad_schedule_stops_the_command_before_anything_is_produced(
    cli: Run, tmp_path: Path, data_dir: Path
) -> None:
    """Every file is read first; the broker named here does not exist, so a command that went
    on to produce would fail differently (and later)."""
    other = tmp_path / "other.json"
    other.write_text('{"events": []}')
    good = str(data_dir / "schedules" / "statsbomb-matches_11-4.json")
    for bad, message in ((other, "unknown schedule format"), (tmp_path / "no.json", "cannot read")):
        result = cli("schedule", good, str(bad), SCORECAST_KAFKA_BOOTSTRAP="127.0.0.1:1")
        assert result.returncode == 1
        assert message in result.stderr
        assert "Traceback" not in result.stderr


def test_replay_rejects_a_negative_speed(cli: Run) -> None:
    result = cli("replay", "x.json", "--speed", "-2")
    assert result.returncode == 2
    assert "must be 0 or more" in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--fans", "1000,lots"], "must be whole numbers"),
        (["--fans", "0"], "must all be 1 or more"),
        (["--workers", "0"], "must all be 1 or more"),
        (["--sse", "-5"], "must all be 1 or more"),
        (["--speed", "-1"], "must be 0 or more"),
        (["--interval", "0"], "must be above 0"),
    ],
)
def test_bench_spike_rejects_bad_counts(cli: Run, args: list[str], message: str) -> None:
    result = cli("spike", *args, command="bench")
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["poll", "ftp://feeds.example/game.json"], 2, "SCORECAST_POLLER_URL: String should match"),
        (["poll", "http://127.0.0.1:9/g.json", "--format", "xml"], 1, "unknown format 'xml'"),
    ],
)
def test_poll_with_a_bad_url_or_format_is_a_clear_error(
    cli: Run, args: list[str], code: int, message: str
) -> None:
    result = cli(*args)
    assert result.returncode == code
    assert message in result.stderr
    assert "Traceback" not in result.stderr
