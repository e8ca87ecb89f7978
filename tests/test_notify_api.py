"""The registration API against real Redis: devices register, follow games and teams with the
credential they were given, and every bad request gets a clear JSON answer, never cached."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from core.reducer import versions
from core.store import SnapshotWriter
from local.process import free_port
from local.standins.webpush import Browser
from notifier.api import create_app
from notifier.settings import DevicesSettings
from tests.conftest import ThreadedServer
from tests.factories import short_game

pytestmark = pytest.mark.stack

TOKEN = "a1" * 32


@pytest.fixture
def devices(redis_service: str, prefix: str) -> Iterator[str]:
    settings = DevicesSettings(
        redis_url=redis_service,
        redis_prefix=prefix,
        port=free_port(),
        max_follows=3,
        push_hosts=["push.example"],
    )
    with ThreadedServer(create_app(settings), settings.port) as server:
        yield server.url


def _web() -> dict[str, object]:
    return {
        "platform": "web",
        "subscription": {"endpoint": "https://push.example/s/1", "keys": Browser.new().keys()},
    }


async def _game(store: SnapshotWriter, game_id: str = "g1") -> None:
    await store.write(versions(None, short_game(game_id)).versions[0])


async def test_a_device_registers_follows_and_leaves(devices: str, store: SnapshotWriter) -> None:
    await _game(store)
    async with httpx.AsyncClient(base_url=devices) as http:
        made = await http.post("/v1/devices", json={"device": _web()})
        assert made.status_code == 201, made.text
        assert made.headers["cache-control"] == "no-store"
        body = made.json()
        device, secret = body["device_id"], body["secret"]
        assert (body["games"], body["teams"]) == ([], [])
        auth = {"Authorization": f"Bearer {secret}"}
        url = f"/v1/devices/{device}/follows"
        followed = await http.put(url, json={"games": ["g1", "g1"], "teams": []}, headers=auth)
        assert followed.status_code == 200, followed.text
        assert followed.json() == {"games": ["g1"], "teams": []}
        assert (await http.get(url, headers=auth)).json() == {"games": ["g1"], "teams": []}
        apns = await http.post("/v1/devices", json={"device": {"platform": "apns", "token": TOKEN}})
        assert apns.status_code == 201
        assert (await http.delete(f"/v1/devices/{device}", headers=auth)).status_code == 204
        gone = await http.get(url, headers=auth)
        assert (gone.status_code, gone.json()["error"]["code"]) == (404, "unknown_device")


async def test_bad_requests_get_clear_answers(devices: str, store: SnapshotWriter) -> None:
    await _game(store)
    async with httpx.AsyncClient(base_url=devices) as http:

        async def refused(response: httpx.Response) -> tuple[int, str]:
            assert response.headers["cache-control"] == "no-store"
            return response.status_code, response.json()["error"]["code"]

        post = http.post
        assert await refused(await post("/v1/devices", content=b"{")) == (400, "not_json")
        assert await refused(await post("/v1/devices", json={})) == (422, "invalid")
        junk = {"device": {"platform": "apns", "token": "not hex"}}
        assert await refused(await post("/v1/devices", json=junk)) == (422, "invalid")
        http_push = _web()
        http_push["subscription"]["endpoint"] = "http://push.example/s/1"  # type: ignore[index]
        assert await refused(await post("/v1/devices", json={"device": http_push})) == (
            422,
            "invalid",
        )
        for endpoint in ("https://push.example:99999/s/1", "https://push.example"):
            broken = _web()
            broken["subscription"]["endpoint"] = endpoint  # type: ignore[index]
            answer = await post("/v1/devices", json={"device": broken})
            assert await refused(answer) == (422, "invalid"), endpoint
        elsewhere = _web()
        elsewhere["subscription"]["endpoint"] = "https://internal.example/admin"  # type: ignore[index]
        assert await refused(await post("/v1/devices", json={"device": elsewhere})) == (
            422,
            "invalid",
        )
        huge = b'{"device": "' + b"x" * 20_000 + b'"}'
        assert await refused(await post("/v1/devices", content=huge)) == (413, "too_large")
        made = (await post("/v1/devices", json={"device": _web()})).json()
        url = f"/v1/devices/{made['device_id']}/follows"
        auth = {"Authorization": f"Bearer {made['secret']}"}
        wrong = {"Authorization": "Bearer " + "x" * 43}
        assert await refused(await http.get(url)) == (401, "unauthorized")
        assert await refused(await http.get(url, headers=wrong)) == (401, "unauthorized")
        other = "/v1/devices/" + "0" * 32 + "/follows"
        assert await refused(await http.get(other, headers=auth)) == (404, "unknown_device")
        assert await refused(await http.get("/v1/devices/x%0A/follows", headers=auth)) == (
            404,
            "unknown_device",
        )
        put = http.put
        assert await refused(await put(url, json={"games": ["nope"]}, headers=auth)) == (
            404,
            "unknown_game",
        )
        assert await refused(await put(url, json={"teams": ["nba/XYZ"]}, headers=auth)) == (
            404,
            "unknown_team",
        )
        assert await refused(await put(url, json={"teams": ["NBA"]}, headers=auth)) == (
            422,
            "invalid",
        )
        four = {"games": ["g1", "g2", "g3", "g4"]}
        assert await refused(await put(url, json=four, headers=auth)) == (422, "too_many")
        assert await refused(await put(url, json={"game": ["g1"]}, headers=auth)) == (
            422,
            "invalid",
        )
        # Nothing refused changed anything.
        assert (await http.get(url, headers=auth)).json() == {"games": [], "teams": []}


def test_a_browser_gets_the_key_it_subscribes_with(redis_service: str, prefix: str) -> None:
    key = "B" + "A" * 86  # the shape of a base64url uncompressed P-256 point
    for configured, expected in (("", 404), (key, 200)):
        settings = DevicesSettings(
            redis_url=redis_service,
            redis_prefix=prefix,
            port=free_port(),
            vapid_public_key=configured,
        )
        with ThreadedServer(create_app(settings), settings.port) as server:
            answer = httpx.get(f"{server.url}/v1/devices/key")
        assert answer.status_code == expected
        assert answer.headers["cache-control"] == "no-store"
        if expected == 200:
            assert answer.json() == {"public_key": key}
