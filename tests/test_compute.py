"""The Fastly Compute program (edge/fastly/compute) builds from source into the package the
Terraform uploads: a broken program fails here, not at deploy time."""

from __future__ import annotations

import subprocess
import tarfile
from pathlib import Path

import pytest

#: Starts real services or processes of its own (see ``SERVICE_FIXTURES`` in conftest).
pytestmark = pytest.mark.stack

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "edge" / "fastly" / "compute" / "pkg" / "scorecast-streams.tar.gz"


def test_the_compute_package_builds_from_source() -> None:
    result = subprocess.run(
        [str(ROOT / "scripts" / "build-compute")],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
    with tarfile.open(PACKAGE) as package:
        names = package.getnames()
        assert "scorecast-streams/fastly.toml" in names
        wasm = package.extractfile("scorecast-streams/bin/main.wasm")
        assert wasm is not None
        body = wasm.read()
    assert body[:4] == b"\0asm"  # a WebAssembly module
    assert len(body) > 1_000_000  # the JavaScript engine and our program in it
