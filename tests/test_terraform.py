"""The operators' Terraform, parsed and checked against the code (Terraform is not run here)."""

from __future__ import annotations

import json
import posixpath
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import hcl2
import pytest

from origin.app import create_app
from origin.caching import live_headers
from origin.routes import ENDPOINTS
from origin.settings import CachePolicy, OriginSettings
from tests.helpers import SPELLINGS

ROOT = Path(__file__).resolve().parents[1]
TERRAFORM = ROOT / "terraform"


def _load(path: Path) -> dict[str, Any]:
    with path.open() as handle:
        parsed: dict[str, Any] = _plain(hcl2.load(handle))
    return parsed


def _plain(value: Any) -> Any:
    """python-hcl2 keeps string quotes and block markers: drop them."""
    if isinstance(value, dict):
        # python-hcl2's own markers (__is_block__, __comments__) are not the file's content.
        return {_plain(k): _plain(v) for k, v in value.items() if not k.startswith("__")}
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
    content = snippets["scorecast_deliver"]["content"]
    files = [
        (TERRAFORM / "fastly" / found).resolve()
        for found in re.findall(r'file\("\$\{path\.module\}/([^"]+)"\)', content)
    ]
    varnish_dir = ROOT / "edge" / "varnish"
    assert files == [varnish_dir / "strip.vcl", varnish_dir / "deliver.vcl"]
    # Stripped only where the answer leaves Fastly for a fan, never on a shield's answer.
    assert content.startswith("if (fastly.ff.visits_this_service == 0) {")
    varnish_vcl = (varnish_dir / "scorecast.vcl").read_text()
    for file in files:
        assert f'include "{file.name}";' in varnish_vcl
    for name in ("scorecast_recv", "scorecast_fetch", "scorecast_error"):
        assert _file_argument(snippets[name]["content"], "fastly").is_file()


def test_the_edge_strips_every_header_the_origin_sends_for_it() -> None:
    deliver = (ROOT / "edge" / "varnish" / "strip.vcl").read_text()
    sent = live_headers(CachePolicy(), ["game-1"], 1)
    for header in sent:
        if header not in ("Cache-Control", "ETag"):  # those are for browsers
            assert f"unset resp.http.{header};" in deliver, header


def test_fastly_health_check_and_shield_point_at_the_origin(fastly: dict[str, Any]) -> None:
    backends = {backend["name"]: backend for backend in fastly["backend"]}
    backend = backends["origin"]
    (check,) = fastly["healthcheck"]
    assert backend["healthcheck"] == check["name"]
    assert backend["shield"] == "${var.shield_pop}"
    # The registration API is passed, never shielded; recv.vcl names the backend Fastly makes.
    assert set(backends) == {"origin", "devices"}
    assert "shield" not in backends["devices"]
    assert "set req.backend = F_devices;" in (ROOT / "edge" / "fastly" / "recv.vcl").read_text()
    paths = {route.path for route in create_app(OriginSettings()).routes}  # type: ignore[attr-defined]
    assert check["path"] in paths
    assert check["path"] == "/readyz"
    assert "product_enablement" not in fastly  # fanout is a Compute product, not a VCL one


def test_streams_are_a_compute_service_with_fanout_running_our_package() -> None:
    compute = _resource("fastly_service_compute", "streams", "fastly")
    assert compute["product_enablement"][0]["fanout"] is True
    (package,) = compute["package"]
    assert package["filename"] == "${data.fastly_package_hash.streams.filename}"
    assert package["source_code_hash"] == "${data.fastly_package_hash.streams.hash}"
    data = _load(TERRAFORM / "fastly" / "main.tf")["data"]
    (hashed,) = [block["fastly_package_hash"]["streams"] for block in data]
    built = (TERRAFORM / "fastly" / hashed["filename"].replace("${path.module}/", "")).resolve()
    assert built == ROOT / "edge" / "fastly" / "compute" / "pkg" / "scorecast-streams.tar.gz"
    (domain,) = compute["domain"]
    assert domain["name"] == "${var.stream_domain}"


def test_stream_paths_agree_between_edges() -> None:
    recv = (ROOT / "edge" / "fastly" / "recv.vcl").read_text()
    varnish = (ROOT / "edge" / "varnish" / "scorecast.vcl").read_text()
    pattern = "/v1/(games/[^/]+|scoreboard)/stream"
    assert pattern in recv
    assert "/v1/(games/[^/?]+|scoreboard)/stream" in varnish
    assert "after=" in recv
    assert "after=" in varnish
    # The same alphabet of paths on both edges: nothing encoded gets past either.
    assert "^/[A-Za-z0-9._/-]*" in recv
    assert "^/[A-Za-z0-9._/-]*" in varnish
    # OPTIONS is answered at the edge on both, never passed to the origin (405 there).
    assert 'req.method == "OPTIONS"' in recv
    assert 'req.method == "OPTIONS"' in varnish


