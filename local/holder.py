"""What either local stream tier (Nchan or Pushpin) exposes to the rest of the stack."""

from __future__ import annotations

from dataclasses import dataclass

from local.process import port_open


@dataclass(frozen=True)
class HolderPorts:
    """The stream tier's public listener and its private publish listener."""

    http: int
    publish: int

    @property
    def publish_url(self) -> str:
        return f"http://127.0.0.1:{self.publish}/publish/"

    def listening(self) -> bool:
        """Ready: both listeners take connections."""
        return port_open(self.http) and port_open(self.publish)
