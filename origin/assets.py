"""The fan site's stylesheet and script, read once at start and named by their content: a
page names this release's copies, so the edge and browsers keep them for good."""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from pathlib import Path

STATIC = Path(__file__).parent / "static"


@dataclass(frozen=True)
class SiteAssets:
    css: bytes
    js: bytes
    #: The service worker (``/sw.js``: at the root, so that its scope is every page).
    worker: bytes
    #: A digest of both: the path segment their URLs carry (``/site/{release}/site.css``).
    release: str

    @classmethod
    def load(cls, folder: Path = STATIC) -> SiteAssets:
        css, js = (folder / "site.css").read_bytes(), (folder / "site.js").read_bytes()
        worker = (folder / "sw.js").read_bytes()
        digest = zlib.crc32(worker, zlib.crc32(js, zlib.crc32(css)))
        return cls(css, js, worker, f"{digest:08x}")

    @property
    def prefix(self) -> str:
        return f"/site/{self.release}"