def test_on_fastly_no_request_header_splits_the_cache_and_url_purges_need_a_token() -> None:
    """Fastly honours ``Vary`` and hashes the URL with the Host (one of the service's own
    domains): the delivery service drops what a client controls before the cache and any
    ``Vary`` after the fetch, and a URL purge needs an API token (Fastly's documented
    ``Fastly-Purge-Requires-Auth``); the stream service hands only streams and long-polls to
    Fanout, rate-limits connects by the address Fastly saw, and answers everything else 404."""
    recv = (ROOT / "edge" / "fastly" / "recv.vcl").read_text()
    fetch = (ROOT / "edge" / "fastly" / "fetch.vcl").read_text()
    for header in ("Cookie", "Authorization", "Origin"):
        assert f"unset req.http.{header};" in recv
    assert "set req.url = req.url.path;" in recv  # no query string makes a new object
    assert "unset beresp.http.Vary;" in fetch
    purge = recv.index('if (req.method == "FASTLYPURGE") {')
    assert 'set req.http.Fastly-Purge-Requires-Auth = "1";' in recv[purge : purge + 120]
    compute = (ROOT / "edge" / "fastly" / "compute" / "src" / "index.js").read_text()
    assert "checkRate(client, 1, 60, CONNECTS_PER_SECOND, PENALTY_MINUTES)" in compute
    assert "event.client.address" in compute
    handed = compute.index("createFanoutHandoff(request, BACKEND)")
    limited = compute.index("limiter.checkRate")
    assert limited < handed  # refused before Fanout asks the origin
    assert compute.rstrip().endswith(
        'return error(404, "not_found", "only streams and long-polls are served on this '
        'hostname");\n}'
    )


def _schema() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((ROOT / "tests" / "terraform_schema.json").read_text())
    return loaded


def _unknown(block: Any, schema: dict[str, Any], where: str) -> list[str]:
    """Every argument or block of ``block`` the provider's schema does not have."""
    found = []
    for key, value in block.items():
        if key not in schema:
            found.append(f"{where}.{key}")
            continue
        nested = schema[key]
        if isinstance(nested, dict):
            items = value if isinstance(value, list) else [value]
            for item in items:
                if not isinstance(item, dict):
                    found.append(f"{where}.{key} is a block, not an argument")
                    continue
                found += _unknown(item, nested, f"{where}.{key}")
        elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            found.append(f"{where}.{key} is an argument, not a block")
    return found


def _values(block: Any, prefix: str) -> list[tuple[str, Any]]:
    """(dotted path, literal value) for every argument in ``block``."""
    out = []
    for key, value in block.items():
        items = value if isinstance(value, list) and value and isinstance(value[0], dict) else None
        if items is not None:
            for item in items:
                out += _values(item, f"{prefix}.{key}")
        elif isinstance(value, dict):
            out += _values(value, f"{prefix}.{key}")
        else:
            out.append((f"{prefix}.{key}", value))
    return out


@pytest.mark.parametrize("folder", ["fastly", "cloudflare"])
def test_every_tf_uses_only_what_the_providers_accept(folder: str) -> None:
    """Held against facts read from the providers' own sources at the pinned versions (see the
    file's citations), not against our own assumptions."""
    schema = _schema()
    parsed = _load(TERRAFORM / folder / "main.tf")
    problems: list[str] = []
    for section, table in (("resource", "resources"), ("data", "data")):
        for block in parsed.get(section, []):
            for kind, instances in block.items():
                if kind not in schema[table]:
                    problems.append(f"{section} {kind} is not a type the provider has")
                    continue
                for name, body in instances.items():
                    problems += _unknown(body, schema[table][kind]["schema"], f"{kind}.{name}")
                    for path, value in _values(body, kind):
                        allowed = schema["values"].get(path)
                        literal = "${" not in str(value)
                        if allowed is not None and literal and value not in allowed:
                            problems.append(f"{path} = {value!r}: not one of {allowed}")
    assert problems == []


