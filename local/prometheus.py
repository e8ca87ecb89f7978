"""A private Prometheus (Debian's package) scraping the local stack's services.

The targets live in a file Prometheus watches (``file_sd_configs``): a service started later (a
second publisher) is scraped as soon as it is written there, without a reload. Alert rules are
the project's own (``monitoring/alerts.yml``), evaluated as in a deployment.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Mapping
from pathlib import Path

from core.errors import ServiceError
from local.process import ManagedProcess, answers

MONITORING = Path(__file__).resolve().parent.parent / "monitoring"
ALERT_RULES = MONITORING / "alerts.yml"


def write_targets(run_dir: Path, targets: Mapping[str, int]) -> Path:
    """The scrape targets (process name → its private listener's port), as Prometheus reads
    them: each service is its own ``job``, with an ``instance`` per process."""
    groups = [
        {
            "targets": [f"127.0.0.1:{port}"],
            "labels": {"job": name.split("-")[0], "process": name},
        }
        for name, port in sorted(targets.items())
    ]
    path = run_dir / "prometheus" / "targets.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    staged = path.with_suffix(".tmp")
    staged.write_text(json.dumps(groups))
    staged.replace(path)  # whole, never half-written when Prometheus reads it
    return path


def prometheus_server(
    port: int, run_dir: Path, targets: Mapping[str, int], scrape_seconds: float = 1.0
) -> ManagedProcess:
    binary = shutil.which("prometheus")
    if binary is None:
        raise ServiceError("prometheus not found: run scripts/install")
    home = run_dir / "prometheus"
    home.mkdir(parents=True, exist_ok=True)
    listed = write_targets(run_dir, targets)
    interval = f"{max(1, round(scrape_seconds * 1000))}ms"
    # JSON is YAML: no YAML writer needed.
    config = {
        "global": {"scrape_interval": interval, "evaluation_interval": interval},
        "rule_files": [str(ALERT_RULES)],
        "scrape_configs": [
            {
                "job_name": "scorecast",
                "file_sd_configs": [{"files": [str(listed)], "refresh_interval": "1s"}],
            }
        ],
    }
    (home / "prometheus.yml").write_text(json.dumps(config, indent=2))
    argv = [
        binary,
        f"--config.file={home / 'prometheus.yml'}",
        f"--storage.tsdb.path={home / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--storage.tsdb.retention.time=1d",
    ]
    return ManagedProcess(
        "prometheus",
        argv,
        run_dir / "prometheus.log",
        lambda: answers(f"http://127.0.0.1:{port}/-/ready"),
    )
