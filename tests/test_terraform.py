"""The operators' Terraform, parsed and checked against the code (Terraform is not run here)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import hcl2
import pytest

from core.settings import CachePolicy, OriginSettings
from origin.app import create_app
from origin.caching import live_headers

ROOT = Path(__file__).resolve().parents[1]
TERRAFORM = ROOT / "terraform"


def _load(path: Path) -> dict[str, Any]:
    with path.open() as handle:
        parsed: dict[str, Any] = _plain(hcl2.load(handle))
    return parsed


def _plain(value: Any) -> Any:
    """python-hcl2 keeps string quotes and block markers: drop them."""
    if isinstance(value, dict):
        return {_plain(k): _plain(v) for k, v in value.items() if k != "__is_block__"}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1].replace('\\"', '"')
    return value


def _resource(kind: str, name: str, folder: str) -> dict[str, Any]:
    for block in _load(TERRAFORM / folder / "main.tf")["resource"]:
        if kind in block and name in block[kind]:
            found: dict[str, Any] = block[kind][name]
            return found
    raise AssertionError(f"no {kind}.{name} in terraform/{folder}")


def _file_argument(content: str, folder: str) -> Path:
    found = re.search(r'file\("\$\{path\.module\}/([^"]+)"\)', content)
    assert found, content
    return (TERRAFORM / folder / found.group(1)).resolve()


@pytest.fixture(scope="module")
def fastly() -> dict[str, Any]:
    return _resource("fastly_service_vcl", "scorecast", "fastly")


@pytest.fixture(scope="module")
def cloudflare() -> dict[str, Any]:
    return _resource("cloudflare_ruleset", "scorecast_cache", "cloudflare")


def test_fastly_ships_the_delivery_rules_the_varnish_tests_run(fastly: dict[str, Any]) -> None:
    snippets = {s["name"]: s for s in fastly["snippet"]}
    deliver = _file_argument(snippets["scorecast_deliver"]["content"], "fastly")
    assert deliver == ROOT / "edge" / "varnish" / "deliver.vcl"
    varnish_vcl = (ROOT / "edge" / "varnish" / "scorecast.vcl").read_text()
    assert f'include "{deliver.name}";' in varnish_vcl
    for name in ("scorecast_recv", "scorecast_fetch"):
        assert _file_argument(snippets[name]["content"], "fastly").is_file()


def test_the_edge_strips_every_header_the_origin_sends_for_it() -> None:
    deliver = (ROOT / "edge" / "varnish" / "deliver.vcl").read_text()
    sent = live_headers(CachePolicy(), ["game-1"], 1)
    for header in sent:
        if header not in ("Cache-Control", "ETag"):  # those are for browsers
            assert f"unset resp.http.{header};" in deliver, header


def test_fastly_health_check_and_shield_point_at_the_origin(fastly: dict[str, Any]) -> None:
    (backend,) = fastly["backend"]
    (check,) = fastly["healthcheck"]
    assert backend["healthcheck"] == check["name"]
    assert backend["shield"] == "${var.shield_pop}"
    paths = {route.path for route in create_app(OriginSettings()).routes}  # type: ignore[attr-defined]
    assert check["path"] in paths
    assert check["path"] == "/readyz"
    assert fastly["product_enablement"][0]["fanout"] is True


def test_stream_paths_agree_between_edges() -> None:
    recv = (ROOT / "edge" / "fastly" / "recv.vcl").read_text()
    varnish = (ROOT / "edge" / "varnish" / "scorecast.vcl").read_text()
    pattern = "/v1/(games/[^/]+|scoreboard)/stream"
    assert pattern in recv
    assert "/v1/(games/[^/?]+|scoreboard)/stream" in varnish
    assert "after=" in recv
    assert "after=" in varnish


def test_cloudflare_rules_respect_the_origin(cloudflare: dict[str, Any]) -> None:
    assert cloudflare["phase"] == "http_request_cache_settings"
    rules = {rule["ref"]: rule for rule in cloudflare["rules"]}
    api = rules["scorecast_api"]["action_parameters"][0]
    assert api["cache"] is True
    assert api["respect_strong_etags"] is True
    assert api["edge_ttl"][0]["mode"] == "respect_origin"  # from our CDN-Cache-Control
    assert api["serve_stale"][0]["disable_stale_while_updating"] is False
    streams = rules["scorecast_streams"]
    assert streams["action_parameters"][0]["cache"] is False
    assert "/stream" in streams["expression"]
    assert "after=" in streams["expression"]
    # The origin gives Cloudflare its TTL and stale-while-revalidate through CDN-Cache-Control.
    assert "stale-while-revalidate" in live_headers(CachePolicy(), ["k"], 1)["CDN-Cache-Control"]


@pytest.mark.parametrize(
    ("folder", "secret"), [("fastly", "fastly_api_key"), ("cloudflare", "cloudflare_api_token")]
)
def test_tokens_are_sensitive_variables(folder: str, secret: str) -> None:
    variables = {}
    for block in _load(TERRAFORM / folder / "variables.tf")["variable"]:
        variables.update(block)
    assert variables[secret]["sensitive"] is True
    assert "default" not in variables[secret]
    text = (TERRAFORM / folder / "main.tf").read_text()
    assert re.search(r"(api_key|api_token)\s*=\s*var\.", text)
