"""A local stand-in for the parts of Fastly's and Cloudflare's APIs that Scorecast calls.

Neither API can be reached from the test machines, so the official SDKs are pointed at this
server instead. It follows the vendors' API references:

- Fastly, "Purging" (``POST /service/{service_id}/purge``): ``Fastly-Key`` authentication,
  ``Fastly-Soft-Purge: 1``, up to 256 keys in ``{"surrogate_keys": [...]}`` (or a
  ``Surrogate-Key`` header), answered with a map of key → purge id; ``401`` with
  ``{"msg": ...}`` on a bad token; ``429`` with ``Fastly-RateLimit-Reset`` when rate-limited.
- Fastly, "Fanout: publish" (``POST /service/{service_id}/publish/``): ``{"items": [...]}``.
- Cloudflare, "Purge Cached Content" (``POST /client/v4/zones/{zone_id}/purge_cache``): bearer
  token, up to 100 ``tags``, the v4 envelope ``{"success", "errors", "messages", "result"}``,
  and ``429`` with ``Retry-After`` when over the plan's rate.

Tests script failures through the attributes (``rate_limit_for``, ``fail_next``) and read what
arrived (``fastly_calls``, ``cloudflare_calls``, ``published``).
"""

from __future__ import annotations

import math
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

FASTLY_MAX_KEYS = 256
CLOUDFLARE_MAX_TAGS = 100


@dataclass
class CdnStandIn:
    fastly_token: str
    fastly_service_id: str
    cloudflare_token: str
    cloudflare_zone_id: str
    fastly_calls: list[list[str]] = field(default_factory=list)
    soft: list[bool] = field(default_factory=list)
    published: list[dict[str, Any]] = field(default_factory=list)
    cloudflare_calls: list[list[str]] = field(default_factory=list)
    refused: int = 0
    _limited_until: float = 0.0
    _fail_next: int = 0

    def rate_limit_for(self, seconds: float) -> None:
        """Answer 429 to every purge for the next ``seconds``."""
        self._limited_until = time.time() + seconds

    def fail_next(self, calls: int) -> None:
        """Answer 503 to the next ``calls`` purges or publishes."""
        self._fail_next = calls

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/service/{service_id}/purge", self.fastly_purge, methods=["POST"]),
                Route("/service/{service_id}/publish/", self.fastly_publish, methods=["POST"]),
                Route(
                    "/client/v4/zones/{zone_id}/purge_cache",
                    self.cloudflare_purge,
                    methods=["POST"],
                ),
            ]
        )

    def _scripted_failure(self) -> str | None:
        if time.time() < self._limited_until:
            self.refused += 1
            return "limited"
        if self._fail_next > 0:
            self._fail_next -= 1
            self.refused += 1
            return "down"
        return None

    # -- Fastly --------------------------------------------------------------------------------

    def _fastly_auth(self, request: Request) -> Response | None:
        if request.headers.get("fastly-key") != self.fastly_token:
            return JSONResponse({"msg": "Provided credentials are missing or invalid"}, 401)
        if request.path_params["service_id"] != self.fastly_service_id:
            return JSONResponse({"msg": "Record not found", "detail": "Cannot find service"}, 404)
        return None

    async def fastly_purge(self, request: Request) -> Response:
        refused = self._fastly_auth(request)
        if refused is not None:
            return refused
        failure = self._scripted_failure()
        if failure == "limited":
            reset = math.ceil(self._limited_until)
            headers = {"Fastly-RateLimit-Remaining": "0", "Fastly-RateLimit-Reset": str(reset)}
            return JSONResponse({"msg": "Too many requests"}, 429, headers=headers)
        if failure == "down":
            return PlainTextResponse("Service Unavailable", 503)
        header = request.headers.get("surrogate-key")
        keys = header.split() if header else (await request.json()).get("surrogate_keys", [])
        if not keys or len(keys) > FASTLY_MAX_KEYS:
            return JSONResponse({"msg": f"between 1 and {FASTLY_MAX_KEYS} keys per request"}, 400)
        self.fastly_calls.append(list(keys))
        self.soft.append(request.headers.get("fastly-soft-purge") == "1")
        headers = {"Fastly-RateLimit-Remaining": "999"}
        return JSONResponse({key: uuid.uuid4().hex[:16] for key in keys}, headers=headers)

    async def fastly_publish(self, request: Request) -> Response:
        refused = self._fastly_auth(request)
        if refused is not None:
            return refused
        if self._scripted_failure() == "down":
            return PlainTextResponse("Service Unavailable", 503)
        body = await request.json()
        items = body.get("items")
        if not isinstance(items, list) or not items:
            return JSONResponse({"msg": "items must be a non-empty list"}, 400)
        self.published.extend(items)
        return PlainTextResponse("Published\n")

    # -- Cloudflare ----------------------------------------------------------------------------

    @staticmethod
    def _envelope(status: int, code: int, message: str, **headers: str) -> Response:
        body = {"success": False, "errors": [{"code": code, "message": message}], "messages": []}
        return JSONResponse(body, status, headers=headers or None)

    async def cloudflare_purge(self, request: Request) -> Response:
        if request.headers.get("authorization") != f"Bearer {self.cloudflare_token}":
            return self._envelope(403, 10000, "Authentication error")
        if request.path_params["zone_id"] != self.cloudflare_zone_id:
            return self._envelope(
                404, 7003, "Could not route to /zones, perhaps your object identifier is invalid?"
            )
        failure = self._scripted_failure()
        if failure == "limited":
            wait = max(1, math.ceil(self._limited_until - time.time()))
            return self._envelope(
                429, 971, "Please wait and consider throttling your request speed",
                **{"Retry-After": str(wait)},
            )  # fmt: skip
        if failure == "down":
            return self._envelope(503, 10013, "Service unavailable")
        tags = (await request.json()).get("tags", [])
        if not tags or len(tags) > CLOUDFLARE_MAX_TAGS:
            return self._envelope(400, 1070, f"Between 1 and {CLOUDFLARE_MAX_TAGS} tags allowed")
        self.cloudflare_calls.append(list(tags))
        return JSONResponse(
            {"success": True, "errors": [], "messages": [], "result": {"id": uuid.uuid4().hex}}
        )
