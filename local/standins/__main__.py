"""``python -m local.standins CONFIG``: APNs, FCM and a Web Push service in one process, each on
its own TLS port, for the local stack and the notify benchmark; what each took on a plain HTTP
``/stats`` port.

CONFIG (JSON): ``cert``, ``key``, ``stats_port``; ``apns`` {``port``, ``team_id``, ``key_id``,
``public_key``, ``topic``, ``unregistered``}; ``fcm`` {``port`` (messages, HTTP/2),
``token_port`` (the OAuth endpoint, HTTP/1.1), ``project_id``, ``client_email``,
``public_key``, ``unregistered``, ``final``, ``per_minute``}; ``webpush``
{``port``, ``subscriptions``, ``gone``, ``out``}: it makes that many browser subscriptions and
writes them (``PushSubscription.toJSON()`` each, by id) to ``out``."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import uvicorn
import uvloop
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from local.standins.apns import ApnsStandIn, serve
from local.standins.fcm import FcmStandIn
from local.standins.http2 import serve as serve_http2
from local.standins.webpush import PushService


def _server(app: Starlette, port: int, tls: tuple[str, str] | None) -> uvicorn.Server:
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        access_log=False,
        ssl_certfile=tls[0] if tls else None,
        ssl_keyfile=tls[1] if tls else None,
    )
    return uvicorn.Server(config)


async def main(config: dict[str, Any]) -> None:
    tls = (str(config["cert"]), str(config["key"]))
    apns_config, fcm_config, web_config = config["apns"], config["fcm"], config["webpush"]
    apns = ApnsStandIn(
        apns_config["team_id"],
        apns_config["key_id"],
        apns_config["public_key"],
        apns_config["topic"],
        unregistered=set(apns_config.get("unregistered", [])),
        accept_any=True,
    )
    fcm = FcmStandIn(
        fcm_config["project_id"],
        fcm_config["client_email"],
        fcm_config["public_key"],
        unregistered=set(fcm_config.get("unregistered", [])),
        final=set(fcm_config.get("final", [])),
        per_minute=int(fcm_config.get("per_minute", 600_000)),
        accept_any=True,
    )
    web = PushService(gone=set(web_config.get("gone", [])))
    base = f"https://127.0.0.1:{web_config['port']}"
    made = {
        f"web{index}": web.subscribe(base, f"web{index}")
        for index in range(int(web_config.get("subscriptions", 0)))
    }
    await asyncio.to_thread(Path(web_config["out"]).write_text, json.dumps(made))

    async def stats(request: Request) -> Response:
        return JSONResponse(
            {
                "apns": apns.tally.summary(),
                "fcm": fcm.tally.summary(),
                "webpush": web.tally.summary(),
                "refused": {
                    "apns": len(apns.refused),
                    "fcm": len(fcm.refused),
                    "webpush": len(web.refused),
                },
            }
        )

    cert, key = Path(tls[0]), Path(tls[1])
    listening = [
        await serve(apns, "127.0.0.1", int(apns_config["port"]), cert, key),
        await serve_http2(fcm.handle, "127.0.0.1", int(fcm_config["port"]), cert, key),
        await serve_http2(web.handle, "127.0.0.1", int(web_config["port"]), cert, key),
    ]
    servers = [
        _server(fcm.app, int(fcm_config["token_port"]), tls),
        _server(Starlette(routes=[Route("/stats", stats)]), int(config["stats_port"]), None),
    ]
    try:
        await asyncio.gather(*(server.serve() for server in servers))
    finally:
        for server in listening:
            server.close()


if __name__ == "__main__":
    uvloop.install()
    asyncio.run(main(json.loads(Path(sys.argv[1]).read_text())))
