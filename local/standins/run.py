"""The three platforms' stand-ins as one process (``python -m local.standins``), with the keys
and certificate authority of one run, and the notifier settings that reach them: what the local
stack and the notify benchmark start."""

from __future__ import annotations

import base64
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from py_vapid import Vapid02

from local.process import ManagedProcess, answers, free_ports
from local.tls import certificate, key_pair

TEAM, KEY_ID, TOPIC = "TEAM123456", "KEY1234567", "com.example.scorecast"


def vapid_keys() -> tuple[str, str]:
    """A new VAPID key pair: the private key (PEM) and the public key as browsers take it."""
    key = Vapid02()
    key.generate_keys()
    point = key.public_key.public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    return key.private_pem().decode(), base64.urlsafe_b64encode(point).decode().rstrip("=")


@dataclass
class StandIns:
    """``unregistered``/``gone``/``final``: device addresses each stand-in treats so;
    ``subscriptions``: browser subscriptions the Web Push stand-in makes (``web0``…)."""

    run_dir: Path
    unregistered_apns: list[str] = field(default_factory=list)
    unregistered_fcm: list[str] = field(default_factory=list)
    final_fcm: list[str] = field(default_factory=list)
    gone_web: list[str] = field(default_factory=list)
    subscriptions: int = 0
    vapid: tuple[str, str] = field(default_factory=vapid_keys)

    def __post_init__(self) -> None:
        self.tls = certificate(self.run_dir / "tls")
        names = ("apns", "fcm", "fcm_token", "webpush", "stats")
        self.ports = dict(zip(names, free_ports(len(names)), strict=True))
        self._apns = key_pair("ec")
        self._fcm = key_pair("rsa")
        self.account = {
            "type": "service_account",
            "project_id": "scorecast-local",
            "private_key_id": "k1",
            "private_key": self._fcm[0],
            "client_email": "notifier@scorecast-local.iam.gserviceaccount.com",
            "client_id": "1",
            "token_uri": f"https://127.0.0.1:{self.ports['fcm_token']}/token",
        }

    @property
    def stats_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['stats']}/stats"

    @property
    def webpush_url(self) -> str:
        return f"https://127.0.0.1:{self.ports['webpush']}"

    @property
    def subscriptions_file(self) -> Path:
        return self.run_dir / "subscriptions.json"

    def process(self) -> ManagedProcess:
        """The stand-ins' process (start it with ``with`` or ``start()``)."""
        config = {
            "cert": str(self.tls.cert),
            "key": str(self.tls.key),
            "stats_port": self.ports["stats"],
            "apns": {
                "port": self.ports["apns"],
                "team_id": TEAM,
                "key_id": KEY_ID,
                "public_key": self._apns[1],
                "topic": TOPIC,
                "unregistered": self.unregistered_apns,
            },
            "fcm": {
                "port": self.ports["fcm"],
                "token_port": self.ports["fcm_token"],
                "project_id": self.account["project_id"],
                "client_email": self.account["client_email"],
                "public_key": self._fcm[1],
                "unregistered": self.unregistered_fcm,
                "final": self.final_fcm,
            },
            "webpush": {
                "port": self.ports["webpush"],
                "subscriptions": self.subscriptions,
                "gone": self.gone_web,
                "out": str(self.subscriptions_file),
            },
        }
        path = self.run_dir / "standins.json"
        path.write_text(json.dumps(config))
        stats = self.stats_url
        return ManagedProcess(
            "standins",
            [sys.executable, "-m", "local.standins", str(path)],
            self.run_dir / "standins.log",
            lambda: answers(stats),
            timeout=60,
        )

    def notifier_settings(self) -> dict[str, Any]:
        """The notifier's settings (by field name) that send to these stand-ins."""
        return {
            "vapid_private_key": self.vapid[0],
            "apns_private_key": self._apns[0],
            "apns_key_id": KEY_ID,
            "apns_team_id": TEAM,
            "apns_topic": TOPIC,
            "apns_host": "127.0.0.1",
            "apns_port": self.ports["apns"],
            "fcm_service_account": json.dumps(self.account),
            "fcm_url": f"https://127.0.0.1:{self.ports['fcm']}",
            "ca_file": str(self.tls.ca),
        }