@pytest.mark.parametrize("folder", ["fastly", "cloudflare"])
def test_provider_pins_stay_within_the_checked_major(folder: str) -> None:
    schema = _schema()
    (providers,) = [
        block["required_providers"] for block in _load(TERRAFORM / folder / "main.tf")["terraform"]
    ]
    for pin in providers:
        for spec in pin.values():
            checked = schema["providers"][spec["source"]]
            found = re.fullmatch(r"~>\s*(\d+)\.(\d+)", spec["version"])
            assert found, f"{spec['source']} {spec['version']}: pin '~> MAJOR.MINOR'"
            assert int(found.group(1)) == checked["major"]


def test_the_schema_test_catches_what_the_providers_reject() -> None:
    """The check itself can fail: fanout on a VCL service (the old mistake), a misspelt
    argument, a snippet type Fastly does not have."""
    schema = _schema()["resources"]["fastly_service_vcl"]["schema"]
    assert _unknown({"product_enablement": [{"fanout": True}]}, schema, "vcl") == [
        "vcl.product_enablement.fanout"
    ]
    assert _unknown({"backend": [{"adress": "x"}]}, schema, "vcl") == ["vcl.backend.adress"]
    assert "deliver" in _schema()["values"]["fastly_service_vcl.snippet.type"]
    assert "vcl_deliver" not in _schema()["values"]["fastly_service_vcl.snippet.type"]


def _expanded(text: str, folder: str) -> str:
    """``text`` with the file's ``${local.NAME}`` references written out."""
    names: dict[str, str] = {}
    for block in _load(TERRAFORM / folder / "main.tf").get("locals", []):
        names.update(block)
    while (found := re.search(r"\$\{local\.(\w+)\}", text)) is not None:
        text = text.replace(found.group(0), names[found.group(1)])
    return text


def test_cloudflare_rules_respect_the_origin(cloudflare: dict[str, Any]) -> None:
    assert cloudflare["phase"] == "http_request_cache_settings"
    for rule in cloudflare["rules"]:
        rule["expression"] = _expanded(rule["expression"], "cloudflare")
    rules = {rule["ref"]: rule for rule in cloudflare["rules"]}
    api = rules["scorecast_api"]["action_parameters"][0]
    assert api["cache"] is True
    assert api["respect_strong_etags"] is True
    assert api["edge_ttl"][0]["mode"] == "respect_origin"  # from our CDN-Cache-Control
    assert api["serve_stale"][0]["disable_stale_while_updating"] is False
    # One cache object per resource: no query string in the key.
    assert api["cache_key"][0]["custom_key"][0]["query_string"][0]["exclude"] == ["*"]
    # Every path the origin serves from its route table is covered by the cacheable rule.
    for endpoint in ENDPOINTS:
        prefix = "/" + endpoint.path.strip("/").split("/")[0] + "/"
        if endpoint.path in ("/", "/sw.js"):  # the paths that are no prefix
            assert (
                f'http.request.uri.path eq "{endpoint.path}"'
                in rules["scorecast_api"]["expression"]
            )
        elif prefix not in ("/healthz/", "/readyz/"):  # the origin's own probes
            assert f'"{prefix}"' in rules["scorecast_api"]["expression"], endpoint.path
    streams = rules["scorecast_streams"]
    assert streams["action_parameters"][0]["cache"] is False
    assert "/stream" in streams["expression"]
    assert '== "after"' in streams["expression"]
    assert 'starts_with(http.request.uri.path, "/v1/games/")' in streams["expression"]
    # Cloudflare holds no streams: the same connections go to the self-hosted push tier.
    origin = _resource("cloudflare_ruleset", "scorecast_origin", "cloudflare")
    assert origin["phase"] == "http_request_origin"
    routes = {rule["ref"]: rule for rule in origin["rules"]}
    route = routes["scorecast_push_tier"]
    assert route["action"] == "route"
    assert _expanded(route["expression"], "cloudflare") == streams["expression"]
    assert route["action_parameters"][0]["origin"][0]["host"] == "${var.push_host}"
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


def _cloudflare_matches(expression: str, path: str, args: tuple[str, ...] = ()) -> bool:
    """Evaluate one of our Cloudflare expressions for a request to ``var.domain`` (only the
    few functions and fields our rules use; anything else fails the translation)."""
    text = _expanded(expression, "cloudflare")
    text = re.sub(r'http\.host eq "\$\{var\.domain\}"', "True", text)
    text = re.sub(
        r'any\(http\.request\.uri\.args\.names\[\*\] == "([^"]+)"\)', r'("\1" in args)', text
    )
    text = re.sub(
        r'starts_with\(http\.request\.uri\.path, ("[^"]*")\)', r"path.startswith(\1)", text
    )
    text = re.sub(r'ends_with\(http\.request\.uri\.path, ("[^"]*")\)', r"path.endswith(\1)", text)
    text = re.sub(r'http\.request\.uri\.path contains ("[^"]*")', r"(\1 in path)", text)
    text = re.sub(r'http\.request\.uri\.path eq ("[^"]*")', r"(path == \1)", text)
    text = re.sub(
        r"http\.request\.uri\.path in \{([^}]*)\}",
        lambda m: "path in (" + ", ".join(m.group(1).split()) + ",)",
        text,
    )
    assert "http." not in text, text  # a field the translation does not know
    return bool(eval(text, {}, {"path": path, "args": args}))  # our own rules, translated


