"""CORS for a public API that the edge caches: the same answer whatever the request's ``Origin``.

Starlette's ``CORSMiddleware`` adds ``Vary: Origin`` to every answer, even when any origin may
read it; a cache honouring that keeps one object per ``Origin`` value, so requests with made-up
origins each reach the origin (architecture invariant 9). Here every answer carries the policy's
headers (:mod:`core.cors`) and no ``Vary``, and a preflight is answered as the edges answer it.
"""

from __future__ import annotations

from starlette.datastructures import Headers, MutableHeaders
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from core import cors


class PublicCorsMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["method"] == "OPTIONS" and "access-control-request-method" in Headers(scope=scope):
            await Response(status_code=204, headers=cors.preflight_headers())(scope, receive, send)
            return

        async def send_with_policy(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in cors.response_headers().items():
                    headers[name] = value
            await send(message)

        await self.app(scope, receive, send_with_policy)
