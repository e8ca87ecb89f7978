"""One CORS policy (``core/cors.py``) in every place that answers fans: each edge configuration
and the origin say exactly what it says."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest

from core import cors
from local.nchan import preflight_directives, render
from origin.app import create_app
from origin.settings import OriginSettings

EDGE = Path(__file__).resolve().parent.parent / "edge"
_VCL = re.compile(r'set (?:resp|obj)\.http\.(Access-Control-[A-Za-z-]+) = "([^"]*)";')
_JS = re.compile(r'"(Access-Control-[A-Za-z-]+)": "([^"]*)"')
_NGINX = re.compile(r'add_header (Access-Control-[A-Za-z-]+) "([^"]*)";')
_POLICY = cors.preflight_headers() | cors.response_headers()


def _said(pattern: re.Pattern[str], text: str) -> dict[str, set[str]]:
    said: dict[str, set[str]] = {}
    for name, value in pattern.findall(text):
        said.setdefault(name, set()).add(value)
    return said


@pytest.mark.parametrize(
    ("path", "pattern", "preflight"),
    [
        ("varnish/scorecast.vcl", _VCL, True),
        ("varnish/deliver.vcl", _VCL, False),
        ("fastly/error.vcl", _VCL, True),
        ("fastly/compute/src/index.js", _JS, True),
    ],
)
def test_each_edge_configuration_says_what_the_policy_says(
    path: str, pattern: re.Pattern[str], preflight: bool
) -> None:
    said = _said(pattern, (EDGE / path).read_text())
    assert said, f"{path} sets no CORS header"
    for name, values in said.items():
        assert values == {_POLICY[name]}, (path, name)
    if preflight:
        assert set(cors.preflight_headers()) <= set(said), path


def test_the_stream_tier_preflights_say_what_the_policy_says() -> None:
    template = (EDGE / "nchan/nginx.conf").read_text()
    values: dict[str, object] = dict.fromkeys(re.findall(r"\{\{(\w+)\}\}", template), "x")
    values["cors_preflight"] = preflight_directives()
    text = render(values)
    blocks = re.findall(r"if \(\$request_method = OPTIONS\) \{(.*?)\}", text, flags=re.S)
    assert len(blocks) >= 3
    for block in blocks:
        said = _said(_NGINX, block)
        assert {name: value for name, (value,) in said.items()} == cors.preflight_headers()


async def test_the_origin_answers_with_the_policy_and_never_varies() -> None:
    app = create_app(OriginSettings(redis_url="redis://127.0.0.1:1/0"))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://origin") as client:
        headers = {"Origin": "https://fans.example", "Access-Control-Request-Method": "GET"}
        preflight = await client.options("/v1/scoreboard", headers=headers)
        plain = await client.get("/openapi.json", headers={"Origin": "https://other.example"})
    assert preflight.status_code == 204
    assert {k: preflight.headers[k] for k in cors.preflight_headers()} == cors.preflight_headers()
    assert {k: plain.headers[k] for k in cors.response_headers()} == cors.response_headers()
    # One cache object per resource: nothing the answer depends on comes from the request.
    assert "vary" not in preflight.headers
    assert "vary" not in plain.headers