def _normalized(target: str) -> str:
    """The path Cloudflare's rules see with its default URL normalization: unreserved
    characters decoded, dot segments removed, successive slashes merged (RFC 3986 §6)."""
    path = urlsplit(target).path if "://" in target else target.split("?")[0]
    path = re.sub(
        r"%([0-9A-Fa-f]{2})",
        lambda m: (
            chr(int(m.group(1), 16))
            if re.fullmatch(r"[A-Za-z0-9._~-]", chr(int(m.group(1), 16)))
            else m.group(0)
        ),
        path,
    )
    path = re.sub(r"/{2,}", "/", path)
    return posixpath.normpath(path) if path not in ("", "/") else "/"


def _cloudflare_rule(resource: str, ref: str) -> dict[str, Any]:
    rules = _resource("cloudflare_ruleset", resource, "cloudflare")["rules"]
    (rule,) = [rule for rule in rules if rule["ref"] == ref]
    return dict(rule)


@pytest.mark.parametrize("target", ["/metrics", *SPELLINGS, "/.holder/stream/g1", "/else"])
def test_behind_cloudflare_no_private_path_reaches_anything(target: str) -> None:
    """Every spelling the edge tests use, as Cloudflare sees it normalized or not: refused with
    the JSON 404 before any origin or tier is asked, unless it is one of the public paths."""
    block = _cloudflare_rule("scorecast_firewall", "scorecast_public_only")
    assert block["action"] == "block"
    assert block["action_parameters"][0]["response"][0]["status_code"] == 404
    for path in {_normalized(target), target.split("?")[0]}:
        if path.startswith("/v1/"):  # reaches the origin's router, which has no such route
            assert not any(e.path.endswith("metrics") for e in ENDPOINTS)
        else:
            assert _cloudflare_matches(block["expression"], path), path
    # The public paths themselves pass.
    for public in (
        "/v1/games/g1",
        "/v1/games/g1/stream",
        "/live/g1",
        "/openapi.json",
        "/readyz",
        "/",
        "/games/g1",
        "/day/2026-04-12",
        "/leagues/nba/standings",
        "/site/0a1b2c3d/site.css",
    ):
        assert not _cloudflare_matches(block["expression"], public), public


def test_behind_cloudflare_stream_connects_and_pushes_are_rate_limited() -> None:
    """Within what every paying plan accepts (Cloudflare's rate-limiting availability table:
    counting period and mitigation timeout 10 s on every plan; characteristics cf.colo.id
    (mandatory) and ip.src; two rules need Pro or above)."""
    limits = _resource("cloudflare_ruleset", "scorecast_rate_limits", "cloudflare")
    assert limits["phase"] == "http_ratelimit"
    rules = {rule["ref"]: rule for rule in limits["rules"]}
    assert len(rules) <= 2  # Pro's number of rate-limiting rules
    for rule in rules.values():
        (limit,) = rule["ratelimit"]
        assert limit["characteristics"] == ["cf.colo.id", "ip.src"]
        assert limit["period"] == 10
        assert limit["mitigation_timeout"] == 10
        assert rule["action_parameters"][0]["response"][0]["status_code"] == 429
    connects = rules["scorecast_stream_connects"]["expression"]
    assert _cloudflare_matches(connects, "/v1/games/g1/stream")
    assert _cloudflare_matches(connects, "/v1/scoreboard/stream")
    assert _cloudflare_matches(connects, "/v1/games/g1", ("after",))
    assert not _cloudflare_matches(connects, "/v1/games/g1")
    pushes = rules["scorecast_ingest_pushes"]["expression"]
    assert _cloudflare_matches(pushes, "/v1/ingest/auto")
    assert not _cloudflare_matches(pushes, "/v1/games/g1")
    # Pushes reach the webhook, and are never treated as a cacheable read.
    ingest = _cloudflare_rule("scorecast_origin", "scorecast_ingest")
    assert ingest["action_parameters"][0]["origin"][0]["host"] == "${var.ingest_host}"
    api = _cloudflare_rule("scorecast_cache", "scorecast_api")
    assert not _cloudflare_matches(api["expression"], "/v1/ingest/auto")
    assert _cloudflare_matches(api["expression"], "/v1/games/g1")


def test_on_fastly_a_stream_asked_at_the_public_hostname_is_redirected_to_fanout(
    fastly: dict[str, Any],
) -> None:
    """The delivery service cannot hold a stream: it answers 307 to the Compute service's
    hostname (with the query, so a long-poll's ?after= goes along), as the self-hosted edge
    redirects to its stream tier; the hostname is written into the snippet by Terraform."""
    snippets = {s["name"]: s for s in fastly["snippet"]}
    content = snippets["scorecast_error"]["content"]
    assert "__SCORECAST_STREAM_DOMAIN__" in content
    assert "var.stream_domain" in content
    error = _file_argument(content, "fastly").read_text()
    assert 'set obj.http.Location = "https://__SCORECAST_STREAM_DOMAIN__" req.url;' in error
    assert error.count("__SCORECAST_STREAM_DOMAIN__") == 1
    redirect = error[error.index("if (obj.status == 608)") :]
    assert "set obj.status = 307;" in redirect.split("return(deliver);")[0]
    recv = _file_argument(snippets["scorecast_recv"]["content"], "fastly").read_text()
    held = recv[recv.index("Held connections") :]
    assert 'error 608 "held at the stream hostname";' in held
    # Before the query is dropped for the cache key: the redirect keeps ?after=.
    assert held.index("error 608") < held.index("set req.url = req.url.path;")
    # The stream hostname holds what it is sent: the Compute program hands it to Fanout.
    compute = (ROOT / "edge" / "fastly" / "compute" / "src" / "index.js").read_text()
    assert "createFanoutHandoff(request" in compute


@pytest.mark.parametrize("target", ["/metrics", *SPELLINGS])
def test_on_fastly_no_spelling_of_a_private_path_passes_the_delivery_rules(target: str) -> None:
    """The delivery service's own checks (edge/fastly/recv.vcl, its regular expressions read
    from the file and applied to the path Fastly's ``req.url.path`` holds, still encoded):
    each spelling is refused before the cache or the origin is asked."""
    recv = (ROOT / "edge" / "fastly" / "recv.vcl").read_text()
    allowed, dotted = re.search(
        r'req\.url\.path !~ "([^"]+)" \|\| req\.url\.path ~ "([^"]+)"', recv
    ).groups()  # type: ignore[union-attr]
    private = re.search(r'req\.url\.path ~ "(\^/metrics)"', recv).group(1)  # type: ignore[union-attr]
    path = target.split("?")[0]
    refused = not re.search(allowed, path) or re.search(dotted, path) or re.search(private, path)
    assert refused, target
    # And the public paths pass.
    for public in ("/v1/games/g1", "/v1/games/g1/stream", "/live/g1"):
        assert re.search(allowed, public)
        assert not re.search(dotted, public)
        assert not re.search(private, public)


def test_on_cloudflare_held_connections_are_routed_to_the_push_tier() -> None:
    route = _cloudflare_rule("scorecast_origin", "scorecast_push_tier")
    assert _cloudflare_matches(route["expression"], "/v1/games/g1/stream")
    assert _cloudflare_matches(route["expression"], "/v1/scoreboard/stream")
    assert _cloudflare_matches(route["expression"], "/v1/games/g1", ("after",))
    assert not _cloudflare_matches(route["expression"], "/v1/games/g1")
    assert not _cloudflare_matches(route["expression"], "/v1/games/g1/versions/3", ("after",))


def test_behind_cloudflare_device_registrations_reach_their_api_uncached() -> None:
    """``/v1/devices`` goes to the registration API, is never cached and is not refused as a
    private path; nothing else goes there."""
    route = _cloudflare_rule("scorecast_origin", "scorecast_devices")
    assert route["action_parameters"][0]["origin"][0]["port"] == "${var.devices_port}"
    cached = _cloudflare_rule("scorecast_cache", "scorecast_api")["expression"]
    refused = _cloudflare_rule("scorecast_firewall", "scorecast_public_only")["expression"]
    for path in ("/v1/devices", "/v1/devices/key", "/v1/devices/0a1b/follows"):
        assert _cloudflare_matches(route["expression"], path), path
        assert not _cloudflare_matches(cached, path), path
        assert not _cloudflare_matches(refused, path), path
    for path in ("/v1/devicesx", "/v1/games/g1", "/sw.js"):
        assert not _cloudflare_matches(route["expression"], path), path
    assert _cloudflare_matches(cached, "/sw.js")
